"""``fdscope compare RUN_A RUN_B``: did the fix work?

Reads two run directories (FORMATS.md §2) and compares what a person asks of
a fix: peak descriptors, leak rate, EMFILE and timeouts, memory (peak, growth per
invocation, out of memory), p50/p99 duration
(with :func:`fdscope.metrics.percentile`, the one percentile definition of
fdscope), new connections per invocation, and gives a verdict.

Improvements and regressions are kept apart; ``fixed`` means the leak is gone
and nothing got worse beyond noise. Noise, for durations: each run's p50 and
p99 carry a 95% distribution-free interval (the order statistics whose ranks
are ``n*q -/+ 1.96*sqrt(n*q*(1-q))``); a change counts only when the two
intervals do not overlap and the change is at least 10% and 1 ms. With fewer
than 100 durations a run's p99 is its maximum, and p99 is not judged at all.
Runs that differ in length (more than 2x), event or descriptor limit are
compared with a warning, and so is a run that was interrupted or never
finished. A directory whose files do not belong together (rows or a
``summary.json`` of another run id, an invocation twice) is refused
(:func:`fdscope.local.check_run_dir`): its figures would lie.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fdscope.doctor.evidence import new_connections
from fdscope.errors import DoctorError

# the comparison table, in order: label -> RunFigures attribute; the CLI's table and
# report.html's before/after page both print these rows
ROWS: dict[str, str] = {
    "verdict": "verdict",
    "invocations": "invocations",
    "peak descriptors": "peak",
    "leak rate / invocation": "rate_per_invocation",
    "EMFILE": "emfile",
    "peak memory MB": "peak_memory_mb",
    "memory growth / invocation MB": "memory_rate_mb",
    "out of memory": "out_of_memory",
    "timeouts": "timeouts",
    "cold starts": "cold_starts",
    "p50 duration ms": "p50_ms",
    "p99 duration ms": "p99_ms",
    "new connections / invocation": "new_connections_per_invocation",
}

OUTCOMES = ("fixed", "improved", "unchanged", "worse")


@dataclass(frozen=True)
class RunFigures:
    """The figures of one run directory."""

    path: str
    handler: str | None
    verdict: str | None  # from summary.json when the doctor made the run
    invocations: int
    peak: int | None
    rate_per_invocation: float
    emfile: int
    timeouts: int
    failures: int
    cold_starts: int
    p50_ms: float | None
    p99_ms: float | None
    new_connections_per_invocation: float | None
    # the 95% intervals of p50 and p99 (None: too few durations), see the module docstring
    p50_range: tuple[float, float] | None = None
    p99_range: tuple[float, float] | None = None
    fd_limit: int | None = None
    event: Any = None
    run_id: str | None = None
    # how the run ended when it did not finish: "SIGTERM", "never finished", ... (None: it did)
    interrupted: str | None = None
    # resident memory: the peak (MB), its growth per invocation (MB, 0 when not growing),
    # invocations Lambda ended over the memory size (Runtime.OutOfMemory)
    peak_memory_mb: float | None = None
    memory_rate_mb: float = 0.0
    out_of_memory: int = 0


@dataclass(frozen=True)
class Comparison:
    """Run A (before) against run B (after)."""

    before: RunFigures
    after: RunFigures
    outcome: str  # one of OUTCOMES
    reasons: tuple[str, ...]  # every line below, prefixed: what the CLI prints
    improvements: tuple[str, ...] = ()
    regressions: tuple[str, ...] = ()  # worse beyond noise
    warnings: tuple[str, ...] = ()  # the runs differ in length, event or limit

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "fdscope.compare/1",
            "before": asdict(self.before),
            "after": asdict(self.after),
            "outcome": self.outcome,
            "reasons": list(self.reasons),
            "improvements": list(self.improvements),
            "regressions": list(self.regressions),
            "warnings": list(self.warnings),
        }


MIN_P99_SAMPLES = 100


def percentile_range(values: list[float], q: float) -> tuple[float, float] | None:
    """The 95% distribution-free interval of the ``q`` quantile (order statistics)."""
    import math

    n = len(values)
    if n < 5 or (q > 0.9 and n < MIN_P99_SAMPLES):
        return None
    xs = sorted(values)
    half = 1.96 * math.sqrt(n * q * (1 - q))
    lo = max(0, math.floor(n * q - half) - 1)
    hi = min(n - 1, math.ceil(n * q + half) - 1)
    return (xs[lo], xs[hi])


def _beyond_noise(
    a: float | None, b: float | None, ra: tuple[float, float] | None, rb: tuple[float, float] | None
) -> int:
    """+1 when ``b`` is slower than ``a`` beyond noise, -1 faster, 0 within it or unknown."""
    if a is None or b is None or ra is None or rb is None:
        return 0
    if abs(b - a) < max(1.0, 0.1 * a):
        return 0
    if rb[0] > ra[1]:
        return 1
    if rb[1] < ra[0]:
        return -1
    return 0


def _rows(path: Path) -> list[dict[str, Any]]:
    samples = path / "samples.jsonl"
    if not samples.exists():
        raise DoctorError(f"{path} is not a run directory: no samples.jsonl")
    rows = []
    with samples.open() as fh:
        for line in fh:
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    if not rows:
        raise DoctorError(f"{path}: samples.jsonl holds no invocation")
    return rows


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def held(row: Mapping[str, Any]) -> Any:
    """A ``samples.jsonl`` row's count the per-process limit applies to: the largest
    process's (``fd_count_max``), else the whole (``Sample.fd_process`` for rows)."""
    most = row.get("fd_count_max")
    return most if isinstance(most, int) else row.get("fd_count")


def _emfile_count(summary: Mapping[str, Any], rows: list[dict[str, Any]]) -> int:
    """Invocations where an open failed: the doctor's count in ``summary.json`` when it is
    there (it also reads the log of an invocation that failed an open and then timed out,
    whose sample says ``timeout``), else the samples whose status is ``emfile``."""
    counted = summary.get("emfile")
    by_status = sum(1 for r in rows if _at_limit(r))
    if isinstance(counted, int) and not isinstance(counted, bool):
        return max(counted, by_status)
    return by_status


def _at_limit(row: dict[str, Any]) -> bool:
    """EMFILE as the doctor counts it: an open failed (the sample's status says so).

    A count at or near the limit without a failed open is not EMFILE (issue: "EMFILE
    means an open failed"): the doctor reports it as ``near_limit``.
    """
    return row.get("status") == "emfile"


def figures(run_dir: Path) -> RunFigures:
    """The figures of ``run_dir``; raises DoctorError when it is not a run directory."""
    from fdscope.local import check_run_dir
    from fdscope.metrics import percentile
    from fdscope.trend import analyze

    run_dir = Path(run_dir)
    rows = _rows(run_dir)
    run = check_run_dir(run_dir)  # refuses files of different runs
    summary = _json(run_dir / "summary.json")
    counts = [held(r) for r in rows if isinstance(held(r), int)]
    first_stream = rows[0].get("stream")
    seg = [
        float(r["fd_count"])
        for r in rows
        if r.get("stream") == first_stream and isinstance(r.get("fd_count"), int)
    ]
    trend = analyze(seg)
    rate = summary.get("rate_per_invocation", trend.rate if trend.leaking else 0.0)
    durations = [
        float(r["duration_ms"])
        for r in rows
        if r.get("status") != "timeout" and r.get("duration_ms") is not None
    ]
    new_conn = summary.get("new_connections_per_invocation")
    if new_conn is None:
        new_conn = new_connections(run_dir)
    return RunFigures(
        path=str(run_dir),
        handler=run.get("handler"),
        verdict=summary.get("verdict"),
        invocations=len(rows),
        peak=max(counts) if counts else None,
        rate_per_invocation=round(float(rate), 4),
        emfile=_emfile_count(summary, rows),
        timeouts=sum(1 for r in rows if r.get("status") == "timeout"),
        failures=sum(1 for r in rows if r.get("status") not in ("ok", None)),
        cold_starts=sum(1 for r in rows if r.get("cold_start")),
        p50_ms=round(percentile(durations, 50), 3) if durations else None,
        p99_ms=round(percentile(durations, 99), 3) if durations else None,
        new_connections_per_invocation=new_conn,
        p50_range=percentile_range(durations, 0.5),
        p99_range=percentile_range(durations, 0.99),
        fd_limit=_int(run.get("fd_limit")) or _int(rows[0].get("fd_limit")),
        event=run.get("event"),
        run_id=run.get("run_id"),
        interrupted=_ended_early(run),
        **_memory_figures(rows, summary),
    )


MEMORY_SLACK_MB = 0.0625  # growth per invocation below this is not a memory leak (64 KiB)


def _memory_figures(rows: list[dict[str, Any]], summary: Mapping[str, Any]) -> dict[str, Any]:
    """``peak_memory_mb``, ``memory_rate_mb``, ``out_of_memory`` of a run's rows (the rate
    from ``summary.json`` when the doctor made the run, else the first environment's trend)."""
    from fdscope.trend import analyze

    mib = 1024 * 1024
    rss = [r["rss_bytes"] / mib for r in rows if isinstance(r.get("rss_bytes"), int)]
    memory = summary.get("memory") or {}
    rate = memory.get("rate_bytes_per_invocation")
    if rate is not None:
        rate_mb = rate / mib
    else:
        first = rows[0].get("stream")
        seg = [
            r["rss_bytes"] / mib
            for r in rows[1:]
            if r.get("stream") == first and r.get("rss_bytes")
        ]
        t = analyze(seg)
        rate_mb = t.rate if t.leaking else 0.0
    return {
        "peak_memory_mb": round(max(rss), 1) if rss else None,
        "memory_rate_mb": round(max(rate_mb, 0.0), 4),
        "out_of_memory": sum(1 for r in rows if r.get("error_type") == "Runtime.OutOfMemory"),
    }


def _ended_early(run: Mapping[str, Any]) -> str | None:
    """Why a run did not finish (``run.json``), None when it did or cannot tell."""
    if run.get("interrupted"):
        return str(run.get("interrupted_reason") or "interrupted")
    if "interrupted" in run and run.get("finished") is None:
        return "never finished (fdscope was killed?)"
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def compare(before: Path, after: Path) -> Comparison:
    """Compare two run directories; raises DoctorError when either is not one."""
    a, b = figures(before), figures(after)
    better: list[str] = []
    worse: list[str] = []

    def judge(name: str, x: float | None, y: float | None, *, slack: float = 0.0) -> None:
        if x is None or y is None:
            return
        if y < x - slack:
            better.append(f"{name}: {x:g} -> {y:g}")
        elif y > x + slack:
            worse.append(f"{name}: {x:g} -> {y:g}")

    judge("leak rate per invocation", a.rate_per_invocation, b.rate_per_invocation, slack=0.05)
    judge("peak descriptors", a.peak, b.peak, slack=max(4, 0.1 * (a.peak or 0)))
    judge("EMFILE invocations", a.emfile, b.emfile)
    judge("memory growth per invocation (MB)", a.memory_rate_mb, b.memory_rate_mb, slack=0.05)
    judge("out-of-memory invocations", a.out_of_memory, b.out_of_memory)
    judge("timeouts", a.timeouts, b.timeouts)
    judge(
        "failed invocations (share)",
        round(a.failures / a.invocations, 3),
        round(b.failures / b.invocations, 3),
        slack=0.02,
    )
    judge(
        "new connections per invocation",
        a.new_connections_per_invocation,
        b.new_connections_per_invocation,
        slack=0.1,
    )
    for name, x, y, rx, ry in (
        ("p50 duration (ms)", a.p50_ms, b.p50_ms, a.p50_range, b.p50_range),
        ("p99 duration (ms)", a.p99_ms, b.p99_ms, a.p99_range, b.p99_range),
    ):
        change = _beyond_noise(x, y, rx, ry)
        if change:
            (worse if change > 0 else better).append(f"{name}: {x:g} -> {y:g}")
    warnings = _warnings(a, b)
    leak_gone = (
        b.rate_per_invocation <= 0.05
        and b.emfile == 0
        and b.timeouts <= a.timeouts
        and b.memory_rate_mb <= MEMORY_SLACK_MB
        and b.out_of_memory == 0
    )
    was_leaking = (
        a.rate_per_invocation > 0.05
        or a.emfile > 0
        or a.verdict == "leak"
        or a.out_of_memory > 0
        or a.memory_rate_mb > MEMORY_SLACK_MB
    )
    notes: list[str] = []
    if b.verdict == "broken" and a.verdict != "broken":
        outcome = "worse"
        notes.append(f"the function now fails every invocation ({b.failures} failures)")
    elif b.verdict in ("leak", "broken") or (not leak_gone and len(worse) > len(better)):
        outcome = "worse" if len(worse) > len(better) else "unchanged"
    elif was_leaking and leak_gone and not worse:
        outcome = "fixed"
    elif was_leaking and leak_gone:
        outcome = "improved"
        notes.append("the leak is gone, but something got worse beyond noise (below)")
    elif len(better) > len(worse):
        outcome = "improved"
    else:
        outcome = "unchanged"
    if (
        a.p50_ms is not None
        and b.p50_ms is not None
        and not any("p50" in r for r in better + worse)
    ):
        notes.append(f"p50 duration: {a.p50_ms:g} -> {b.p50_ms:g} ms (within noise)")
    reasons = (
        notes
        + [f"better: {r}" for r in better]
        + [f"worse: {r}" for r in worse]
        + [f"warning: {w}" for w in warnings]
    )
    return Comparison(a, b, outcome, tuple(reasons), tuple(better), tuple(worse), tuple(warnings))


def _warnings(a: RunFigures, b: RunFigures) -> list[str]:
    """What makes the two runs hard to compare."""
    out = []
    for label, r in (("before", a), ("after", b)):
        if r.interrupted:
            out.append(
                f"the {label} run was interrupted ({r.interrupted}) after {r.invocations} "
                "invocations: its figures cover only what ran"
            )
    lo, hi = sorted((a.invocations, b.invocations))
    if hi > 2 * lo:
        out.append(
            f"the runs differ in length ({a.invocations} and {b.invocations} invocations): "
            "the shorter one's rate and percentiles are less certain"
        )
    if a.event != b.event:
        out.append("the runs were sent different events")
    if a.fd_limit and b.fd_limit and a.fd_limit != b.fd_limit:
        out.append(f"the runs had different descriptor limits ({a.fd_limit} and {b.fd_limit})")
    return out
