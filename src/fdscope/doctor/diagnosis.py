"""The doctor's run: :func:`diagnose` and the :class:`Diagnosis` it returns.

:func:`diagnose` runs the handler in the local Lambda (:class:`LocalLambda`)
with origins tracking and the in-function monitor on, for as many invocations
as it needs to decide (or exactly ``n``), then, when the count grew or fell in
a saw-tooth, a second, shorter run with ``gc.collect()`` after every
invocation: what a collection removes is a reference cycle, not a leak. The
decision is :mod:`fdscope.doctor.decision`'s, the culprits
:mod:`fdscope.doctor.culprits`', the fix :mod:`fdscope.doctor.advice`'s.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from fdscope.doctor.advice import advice, failure_text, lint_findings
from fdscope.doctor.culprits import Culprit, culprits_from, kind_growth, loop_holders
from fdscope.doctor.decision import (
    BUDGET_S,
    EXIT_CODES,
    FAILED,
    MAX_INVOCATIONS,
    MIB,
    MIN_INVOCATIONS,
    THREAD_LIMIT,
    at_limit,
    confidence,
    decide,
    enough,
    first_near_limit,
    latency_climb,
    memory_leak,
    memory_mb,
    memory_trend,
    out_of_memory,
    process_counts,
    processes_leak,
    rising_floors,
    segment,
    short_run_confidence,
    short_run_rise,
    thread_trend,
    threads_leak,
)
from fdscope.doctor.evidence import new_connections, read_jsonl
from fdscope.errors import DoctorError
from fdscope.local import EnvironmentRecord, LocalLambda, Sample
from fdscope.trend import Trend, analyze


@dataclass(frozen=True)
class Diagnosis:
    """What the doctor found; :meth:`summary` is ``summary.json``."""

    verdict: str
    exit_code: int
    rate_per_invocation: float  # descriptors per invocation (robust trend)
    confidence: float  # 0..1, see the README ("Confidence")
    peak: int | None
    limit: int
    invocations: int
    invocations_to_limit: int | None  # from the last invocation; 0 when reached
    projected: bool  # the limit was projected, not reached in the run
    emfile: int  # invocations with evidence that an open failed (EMFILE; never a count alone)
    emfile_at: int | None  # the first such invocation
    timeouts: int
    crashes: int
    errors: int
    cold_starts: int
    latency_climb: bool
    duration_p50_ms: float | None
    duration_p99_ms: float | None
    new_connections_per_invocation: float | None
    threads_per_invocation: float
    threads_only: bool  # the leak is threads, not descriptors (Lambda caps threads at 1,024)
    shape: str  # the trend's shape of the first environment
    gc_check: dict[str, Any] | None  # the run with a collection after each invocation
    kinds: dict[str, int]  # growth per descriptor kind over the first environment
    culprits: tuple[Culprit, ...]
    per_invocation_init: tuple[str, ...]  # static findings: construction that costs time
    static_findings: tuple[str, ...]  # fdscope lint on the handler's module, for a leak
    advice: str
    out_dir: Path
    notes: tuple[str, ...] = field(default_factory=tuple)
    # every execution environment started (both runs): what cleanup is checked against
    environments: tuple[EnvironmentRecord, ...] = field(default_factory=tuple)
    # the leak is child processes that pile up, not one process's descriptors
    processes_only: bool = False
    # the first invocation within the margin of the limit before any EMFILE: a warning
    # ({"invocation", "count", "limit", "projected_at"}), None when there was none
    near_limit: dict[str, Any] | None = None
    # run.json's run id: summary.json carries it (it belongs to that run and no other)
    run_id: str | None = None
    # memory: the function's memory size and the environment's resident memory (docs/formats.md)
    memory: dict[str, Any] = field(default_factory=dict)
    # which limit the leak meets first: "descriptors", "memory", "threads", or None
    first_limit: str | None = None
    # wall time of the doctor's runs; the function's own timeouts apart (not in the budget)
    timing: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The ``fdscope.summary/1`` document."""
        d = asdict(self)
        d.pop("environments")
        d["out_dir"] = str(self.out_dir)
        d["culprits"] = [asdict(c) | {"chain": list(c.chain)} for c in self.culprits]
        d["limit"] = self.limit
        return {"schema": "fdscope.summary/1", **d}


@dataclass
class _Clock:
    """The time budget of one doctor run: work counts, the function's own timeouts do not."""

    budget_s: float
    reproduce: bool = False
    started: float = field(default_factory=time.monotonic)
    timeout_wait_s: float = 0.0  # waiting for the function's own timeout
    paces: list[float] = field(default_factory=list)  # seconds per invocation, recent

    def work_s(self) -> float:
        return time.monotonic() - self.started - self.timeout_wait_s

    def tick(self, s: Sample, seconds: float) -> None:
        if s.status == "timeout":
            self.timeout_wait_s += min(seconds, s.duration_ms / 1000)
            seconds -= min(seconds, s.duration_ms / 1000)
        self.paces = [*self.paces[-19:], seconds]

    def state(self) -> dict[str, float]:
        pace = sum(self.paces) / len(self.paces) if self.paces else 0.0
        # the collection run after this one (about 40 invocations) is kept out of the budget
        left = self.budget_s - self.work_s() - 40 * pace
        return {"left": left, "pace": 1.25 * pace, "reproduce": float(self.reproduce)}


def _invoke_until(
    fn: LocalLambda,
    event: Any,
    *,
    n: int | None,
    max_n: int,
    max_seconds: float,
    progress: Callable[[Sample], None] | None,
    clock: _Clock | None = None,
) -> list[Sample]:
    samples: list[Sample] = []
    t0 = time.monotonic()
    clock = clock or _Clock(budget_s=max_seconds)
    while True:
        before = time.monotonic()
        s = fn.invoke(event)
        clock.tick(s, time.monotonic() - before)
        samples.append(s)
        if progress is not None:
            progress(s)
        if n is not None:
            if len(samples) >= n:
                return samples
        elif (
            enough(samples, fn.fd_limit, max_n, size_mb=fn.memory_mb, time=clock.state())
            or time.monotonic() - t0 - clock.timeout_wait_s > max_seconds
        ):
            return samples


def diagnose(
    handler: str,
    *,
    out_dir: Path,
    n: int | None = None,
    event: Any = None,
    max_invocations: int = MAX_INVOCATIONS,
    max_seconds: float = 300.0,
    gc_check: bool = True,
    progress: Callable[[str, Sample], None] | None = None,
    budget_s: float = BUDGET_S,
    reproduce: bool = False,
    **options: Any,
) -> Diagnosis:
    """Run ``handler`` in the local Lambda until the verdict is clear; return the Diagnosis.

    ``n`` fixes the number of invocations (else adaptive, at most
    ``max_invocations`` and about ``max_seconds``; a limit is reproduced when it is
    reachable within ``budget_s`` seconds of work, always with ``reproduce``, else
    projected); ``options`` are
    :class:`LocalLambda`'s (``fd_limit``, ``timeout_s``, ``env``, ...).
    Writes ``summary.json`` and ``fd_use.png`` into ``out_dir`` next to the
    run's own files, and the collection run into ``out_dir/gc``. Raises
    DoctorError when the environment cannot start at all.
    """
    out_dir = Path(out_dir)
    for reserved in ("track_origins", "monitor", "gc_between"):
        options.pop(reserved, None)
    # the outside sample counts descriptors only (a full snapshot per invocation costs
    # tens of ms); the kinds and sites come from the origins reports sent from inside
    options.setdefault("sample", "count")
    # an origins report lists every handle: every 10th invocation is enough for the
    # culprits (reports near the limit are always sent)
    env = {"FDSCOPE_REPORT_EVERY": "10", **dict(options.pop("env", None) or {})}
    # run_lock: out_dir's lock, held by the caller through write_outputs (the CLI)
    run_lock = options.pop("run_lock", None)
    fn = LocalLambda(
        handler,
        out_dir=out_dir,
        track_origins=True,
        monitor=True,
        env=env,
        run_lock=run_lock,
        **options,
    )
    limit = fn.fd_limit
    code_root = fn.handler.code_root
    clock = _Clock(budget_s=budget_s, reproduce=reproduce)
    with fn:
        samples = _invoke_until(
            fn,
            event,
            n=n,
            max_n=max_invocations,
            max_seconds=max_seconds,
            progress=(lambda s: progress("run", s)) if progress else None,
            clock=clock,
        )
    if not samples:
        raise DoctorError("no invocation ran")
    size_mb = fn.memory_mb
    first = decide(samples, limit=limit, size_mb=size_mb)
    gc_samples: list[Sample] | None = None
    if (
        gc_check
        and first[0] in ("leak", "gc-bound", "bounded")
        and first[1].shape
        in (
            "growing",
            "sawtooth",
        )
    ):
        seg = segment(samples)
        rate = max(first[1].rate, 0.05)
        n_gc = min(len(seg), max(MIN_INVOCATIONS, math.ceil(16 / max(rate, 0.1))), 160)
        gc_fn = LocalLambda(handler, out_dir=out_dir / "gc", gc_between=True, env=env, **options)
        with gc_fn:
            gc_samples = _invoke_until(
                gc_fn,
                event,
                n=n_gc,
                max_n=n_gc,
                max_seconds=max_seconds,
                progress=(lambda s: progress("gc", s)) if progress else None,
                clock=clock,
            )
    verdict, t, gc = decide(samples, limit=limit, gc_samples=gc_samples, size_mb=size_mb)
    language = fn.runtime.language
    if gc is not None:
        gc["collection"] = "gc()" if language == "nodejs" else "gc.collect()"
    history = tuple(fn.history) + (tuple(gc_fn.history) if gc_samples is not None else ())
    d = _diagnosis(
        verdict,
        t,
        gc,
        samples,
        limit=limit,
        out_dir=out_dir,
        code_root=code_root,
        handler_file=_handler_file(fn),
        language=language,
    )
    d = with_memory(d, samples, size_mb, language=language)
    timing = {
        "wall_s": round(time.monotonic() - clock.started, 3),
        "timeout_wait_s": round(clock.timeout_wait_s, 3),
        "work_s": round(clock.work_s(), 3),
        "budget_s": budget_s,
        "reproduce": reproduce,
    }
    if d.projected and n is None and not reproduce and d.verdict == "leak":
        d = replace(d, notes=(*d.notes, _budget_note(d, clock)))
    enforced = _memory_enforced(out_dir)
    memory = {**d.memory, "enforced": enforced} if d.memory else d.memory
    return replace(d, environments=history, run_id=fn.run_id, timing=timing, memory=memory)


def with_memory(
    d: Diagnosis, samples: Sequence[Sample], size_mb: int | None, *, language: str = "python"
) -> Diagnosis:
    """The Diagnosis with memory: ``memory``, ``first_limit``, and for a leak of memory
    alone its projection, confidence, notes and fix."""
    seg = segment(samples)
    every = memory_mb(samples)
    ooms = [s for s in samples if out_of_memory(s)]
    mt = memory_trend(seg)
    leak = memory_leak(seg, size_mb)
    to_memory = 0 if ooms else (leak.invocations_to_limit(size_mb) if leak and size_mb else None)
    memory: dict[str, Any] = {
        "memory_mb": size_mb,
        "peak_mb": round(max(every), 1) if every else None,
        "rate_bytes_per_invocation": round(mt.rate * MIB) if mt.points >= 2 else None,
        "shape": mt.shape,
        "leaking": bool(ooms) or leak is not None,
        "invocations_to_limit": to_memory,
        "out_of_memory": len(ooms),
        "out_of_memory_at": ooms[0].invocation if ooms else None,
        "sites": None,  # allocation sites: not attributed (tracemalloc's cost, docs/doctor.md)
    }
    # where each limit is met (an invocation number), reached or projected
    at: dict[str, int] = {}
    if d.emfile_at is not None:
        at["descriptors"] = d.emfile_at
    elif d.verdict == "leak" and d.invocations_to_limit is not None:
        key = "threads" if d.threads_only or d.processes_only else "descriptors"
        at[key] = d.invocations + d.invocations_to_limit
    if ooms:
        at["memory"] = ooms[0].invocation
    elif to_memory is not None:
        at["memory"] = d.invocations + to_memory
    first = min(at, key=lambda k: at[k]) if at else None
    notes = list(d.notes)
    changes: dict[str, Any] = {"memory": memory, "first_limit": first}
    if memory["leaking"] and size_mb:
        notes.append(_memory_note(memory, mt, every, ooms, samples))
        if "memory" in at and len(at) > 1:
            other = next(k for k in at if k != "memory")
            firsts = {"descriptors": "descriptor", "threads": "thread"}.get(str(first), "memory")
            notes.append(
                f"The {firsts} limit comes first: out of memory at invocation ~{at['memory']:,}, "
                f"{'EMFILE' if other == 'descriptors' else 'the thread limit'} at "
                f"~{at[other]:,}."
            )
        if d.verdict == "leak" and len(at) == 1:  # memory alone: its figures are the verdict's
            changes.update(  # invocations_to_limit stays the descriptors' (None here)
                projected=not ooms,
                confidence=0.95 if ooms else round(leak.confidence if leak else 0.5, 3),
                advice=_memory_advice(memory, language),
            )
    changes["notes"] = tuple(notes)
    return replace(d, **changes)


def _memory_note(
    memory: dict[str, Any],
    mt: Trend,
    every: Sequence[float],
    ooms: Sequence[Sample],
    samples: Sequence[Sample],
) -> str:
    size = memory["memory_mb"]
    rate = (
        f"{mt.rate:+.2f} MB per invocation"
        if mt.rate >= 0.1
        else (f"{mt.rate * 1024:+.0f} KB per invocation")
    )
    if ooms:
        hit = ooms[0]
        restarted = any(s.cold_start for s in samples if s.invocation > hit.invocation)
        held = f" ({(hit.rss_bytes or 0) / MIB:.0f} MB of {size} MB)" if hit.rss_bytes else ""
        return (
            f"Out of memory reproduced: Lambda ended the environment at invocation "
            f"{hit.invocation:,}{held}: Runtime exited with error: signal: killed "
            f"(Runtime.OutOfMemory); memory grew {rate}"
            + ("; the environment then restarted (cold start)." if restarted else ".")
        )
    return (
        f"Memory grows {rate} (resident, {every[0]:.0f} -> {max(every):.0f} MB): at the "
        f"memory size ({size} MB) Lambda ends the environment (Runtime.OutOfMemory), about "
        f"{memory['invocations_to_limit']:,} invocations past the end of this run (projected)."
    )


def _memory_advice(memory: dict[str, Any], language: str) -> str:
    rate = (memory["rate_bytes_per_invocation"] or 0) / MIB
    kept = (
        "an array, a Map or a cache at module scope"
        if language == "nodejs"
        else "a list, a dict or a cache at module scope (or on a long-lived object)"
    )
    bound = (
        "trim it (keep the last N), or an LRU with a maximum size"
        if language == "nodejs"
        else "collections.deque(maxlen=N), functools.lru_cache(maxsize=N)"
    )
    return (
        f"No descriptor leak, but memory: about {rate:.2f} MB stays behind after every "
        f"invocation. {kept[0].upper()}{kept[1:]} gains an entry per invocation and is never "
        "emptied: "
        f"bound it ({bound}) or keep the value inside the invocation. A larger memory size "
        "only moves the end (Runtime.OutOfMemory) further away."
    )


def _budget_note(d: Diagnosis, clock: _Clock) -> str:
    """Why a reachable limit was projected, not reproduced: the time it would take."""
    left = d.invocations_to_limit
    if left is None:
        left = (d.memory or {}).get("invocations_to_limit")
    pace = clock.state()["pace"] / 1.25
    need = f" (about {left * pace:.0f} s at {pace * 1000:.0f} ms per invocation)" if left else ""
    return (
        f"Not run to the limit: reaching it would take longer than the time budget of "
        f"{clock.budget_s:g} s{need}; --reproduce (or a larger --budget) runs to it."
    )


def _memory_enforced(out_dir: Path) -> str | None:
    """run.json's ``memory.enforced``: ``cgroup`` or ``poll`` (None when not recorded)."""
    from fdscope.local import read_run

    memory = read_run(out_dir).get("memory")
    return memory.get("enforced") if isinstance(memory, dict) else None


def emfile_in_timeouts(out_dir: Path, samples: Sequence[Sample], limit: int) -> set[int]:
    """Invocations that timed out after an open failed for want of a descriptor: their
    log events hold the exhaustion table's evidence (Node's ``listen EMFILE`` logged by
    a library that then never answers). The local Lambda keeps such an invocation's
    status ``timeout`` (how it ended); for the doctor it reproduced EMFILE too."""
    timed_out = [s for s in samples if s.status == "timeout"]
    if not timed_out:
        return set()
    from fdscope import exhaustion

    events = read_jsonl(out_dir / "events.jsonl")
    found: set[int] = set()
    for s in timed_out:
        rows = [
            r
            for e in events
            if e.get("logStream") == s.stream and s.start <= int(e.get("timestamp") or 0) <= s.end
            for r in exhaustion.match_line(str(e.get("message") or ""))
        ]
        at = s.fd_process is not None and s.fd_process >= limit - exhaustion.default_margin(limit)
        if any(exhaustion.counts(r, failed=True, at_limit=at) for r in rows):
            found.add(s.invocation)
    return found


def near_limit_text(near: dict[str, Any]) -> str:
    """The doctor's sentence for ``summary.json``'s ``near_limit``: a warning, not a failure."""
    text = (
        f"Near the limit, no EMFILE: reached {near['count']:,} of {near['limit']:,} at "
        f"invocation {near['invocation']:,}"
    )
    if near.get("projected_at") is not None:
        text += f"; EMFILE projected at invocation ~{near['projected_at']:,}"
    return text + " (no open failed in this run)."


def s_procs(seg: Sequence[Sample]) -> list[float | None]:
    return [float(x.processes) if x.processes is not None else None for x in seg]


def s_threads(seg: Sequence[Sample]) -> list[float | None]:
    return [float(x.threads) if x.threads is not None else None for x in seg]


def s_fds(seg: Sequence[Sample]) -> list[float | None]:
    return [float(x.fd_process) if x.fd_process is not None else None for x in seg]


def _handler_file(fn: LocalLambda) -> Path | None:
    module = fn.handler.name.rpartition(".")[0]
    if fn.runtime.language == "nodejs":  # Lambda's dir/module.handler: the first dot
        module = fn.handler.name.partition(".")[0]
        base = fn.handler.code_root / module
        found = [base.with_name(base.name + s) for s in (".js", ".mjs", ".cjs")]
        return next((p for p in found if p.exists()), None)
    path = fn.handler.code_root / (module.replace(".", "/") + ".py")
    return path if path.exists() else None


def _diagnosis(
    verdict: str,
    t: Trend,
    gc: dict[str, Any] | None,
    samples: Sequence[Sample],
    *,
    limit: int,
    out_dir: Path,
    code_root: Path,
    handler_file: Path | None,
    language: str = "python",
) -> Diagnosis:
    from fdscope.metrics import percentile

    seg = segment(samples)
    # EMFILE in an invocation that then timed out counts as reproduced (emfile_in_timeouts)
    late = emfile_in_timeouts(out_dir, samples, limit)
    hits = [i for i, s in enumerate(samples) if at_limit(s, limit) or s.invocation in late]
    reached = bool(hits)
    # the peak is what one process held (comparable with the per-process limit)
    counts = [s.fd_process for s in samples if s.fd_process is not None]
    peak = max(counts) if counts else None
    tree = [s.fd_count for s in samples if s.fd_count is not None and s.processes]
    # the limit is per process: project the largest process's count, which is the whole
    # count unless the function runs child processes
    per_process = analyze(process_counts(seg))
    floors = rising_floors(process_counts(seg)) if verdict == "leak" else None
    if floors is not None and not per_process.leaking:
        per_process = floors  # a leak under a saw-tooth: its floors' rate
    to_limit = 0 if reached else per_process.invocations_to_limit(limit)
    # a run too short for a trend still reports what only rose (decision.short_run_rise)
    short = short_run_rise(seg) if verdict == "leak" and not reached and not t.leaking else None
    procs_only = verdict == "leak" and not reached and (processes_leak(seg) or short == "processes")
    thread_only = (
        verdict == "leak"
        and not reached
        and not t.leaking
        and not procs_only
        and (threads_leak(seg) or short == "threads")
    )
    if thread_only or procs_only:
        to_limit = thread_trend(seg).invocations_to_limit(THREAD_LIMIT)
    gc_cleans = bool(gc and gc.get("collections_remove_growth"))
    culprits, kinds, loop_alive = _culprits(
        verdict,
        samples,
        seg,
        reached=reached,
        out_dir=out_dir,
        code_root=code_root,
        handler_file=handler_file,
        language=language,
    )
    threads = [float(s.threads) for s in seg if s.threads is not None]
    durations = [s.duration_ms for s in samples if s.status != "timeout"]
    notes: list[str] = []
    near = first_near_limit(samples, limit)
    if reached:
        near = None  # EMFILE came first: that is the finding
        notes.append(_emfile_note(samples, hits[0], late, limit))
    elif near is not None:
        notes.append(near_limit_text(near))
    elif verdict == "leak" and to_limit is not None and not (thread_only or procs_only):
        notes.append(
            f"Projected, not reproduced: at {per_process.rate:.2f} per invocation the limit "
            f"({limit}) is "
            f"about {to_limit} invocations past the end of this run."
        )
    if thread_only:
        th = thread_trend(seg)
        notes.append(
            f"Threads, not descriptors: {th.rate:+.2f} threads per invocation; Lambda caps an "
            f"environment at {THREAD_LIMIT} threads and processes, about {to_limit} invocations "
            "away (then starting a thread fails)."
        )
    if tree and peak is not None and max(tree) > peak:
        most = max(s.processes or 1 for s in samples)
        notes.append(
            f"The function runs up to {most} processes: together they held up to {max(tree)} "
            f"descriptors, the largest one {peak} (the limit, {limit}, is per process)."
        )
    if procs_only:
        notes.append(_processes_note(seg, limit, to_limit))
    if short is not None:
        notes.append(_short_run_note(short, seg, len(samples)))
    if loop_alive:
        notes.append(_loop_note(loop_alive, samples))
    notes.extend(_gc_notes(verdict, gc_cleans, peak, limit))
    init = lint_findings(handler_file, "per-invocation") if verdict in ("none", "bounded") else ()
    static = lint_findings(handler_file) if verdict in ("leak", "gc-bound") else ()
    if init:
        p50 = percentile([s.duration_ms for s in seg if s.status == "ok"] or [0.0], 50)
        notes.append(
            f"Per-invocation construction costs time, not descriptors (invocations take "
            f"{p50:.1f} ms at the median): {len(init)} finding(s) from fdscope lint."
        )
    thread_t = analyze(threads) if threads else None
    failed = sum(1 for s in samples if s.status in FAILED)
    mostly_failed = verdict == "none" and failed * 2 > len(samples)
    if mostly_failed:
        notes.append(
            f"{failed} of {len(samples)} invocations failed; the descriptor count shows no "
            "leak, but the function is not healthy."
        )
    return Diagnosis(
        verdict=verdict,
        exit_code=EXIT_CODES[verdict],
        # per process (what meets the limit), unless the leak is processes themselves
        rate_per_invocation=round(t.rate if procs_only else per_process.rate, 4),
        confidence=short_run_confidence(seg) if short else confidence(t, reached, verdict),
        peak=peak,
        limit=limit,
        invocations=len(samples),
        invocations_to_limit=to_limit if verdict == "leak" else None,
        projected=verdict == "leak" and not reached,
        emfile=len(hits),
        emfile_at=samples[hits[0]].invocation if hits else None,
        near_limit=near,
        timeouts=sum(1 for s in samples if s.status == "timeout"),
        crashes=sum(1 for s in samples if s.status == "crash"),
        errors=sum(1 for s in samples if s.status == "error"),
        cold_starts=sum(1 for s in samples if s.cold_start),
        latency_climb=latency_climb(seg),
        duration_p50_ms=round(percentile(durations, 50), 3) if durations else None,
        duration_p99_ms=round(percentile(durations, 99), 3) if durations else None,
        new_connections_per_invocation=new_connections(out_dir),
        threads_only=thread_only,
        processes_only=procs_only,
        threads_per_invocation=round(thread_t.rate, 4)
        if thread_t and thread_t.significant
        else 0.0,
        shape=t.shape if procs_only else per_process.shape,
        gc_check=gc,
        kinds=kinds,
        culprits=culprits,
        per_invocation_init=tuple(f.text() for f in init),
        static_findings=tuple(f.text() for f in static),
        advice=advice(
            verdict,
            culprits[0] if culprits else None,
            gc_cleans,
            failure_text(samples) if verdict == "broken" or mostly_failed else "",
            static,
            code_root,
            language=language,
            loop_alive=bool(loop_alive),
        ),
        out_dir=out_dir,
        notes=tuple(notes),
    )


def _culprits(
    verdict: str,
    samples: Sequence[Sample],
    seg: Sequence[Sample],
    *,
    reached: bool,
    out_dir: Path,
    code_root: Path,
    handler_file: Path | None,
    language: str,
) -> tuple[tuple[Culprit, ...], dict[str, int], tuple[Culprit, ...]]:
    """``(culprits, kinds, loop_alive)``: the sites the origins reports blame and the kinds
    that grew (unless the verdict is broken or none), and for Node.js, what kept the event
    loop busy when an invocation timed out (the culprits when the verdict is broken)."""
    culprits: tuple[Culprit, ...] = ()
    kinds = kind_growth(seg)  # from the outside samples when they list kinds
    if verdict not in ("broken", "none"):
        reports = read_jsonl(out_dir / "origins.jsonl")
        culprits, origin_kinds = culprits_from(
            reports, seg[0].stream if seg else None, code_root, handler_file
        )
        kinds = kinds or origin_kinds
    loop_alive: tuple[Culprit, ...] = ()
    if language == "nodejs" and not reached and any(s.status == "timeout" for s in samples):
        # what kept the event loop busy when an invocation timed out (track.js' report)
        loop_alive = loop_holders(read_jsonl(out_dir / "origins.jsonl"), code_root)
        if verdict == "broken":
            culprits = loop_alive
    return culprits, kinds, loop_alive


def _gc_notes(verdict: str, gc_cleans: bool, peak: int | None, limit: int) -> list[str]:
    """What the garbage collector does to the count (gc-bound, or a leak of cycles)."""
    notes = []
    if verdict == "gc-bound":
        notes.append(
            f"Reference cycles: the cyclic garbage collector brings the count down; peak {peak} "
            f"of {limit}."
        )
    if gc_cleans and verdict == "leak":
        notes.append(
            "The growth is reference cycles (a collection after each invocation removes it), "
            "but the garbage collector does not run often enough to stop it before the limit."
        )
    return notes


def _emfile_note(samples: Sequence[Sample], first: int, late: set[int], limit: int) -> str:
    """EMFILE reproduced at ``samples[first]`` (the first invocation at the limit)."""
    restarted = any(s.cold_start for s in samples[first + 1 :])
    hit = samples[first]
    held = "" if hit.fd_process is None else f" ({hit.fd_process:,} of {limit:,} open)"
    then = "; the invocation then timed out" if hit.invocation in late else ""
    return (
        f"EMFILE reproduced: an open failed for want of a descriptor at invocation "
        f"{hit.invocation:,}{held}{then}"
        + ("; the environment then restarted (cold start)." if restarted else ".")
    )


def _processes_note(seg: Sequence[Sample], limit: int, to_limit: int | None) -> str:
    """The environment's processes grow, not one process's descriptors."""
    procs = [s.processes for s in seg if s.processes is not None]
    return (
        f"Processes, not one process's descriptors: the environment went from {procs[0]} to "
        f"{max(procs)} processes, each holding its own descriptors, while no single process "
        f"grows towards the limit ({limit} is per process). Lambda caps an environment at "
        f"{THREAD_LIMIT} threads and processes"
        + (f", about {to_limit} invocations away." if to_limit is not None else ".")
    )


def _short_run_note(short: str, seg: Sequence[Sample], invocations: int) -> str:
    """A run too short for a trend in which ``short`` (fds, threads, processes) only rose."""
    what = {"processes": s_procs, "threads": s_threads}.get(short, s_fds)
    values = [v for v in what(seg) if v is not None]
    return (
        f"Short run ({invocations} invocations): the number of {short} only rose "
        f"({int(values[1])} -> {int(values[-1])} after the cold start); too few "
        f"invocations for a trend (the doctor needs {MIN_INVOCATIONS}), so the confidence "
        "is low: run without -n (or with a larger -n) to confirm."
    )


def _loop_note(holders: Sequence[Culprit], samples: Sequence[Sample]) -> str:
    """What kept Node's event loop alive when invocations timed out."""
    timeouts = sum(1 for s in samples if s.status == "timeout")
    sites = "; ".join(
        f"{c.kind} {c.endpoint or ''} created at {c.site}".replace("  ", " ")
        + (f" ({c.call})" if c.call else "")
        for c in holders[:3]
    )
    return (
        f"{timeouts} invocation(s) timed out with the event loop still busy: {sites}. A "
        "callback handler is answered only when the loop is empty, so a handle left open "
        "per invocation shows as timeouts (and cold starts), not as a rising count."
    )
