"""The doctor's verdict: does a handler leak descriptors, what, from where, how fast.

:func:`diagnose` runs the handler in the local Lambda (:class:`LocalLambda`)
with origins tracking and the in-function monitor on, for as many invocations
as it needs to decide (or exactly ``n``), then, when the count grew or fell in
a saw-tooth, a second, shorter run with ``gc.collect()`` after every
invocation: what a collection removes is a reference cycle, not a leak.

The trend comes from :mod:`fdscope.trend`, the module the in-function
monitor's leak warning uses too, so the warning and the verdict never disagree.

Verdicts (``Diagnosis.verdict``) and exit codes:

- ``leak`` (1): the count grows without bound, or a saw-tooth that only the
  garbage collector cuts reaches the limit in the run or is projected to;
- ``gc-bound`` (0): a saw-tooth the cyclic garbage collector brings down, whose
  peak stays below the limit (the peak is stated);
- ``bounded`` (0): a cache or pool that fills and stops below the limit;
- ``none`` (0): no trend;
- ``broken`` (3): the handler failed every invocation, or at init.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from fdscope.errors import DoctorError
from fdscope.local import EnvironmentRecord, LocalLambda, Sample
from fdscope.trend import Trend, analyze

VERDICTS = ("leak", "gc-bound", "bounded", "none", "broken")
EXIT_CODES = {"leak": 1, "gc-bound": 0, "bounded": 0, "none": 0, "broken": 3}

MIN_INVOCATIONS = 40  # before anything but "broken" is decided
MAX_INVOCATIONS = 1500  # the adaptive default never runs more
AFTER_LIMIT = 12  # invocations run after the count first reaches the limit
CHECK_EVERY = 5  # re-analysis interval of the adaptive loop
THREAD_LIMIT = 1024  # Lambda's cap on processes and threads per execution environment
SAWTOOTH_PATIENCE = 300  # invocations to wait for a saw-tooth to show three cycles
STAIRCASE_PATIENCE = 400  # invocations to wait for a slow staircase to show its trend
FAILED = ("error", "timeout", "crash")

_BARE_CALLS = ("os.pipe", "os.pipe2", "os.open", "os.dup", "tempfile.mkstemp", "os.eventfd")
_THREAD_CALLS = ("threading.Thread", "ThreadPoolExecutor", "Observer", "Timer", "submit")


@dataclass(frozen=True)
class Culprit:
    """A creation site whose handles accumulate (FORMATS.md §2 ``culprits``)."""

    site: str  # "app.py:17", relative to the code root when inside it
    function: str | None
    call: str | None  # the library call made at the site ("socket.create_connection")
    kind: str  # the kinds of the handles, most common first ("tcp", "tcp+unix")
    endpoint: str | None  # the most common endpoint of those handles
    count: int  # handles from this site that accumulated over the run
    approximate: bool  # the site was inferred (descriptor made in C code), not recorded
    chain: tuple[str, ...] = ()  # the call chain from the handler down to the site


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
    emfile: int  # invocations that failed with EMFILE (or ran at the limit)
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

    def summary(self) -> dict[str, Any]:
        """The ``fdscope.summary/1`` document."""
        d = asdict(self)
        d.pop("environments")
        d["out_dir"] = str(self.out_dir)
        d["culprits"] = [asdict(c) | {"chain": list(c.chain)} for c in self.culprits]
        d["limit"] = self.limit
        return {"schema": "fdscope.summary/1", **d}


# -- the adaptive loop ---------------------------------------------------------


def _segment(samples: Sequence[Sample]) -> list[Sample]:
    """The samples of the first execution environment (the one that shows a leak best)."""
    if not samples:
        return []
    first = samples[0].stream
    return [s for s in samples if s.stream == first]


def _counts(samples: Sequence[Sample]) -> list[float]:
    return [float(s.fd_count) for s in samples if s.fd_count is not None]


def _at_limit(s: Sample, limit: int) -> bool:
    """EMFILE seen, or one process held every descriptor the (per-process) limit allows."""
    held = s.fd_process
    return s.status == "emfile" or (held is not None and held >= limit - 1)


def _process_counts(samples: Sequence[Sample]) -> list[float]:
    """The largest single process's count per invocation (what meets the limit)."""
    return [float(s.fd_process) for s in samples if s.fd_process is not None]


def _processes_leak(seg: Sequence[Sample]) -> bool:
    """Processes pile up (each with its own descriptors) while no one process grows."""
    procs = [float(s.processes) for s in seg if s.processes is not None]
    if len(procs) < 3:
        return False
    pt = analyze(procs)
    return pt.leaking and pt.rate >= 0.05 and not analyze(_process_counts(seg)).leaking


def _thread_trend(seg: Sequence[Sample]) -> Trend:
    return analyze([float(s.threads) for s in seg if s.threads is not None])


def _threads_leak(seg: Sequence[Sample]) -> bool:
    """Threads that pile up (Lambda caps them at 1,024) while descriptors may not."""
    th = _thread_trend(seg)
    return th.leaking and th.rate >= 0.1


def _all_failed(samples: Sequence[Sample]) -> bool:
    return bool(samples) and all(s.status in FAILED for s in samples)


def _staircase_pending(counts: Sequence[float], k: int) -> bool:
    """A count that only ever steps up, and stepped recently: a slow leak (one handle
    every n invocations, say on a rare path) is not told from a one-off lazy init
    until the next step is due. Wait until twice the longest gap between steps has
    passed without one (or STAIRCASE_PATIENCE)."""
    body = list(counts[1:])  # the first invocation carries the cold start
    if k >= STAIRCASE_PATIENCE or len(body) < 2:
        return False
    if any(b < a for a, b in zip(body, body[1:], strict=False)):
        return False  # it goes down too: not a staircase
    steps = [i for i in range(1, len(body)) if body[i] > body[i - 1]]
    if not steps:
        return False
    gaps = [steps[0]] + [b - a for a, b in zip(steps, steps[1:], strict=False)]
    return len(body) - 1 - steps[-1] < 2 * max(gaps)


def _enough(samples: Sequence[Sample], limit: int, max_n: int) -> bool:
    """True when the run so far decides the verdict (see the module docstring)."""
    k = len(samples)
    if k >= max_n:
        return True
    if k >= 3 and _all_failed(samples):
        return True  # broken: nothing succeeds
    first_hit = next((i for i, s in enumerate(samples) if _at_limit(s, limit)), None)
    if first_hit is not None:
        # the limit is reproduced: run on until the environment restarts (and a
        # few invocations after it), or AFTER_LIMIT invocations if it does not
        restarted = next((i for i in range(first_hit + 1, k) if samples[i].cold_start), None)
        if restarted is not None:
            return k >= restarted + 3
        return k >= first_hit + AFTER_LIMIT
    if k < MIN_INVOCATIONS or k % CHECK_EVERY:
        return False
    seg = _segment(samples)
    t = analyze(_counts(seg))
    if t.leaking:
        # the limit is per process: reproduce it only when one process is heading there
        # (child processes that pile up never reach it, however many descriptors they hold)
        tp = analyze(_process_counts(seg))
        to_limit = tp.invocations_to_limit(limit) if tp.leaking else None
        if to_limit is not None and k + to_limit <= max_n:
            return False  # reachable within the budget: reproduce it
        return t.confidence >= 0.8 and k >= 2 * MIN_INVOCATIONS
    if _staircase_pending(_counts(_segment(samples)), k):
        return False
    if t.shape == "sawtooth":
        return t.drops >= 3
    if t.drops and k < SAWTOOTH_PATIENCE:
        return False  # a drop or two: wait for the cycles to show
    if t.shape == "plateau":
        # a plateau is trusted when its flat part is long: the last quarter shows no trend
        tail = _counts(_segment(samples))[-max(20, k // 4) :]
        return k >= 2 * MIN_INVOCATIONS and not analyze(tail).significant
    if t.shape in ("flat", "noisy", "shrinking"):
        # no trend: enough when the second half agrees with the whole
        return not analyze(_counts(_segment(samples))[k // 2 :]).significant
    return False  # growing but not yet significant, or insufficient


def _invoke_until(
    fn: LocalLambda,
    event: Any,
    *,
    n: int | None,
    max_n: int,
    max_seconds: float,
    progress: Callable[[Sample], None] | None,
) -> list[Sample]:
    samples: list[Sample] = []
    t0 = time.monotonic()
    while True:
        s = fn.invoke(event)
        samples.append(s)
        if progress is not None:
            progress(s)
        if n is not None:
            if len(samples) >= n:
                return samples
        elif _enough(samples, fn.fd_limit, max_n) or time.monotonic() - t0 > max_seconds:
            return samples


# -- evidence ------------------------------------------------------------------


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    out = []
    try:
        with path.open() as fh:
            for line in fh:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
    except OSError:
        return []
    return out


def _new_connections(out_dir: Path) -> float | None:
    """Median ``new_connections`` of the monitor's EMF records, None without them."""
    from fdscope.emf import parse_events
    from fdscope.logs import read_events

    events = out_dir / "events.jsonl"
    if not events.exists():
        return None
    values = [
        dp.value
        for dp in parse_events(read_events(events))
        if dp.metric == "new_connections" and "function_name" in dp.dimensions
    ]
    if not values:
        return None
    from fdscope.metrics import percentile

    return float(percentile(values, 50))


def _kind_growth(seg: Sequence[Sample]) -> dict[str, int]:
    """Kinds whose count grew from the first warm sample to the peak sample."""
    with_kinds = [s for s in seg if s.by_kind and s.fd_count is not None]
    if len(with_kinds) < 2:
        return {}
    base = with_kinds[1] if len(with_kinds) > 2 else with_kinds[0]
    top = max(with_kinds, key=lambda s: s.fd_count or 0)
    growth = {k: top.by_kind.get(k, 0) - base.by_kind.get(k, 0) for k in top.by_kind}
    return {k: v for k, v in sorted(growth.items(), key=lambda kv: -kv[1]) if v > 0}


def _relative(file: str, code_root: Path) -> str:
    try:
        return str(Path(file).resolve().relative_to(code_root.resolve()))
    except (ValueError, OSError):
        return file


def _chain(stack: Sequence[Mapping[str, Any]], code_root: Path) -> tuple[str, ...]:
    """The user's frames of a creation stack, outermost (the handler) first."""
    root = str(code_root.resolve())
    frames = [
        f"{f.get('function')} ({_relative(str(f.get('file')), code_root)}:{f.get('line')})"
        for f in stack
        if str(f.get("file", "")).startswith(root)
    ]
    return tuple(reversed(frames))


def _culprits(
    reports: Sequence[Mapping[str, Any]],
    stream: str | None,
    code_root: Path,
    handler_file: Path | None = None,
) -> tuple[tuple[Culprit, ...], dict[str, int]]:
    """Sites whose handle count grew between an early report and the peak report,
    and the growth per kind over all sites."""
    own = [r for r in reports if stream is None or r.get("stream") in (None, stream)]
    if not own:
        return (), {}
    # the peak report: the highest count, the latest among equals (threads-only leaks)
    peak = max(own, key=lambda r: (r.get("count", 0), r.get("invocation") or 0))
    base = own[min(1, len(own) - 1)] if own[0] is not peak else own[0]

    def groups(report: Mapping[str, Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
        out: dict[tuple[Any, ...], dict[str, Any]] = {}
        for g in report.get("groups", ()):
            site = g.get("site") or {}
            key = (site.get("file"), site.get("line"), site.get("call"))
            slot = out.setdefault(
                key,
                {
                    "site": site,
                    "stack": g.get("stack") or [],
                    "count": 0,
                    "kinds": {},
                    "endpoints": {},
                },
            )
            n = int(g.get("count", 0))
            slot["count"] += n
            kind = g.get("kind") or "unknown"
            slot["kinds"][kind] = slot["kinds"].get(kind, 0) + n
            if g.get("endpoint"):
                slot["endpoints"][g["endpoint"]] = slot["endpoints"].get(g["endpoint"], 0) + n
        return out

    before = groups(base)
    # each site at its own highest count over the run: in a saw-tooth the site's peak
    # and the report with the most handles need not coincide (a collection may have
    # cleared that site just before the biggest report)
    after = groups(peak)
    for report in own:
        if report is peak:
            continue
        for key, g in groups(report).items():
            if key not in after or g["count"] > after[key]["count"]:
                after[key] = g
    found: list[Culprit] = []
    kinds: dict[str, int] = {}
    for key, g in after.items():
        old = before.get(key, {}).get("kinds", {}) if base is not peak else {}
        for kind, n in g["kinds"].items():
            if n - old.get(kind, 0) > 0:
                kinds[kind] = kinds.get(kind, 0) + n - old.get(kind, 0)
        grew = g["count"] - (before.get(key, {}).get("count", 0) if base is not peak else 0)
        if grew <= 0:
            continue
        site = g["site"]
        site_kinds = sorted(g["kinds"], key=lambda k: -g["kinds"][k])
        endpoint = max(g["endpoints"], key=g["endpoints"].get) if g["endpoints"] else None
        found.append(
            Culprit(
                site=f"{_relative(str(site.get('file')), code_root)}:{site.get('line')}",
                function=site.get("function"),
                call=site.get("call"),
                kind="+".join(site_kinds),
                endpoint=endpoint,
                count=grew,
                approximate=bool(site.get("approximate")),
                chain=_chain(g["stack"], code_root),
            )
        )
    # the user's own lines first (the handler's module before the rest of the code
    # root, before libraries), then by how many handles accumulated
    home = _relative(str(handler_file), code_root) if handler_file else None
    found.sort(
        key=lambda c: (
            c.approximate,
            c.site.rsplit(":", 1)[0] != home,
            Path(c.site.rsplit(":", 1)[0]).is_absolute(),
            -c.count,
            c.site,
        )
    )
    ordered = dict(sorted(kinds.items(), key=lambda kv: -kv[1]))
    return tuple(found[:8]), ordered


_FAILURE_HINTS = (
    # (error type, text in the message, what to tell the user)
    (
        "Runtime.MarshalError",
        "coroutine",
        "the handler is `async def`, and Lambda's Python runtime does not await it: make it a "
        "plain def that runs the coroutine with asyncio.run()",
    ),
    (
        "Runtime.MarshalError",
        "",
        "the handler returns a value JSON cannot encode: return dicts, lists, strings and numbers",
    ),
    ("Runtime.HandlerNotFound", "", "check the handler name (module.function)"),
    ("Runtime.ImportModuleError", "", "the module or one of its imports cannot be imported"),
    ("Runtime.UserCodeSyntaxError", "", "the module does not parse"),
    ("Sandbox.Timedout", "", "every invocation runs into the function's timeout (--timeout)"),
    (
        "NoCredentialsError",
        "",
        "the local Lambda holds no AWS credentials: point the function at a local service "
        "(--aws-endpoint http://127.0.0.1:PORT with moto) or pass them with --env",
    ),
    (
        "EndpointConnectionError",
        "",
        "the local Lambda connects to 127.0.0.1 only: use --aws-endpoint with a local service "
        "(moto), or --allow-network to reach AWS",
    ),
)


def _failure(samples: Sequence[Sample]) -> str:
    """The most common failure of a run, in words: "ErrorType: message (n of m); hint"."""
    failed = [s for s in samples if s.status in FAILED]
    if not failed:
        return ""
    counts: dict[tuple[str, str], int] = {}
    for s in failed:
        message = (s.error_message or "").strip()
        if s.request_id:  # "RequestId: <id> Error: ..." differs per invocation
            message = message.replace(f"RequestId: {s.request_id} ", "")
        key = (s.error_type or s.status, message)
        counts[key] = counts.get(key, 0) + 1
    (etype, message), n = max(counts.items(), key=lambda kv: kv[1])
    if len(message) > 300:
        message = message[:297] + "..."
    text = f"{etype}: {message}" if message else etype
    text = f"{text} ({n} of {len(samples)} invocations)"
    for hint_type, needle, hint in _FAILURE_HINTS:
        if etype == hint_type and needle in message:
            return f"{text}; {hint}"
    if etype == "KeyError":
        hint = _event_hint(message)
        if hint:
            return f"{text}; {hint}"
    return text


def _event_hint(message: str) -> str:
    """For ``KeyError: 'Records'``: the bundled events that carry that key."""
    from fdscope.local import EVENT_TYPES, sample_event

    key = message.strip().strip("'\"")
    if not key or len(key) > 100:
        return ""

    def has(doc: Any) -> bool:
        if isinstance(doc, dict):
            return key in doc or any(has(v) for v in doc.values())
        if isinstance(doc, list):
            return any(has(v) for v in doc)
        return False

    types = [t for t in EVENT_TYPES if has(sample_event(t))]
    if not types:
        return ""
    return (
        f"the handler reads the event's {key!r}: send an event that has it "
        f"(--event-type {' or '.join(types[:4])}, or --event FILE)"
    )


def _readable_call(call: str) -> str:
    """``botocore.client.ClientCreator._create_api_method.<locals>._api_call`` ->
    ``botocore.client (a client method)``: internals say nothing to the user."""
    if "<locals>" not in call:
        return call
    head = call.split("<locals>")[0].rstrip(".").split(".")
    return ".".join(head[:2]) + " (a client method)"


def _built_at(findings: Sequence[Any], culprit: Culprit) -> str | None:
    """The line ``fdscope lint`` names for building a client kept or made per invocation
    (FDS101, FDS201-203) in the culprit's file, when it is not the culprit's own line."""
    file, _, line = culprit.site.rpartition(":")
    for f in findings:
        if (
            f.code in ("FDS101", "FDS201", "FDS202", "FDS203")
            and Path(f.path).name == Path(file).name
            and str(f.line) != line
        ):
            return f"{Path(file).name}:{f.line}"
    return None


def _advice(
    verdict: str,
    culprit: Culprit | None,
    gc_cleans: bool,
    failure: str = "",
    static: Sequence[Any] = (),
) -> str:
    if verdict == "broken":
        if failure:
            return f"The handler fails every invocation: {failure}. Fix that first."
        return "The handler fails every invocation: fix the error in the log (events.jsonl) first."
    if verdict == "none":
        if failure:  # most invocations fail, for another reason than descriptors
            return f"No descriptor leak, but {failure}. Fix that first."
        return "Nothing to fix: the descriptor count does not grow."
    if culprit is None:
        return "The count grows but no creation site was recorded: run with --track-origins."
    call = culprit.call or ""
    shown = _readable_call(call)
    where = f"{culprit.site}" + (f" ({shown})" if shown else "")
    built = _built_at(static, culprit)
    requesting = "<locals>" in call or call.endswith(
        (".get", ".post", ".put", ".request", ".urlopen", ".send", "_api_call")
    )
    if built and requesting:
        return (
            f"The connections are opened at {where}, through a client built per invocation at "
            f"{built} (fdscope lint): create that client once, at module scope, and reuse it "
            "(or close it before the handler returns)."
        )
    if call.endswith(("gather", "create_task", "ensure_future", "TaskGroup.create_task")):
        return (
            f"The connections are opened by tasks started at {where}, through a client that "
            "outlives the invocation: create that client once, at module scope, and reuse it "
            "(or close it before the handler returns)."
        )
    if verdict == "bounded":
        return f"Bounded: the handles from {where} stop growing; make sure that bound is intended."
    if gc_cleans or verdict == "gc-bound":
        return (
            f"Close what {where} creates before the handler returns (a with block, "
            "contextlib.closing, or asyncio.run for event loops) instead of leaving it to the "
            "garbage collector."
        )
    if any(call.startswith(b) for b in _BARE_CALLS):
        return f"Close the descriptor returned at {where} with os.close() in a finally block."
    if "FileHandler" in call or "addHandler" in call:
        return f"Add the logging handler at {where} once, at module scope, not per invocation."
    if culprit.kind.startswith("thread") or any(t in call for t in _THREAD_CALLS):
        return (
            f"Start the background worker at {where} once per execution environment (module "
            "scope), or stop it before the handler returns."
        )
    kinds = set(culprit.kind.split("+"))
    if "process" in kinds or "Popen" in call or "multiprocessing" in call:
        return (
            f"End the child processes started at {where} before the handler returns (a "
            "Popen: communicate() or wait(); a Pool: close() and join(), or a with block), or "
            "start them once per environment."
        )
    if kinds <= {"file", "dir", "memfd", "fifo", "chr", "blk"}:
        return (
            f"Close the file opened at {where} before the handler returns (a with block), "
            "or open it once at module scope."
        )
    if kinds <= {"eventpoll", "eventfd", "timerfd", "signalfd", "inotify", "pipe", "unix"} and (
        "loop" in call or "selector" in call.lower() or "Selector" in call
    ):
        return (
            f"Close the event loop or selector created at {where} before the handler returns "
            "(asyncio.run() closes its loop), or create it once at module scope."
        )
    return (
        f"Create the client or connection at {where} once, at module scope, and reuse it "
        "across invocations (or close it before the handler returns)."
    )


def _lint_findings(handler_file: Path | None, family: str | None = None) -> tuple[Any, ...]:
    """``fdscope lint``'s findings (``Finding``) for the handler's file (one ``family``, or
    every one)."""
    if handler_file is None or not handler_file.exists():
        return ()
    try:
        from fdscope.lint import RULES, lint

        result = lint([handler_file])
    except Exception:  # the static check is a hint; it never stops the verdict
        return ()
    return tuple(
        f
        for f in result.findings
        if family is None or getattr(RULES.get(f.code), "family", "") == family
    )


def _latency_climb(seg: Sequence[Sample]) -> bool:
    ok = [s.duration_ms for s in seg if s.status in ("ok", "emfile")]
    if len(ok) < 12:
        return False
    from fdscope.metrics import percentile

    q = len(ok) // 4
    early, late = percentile(ok[:q], 50), percentile(ok[-q:], 50)
    return late >= 2 * early and late - early >= 20


def _confidence(t: Trend, reproduced: bool, verdict: str) -> float:
    if verdict == "broken":
        return 1.0
    c = t.confidence
    if reproduced:
        c = max(c, 0.95)
    return round(c, 3)


# -- the verdict ---------------------------------------------------------------


def decide(
    samples: Sequence[Sample],
    *,
    limit: int,
    gc_samples: Sequence[Sample] | None = None,
) -> tuple[str, Trend, dict[str, Any] | None]:
    """The verdict from the samples alone: (verdict, trend of the first environment, gc check).

    ``gc_samples`` are the samples of a run with a collection after every
    invocation, when one was made.
    """
    if not samples or not any(s.status in ("ok", "emfile") for s in samples):
        return "broken", analyze([]), None
    seg = _segment(samples)
    t = analyze(_counts(seg))
    reached = any(_at_limit(s, limit) for s in samples)
    gc: dict[str, Any] | None = None
    gc_cleans = False
    if gc_samples:
        g = analyze(_counts(_segment(gc_samples)))
        counts = _counts(_segment(gc_samples))
        a_counts = _counts(seg)[: len(counts)]
        a_growth = (max(a_counts) - a_counts[0]) if a_counts else 0.0
        g_growth = (max(counts) - counts[0]) if counts else 0.0
        gc_cleans = not g.leaking and g_growth <= max(2.0, 0.25 * a_growth)
        # reported per process, like the main run's rate and peak (the decision above
        # compares the whole counts of both runs)
        gp_counts = _process_counts(_segment(gc_samples))
        gp = analyze(gp_counts)
        gc = {
            "invocations": len(gc_samples),
            "rate_per_invocation": round(gp.rate, 4),
            "shape": gp.shape,
            "peak": int(max(gp_counts)) if gp_counts else None,
            "collections_remove_growth": gc_cleans,
        }
    if reached or t.leaking:
        if gc_cleans and not reached and t.shape == "sawtooth":
            return "gc-bound", t, gc
        return "leak", t, gc
    if _threads_leak(seg):
        return "leak", t, gc  # threads, not descriptors: see Diagnosis.notes
    if t.shape in ("flat", "noisy", "shrinking"):
        return "none", t, gc
    if t.shape == "sawtooth" or t.drops:
        return ("gc-bound" if gc_cleans or gc_samples is None else "bounded"), t, gc
    if t.shape == "plateau":
        return "bounded", t, gc
    return "none", t, gc


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
    **options: Any,
) -> Diagnosis:
    """Run ``handler`` in the local Lambda until the verdict is clear; return the Diagnosis.

    ``n`` fixes the number of invocations (else adaptive, at most
    ``max_invocations`` and about ``max_seconds``); ``options`` are
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
    fn = LocalLambda(handler, out_dir=out_dir, track_origins=True, monitor=True, env=env, **options)
    limit = fn.fd_limit
    code_root = fn.handler.code_root
    with fn:
        samples = _invoke_until(
            fn,
            event,
            n=n,
            max_n=max_invocations,
            max_seconds=max_seconds,
            progress=(lambda s: progress("run", s)) if progress else None,
        )
    if not samples:
        raise DoctorError("no invocation ran")
    first = decide(samples, limit=limit)
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
        seg = _segment(samples)
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
            )
    verdict, t, gc = decide(samples, limit=limit, gc_samples=gc_samples)
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
    )
    return replace(d, environments=history)


def _handler_file(fn: LocalLambda) -> Path | None:
    module = fn.handler.name.rpartition(".")[0]
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
) -> Diagnosis:
    from fdscope.metrics import percentile

    seg = _segment(samples)
    hits = [i for i, s in enumerate(samples) if _at_limit(s, limit)]
    reached = bool(hits)
    # the peak is what one process held (comparable with the per-process limit)
    counts = [s.fd_process for s in samples if s.fd_process is not None]
    peak = max(counts) if counts else None
    tree = [s.fd_count for s in samples if s.fd_count is not None and s.processes]
    # the limit is per process: project the largest process's count, which is the whole
    # count unless the function runs child processes
    per_process = analyze(_process_counts(seg))
    to_limit = 0 if reached else per_process.invocations_to_limit(limit)
    procs_only = verdict == "leak" and not reached and _processes_leak(seg)
    thread_only = (
        verdict == "leak"
        and not reached
        and not t.leaking
        and not procs_only
        and _threads_leak(seg)
    )
    if thread_only or procs_only:
        to_limit = _thread_trend(seg).invocations_to_limit(THREAD_LIMIT)
    gc_cleans = bool(gc and gc.get("collections_remove_growth"))
    culprits: tuple[Culprit, ...] = ()
    kinds = _kind_growth(seg)  # from the outside samples when they list kinds
    if verdict not in ("broken", "none"):
        reports = _read_jsonl(out_dir / "origins.jsonl")
        culprits, origin_kinds = _culprits(
            reports, seg[0].stream if seg else None, code_root, handler_file
        )
        kinds = kinds or origin_kinds
    threads = [float(s.threads) for s in seg if s.threads is not None]
    durations = [s.duration_ms for s in samples if s.status != "timeout"]
    notes: list[str] = []
    if reached:
        restarted = any(s.cold_start for s in samples[hits[0] + 1 :])
        notes.append(
            f"EMFILE reproduced: the count reached the limit ({limit}) at invocation "
            f"{samples[hits[0]].invocation}"
            + ("; the environment then restarted (cold start)." if restarted else ".")
        )
    elif verdict == "leak" and to_limit is not None and not (thread_only or procs_only):
        notes.append(
            f"Projected, not reproduced: at {per_process.rate:.2f} per invocation the limit "
            f"({limit}) is "
            f"about {to_limit} invocations past the end of this run."
        )
    if thread_only:
        th = _thread_trend(seg)
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
        procs = [s.processes for s in seg if s.processes is not None]
        notes.append(
            f"Processes, not one process's descriptors: the environment went from {procs[0]} to "
            f"{max(procs)} processes, each holding its own descriptors, while no single process "
            f"grows towards the limit ({limit} is per process). Lambda caps an environment at "
            f"{THREAD_LIMIT} threads and processes"
            + (f", about {to_limit} invocations away." if to_limit is not None else ".")
        )
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
    init = _lint_findings(handler_file, "per-invocation") if verdict in ("none", "bounded") else ()
    static = _lint_findings(handler_file) if verdict in ("leak", "gc-bound") else ()
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
        confidence=_confidence(t, reached, verdict),
        peak=peak,
        limit=limit,
        invocations=len(samples),
        invocations_to_limit=to_limit if verdict == "leak" else None,
        projected=verdict == "leak" and not reached,
        emfile=len(hits),
        emfile_at=samples[hits[0]].invocation if hits else None,
        timeouts=sum(1 for s in samples if s.status == "timeout"),
        crashes=sum(1 for s in samples if s.status == "crash"),
        errors=sum(1 for s in samples if s.status == "error"),
        cold_starts=sum(1 for s in samples if s.cold_start),
        latency_climb=_latency_climb(seg),
        duration_p50_ms=round(percentile(durations, 50), 3) if durations else None,
        duration_p99_ms=round(percentile(durations, 99), 3) if durations else None,
        new_connections_per_invocation=_new_connections(out_dir),
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
        advice=_advice(
            verdict,
            culprits[0] if culprits else None,
            gc_cleans,
            _failure(samples) if verdict == "broken" or mostly_failed else "",
            static,
        ),
        out_dir=out_dir,
        notes=tuple(notes),
    )


def write_outputs(d: Diagnosis, *, title: str | None = None) -> None:
    """Write ``summary.json`` and ``fd_use.png`` into the run directory."""
    (d.out_dir / "summary.json").write_text(json.dumps(d.summary(), indent=2, default=str) + "\n")
    rows = _read_jsonl(d.out_dir / "samples.jsonl")
    if rows:
        from fdscope.metrics.plot import run_chart

        run_chart(rows, d.limit, d.out_dir / "fd_use.png", title=title)
