"""``fdscope compare RUN_A RUN_B``: did the fix work?

Reads two run directories (FORMATS.md §2) and compares what a person asks of
a fix: peak descriptors, leak rate, EMFILE and timeouts, p50/p99 duration
(with :func:`fdscope.metrics.percentile`, the one percentile definition of
fdscope), new connections per invocation, and gives a verdict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fdscope.doctor.evidence import new_connections
from fdscope.errors import DoctorError

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


@dataclass(frozen=True)
class Comparison:
    """Run A (before) against run B (after)."""

    before: RunFigures
    after: RunFigures
    outcome: str  # one of OUTCOMES
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "fdscope.compare/1",
            "before": asdict(self.before),
            "after": asdict(self.after),
            "outcome": self.outcome,
            "reasons": list(self.reasons),
        }


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


def _at_limit(row: dict[str, Any]) -> bool:
    """EMFILE as the doctor counts it: the status says so, or one process is at the limit."""
    count, limit = held(row), row.get("fd_limit")
    at = isinstance(count, int) and isinstance(limit, int) and count >= limit - 1
    return row.get("status") == "emfile" or at


def figures(run_dir: Path) -> RunFigures:
    """The figures of ``run_dir``; raises DoctorError when it is not a run directory."""
    from fdscope.metrics import percentile
    from fdscope.trend import analyze

    run_dir = Path(run_dir)
    rows = _rows(run_dir)
    summary = _json(run_dir / "summary.json")
    run = _json(run_dir / "run.json")
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
        emfile=sum(1 for r in rows if _at_limit(r)),
        timeouts=sum(1 for r in rows if r.get("status") == "timeout"),
        failures=sum(1 for r in rows if r.get("status") not in ("ok", None)),
        cold_starts=sum(1 for r in rows if r.get("cold_start")),
        p50_ms=round(percentile(durations, 50), 3) if durations else None,
        p99_ms=round(percentile(durations, 99), 3) if durations else None,
        new_connections_per_invocation=new_conn,
    )


def compare(before: Path, after: Path) -> Comparison:
    """Compare two run directories; raises DoctorError when either is not one."""
    a, b = figures(before), figures(after)
    reasons: list[str] = []
    better = worse = 0

    def judge(name: str, x: float | None, y: float | None, *, slack: float = 0.0) -> None:
        nonlocal better, worse
        if x is None or y is None:
            return
        if y < x - slack:
            better += 1
            reasons.append(f"{name}: {x:g} -> {y:g}")
        elif y > x + slack:
            worse += 1
            reasons.append(f"{name} got worse: {x:g} -> {y:g}")

    judge("leak rate per invocation", a.rate_per_invocation, b.rate_per_invocation, slack=0.05)
    judge("peak descriptors", a.peak, b.peak, slack=max(4, 0.1 * (a.peak or 0)))
    judge("EMFILE invocations", a.emfile, b.emfile)
    judge("timeouts", a.timeouts, b.timeouts)
    judge(
        "new connections per invocation",
        a.new_connections_per_invocation,
        b.new_connections_per_invocation,
        slack=0.1,
    )
    leak_gone = b.rate_per_invocation <= 0.05 and b.emfile == 0 and b.timeouts <= a.timeouts
    was_leaking = a.rate_per_invocation > 0.05 or a.emfile > 0 or a.verdict == "leak"
    if b.verdict == "broken" and a.verdict != "broken":
        outcome = "worse"
        reasons.append(f"the function now fails every invocation ({b.failures} failures)")
    elif b.verdict in ("leak", "broken") or (not leak_gone and worse > better):
        outcome = "worse" if worse > better else "unchanged"
    elif was_leaking and leak_gone:
        outcome = "fixed"
    elif better > worse:
        outcome = "improved"
    else:
        outcome = "unchanged"
    if a.p50_ms is not None and b.p50_ms is not None:
        reasons.append(f"p50 duration: {a.p50_ms:g} -> {b.p50_ms:g} ms")
    return Comparison(a, b, outcome, tuple(reasons))
