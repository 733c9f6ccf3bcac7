"""The doctor's decision: the verdict from the samples and their trend.

The trend comes from :mod:`fdscope.trend`, the module the in-function
monitor's leak warning uses too, so the warning and the verdict never disagree.

Verdicts and exit codes:

- ``leak`` (1): the count grows without bound, or a saw-tooth that only the
  garbage collector cuts reaches the limit in the run or is projected to; or
  resident memory grows towards the function's memory size (:func:`memory_leak`),
  or Lambda ended the environment over it (``Runtime.OutOfMemory``);
- ``gc-bound`` (0): a saw-tooth the cyclic garbage collector brings down, whose
  peak stays below the limit (the peak is stated);
- ``bounded`` (0): a cache or pool that fills and stops below the limit;
- ``none`` (0): no trend;
- ``broken`` (3): the handler failed every invocation, or at init.

:func:`enough` is the adaptive loop's stopping rule: when the run so far
decides the verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fdscope import exhaustion
from fdscope.local import Sample
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
MIB = 1024 * 1024
OOM = "Runtime.OutOfMemory"  # Lambda's error type for a runtime ended over its memory size
MEMORY_MIN_RATE = 64 * 1024  # bytes per invocation: slower growth is never a memory verdict
MEMORY_HORIZON = 5000  # invocations: memory that reaches the memory size later is not one
BUDGET_S = 20.0  # seconds of work (the function's own timeouts not counted) to reproduce in


def segment(samples: Sequence[Sample]) -> list[Sample]:
    """The samples of the first execution environment (the one that shows a leak best)."""
    if not samples:
        return []
    first = samples[0].stream
    return [s for s in samples if s.stream == first]


def fd_counts(samples: Sequence[Sample]) -> list[float]:
    return [float(s.fd_count) for s in samples if s.fd_count is not None]


def out_of_memory(s: Sample) -> bool:
    """Lambda ended the environment over its memory size in this invocation."""
    return s.error_type == OOM


def memory_mb(samples: Sequence[Sample]) -> list[float]:
    """Resident memory of the environment after each invocation, in MB."""
    return [s.rss_bytes / MIB for s in samples if s.rss_bytes is not None]


def memory_trend(seg: Sequence[Sample]) -> Trend:
    """The trend of resident memory in MB (the first invocation, which holds init, left out)."""
    return analyze(memory_mb(seg)[1:])


def memory_leak(seg: Sequence[Sample], size_mb: int | None) -> Trend | None:
    """Memory that grows towards the memory size: the whole run and its second half grow,
    by at least MEMORY_MIN_RATE per invocation, reaching ``size_mb`` within MEMORY_HORIZON
    invocations (a cache that fills and stops does not). Its trend (MB), else None."""
    mb = memory_mb(seg)[1:]
    if not size_mb or len(mb) < 10:
        return None
    t = analyze(mb)
    if not t.leaking or t.rate * MIB < MEMORY_MIN_RATE:
        return None
    late = analyze(mb[len(mb) // 2 :])
    if not (late.significant and late.rate > 0):
        return None
    to_limit = t.invocations_to_limit(size_mb)
    return t if to_limit is not None and to_limit <= MEMORY_HORIZON else None


def reachable(to_limit: int | None, k: int, max_n: int, time: dict[str, float] | None) -> bool:
    """Run on to reproduce a limit ``to_limit`` invocations away? Within ``max_n``, and
    (unless ``time["reproduce"]``) when the invocations left fit in the time budget at the
    recent pace (``time``: ``left`` seconds, ``pace`` seconds per invocation)."""
    if to_limit is None or k + to_limit > max_n:
        return False
    if time is None or time.get("reproduce"):
        return True
    return to_limit * time.get("pace", 0.0) <= time.get("left", float("inf"))


def at_limit(s: Sample, limit: int) -> bool:
    """EMFILE: the invocation has evidence that a descriptor could not be had (the local
    Lambda's ``emfile`` status, decided by the exhaustion table). A count near the limit
    is not EMFILE (:func:`near_limit`); ``limit`` is kept for the callers."""
    return s.status == "emfile"


def full(s: Sample, limit: int) -> bool:
    """One process held every descriptor the (per-process) limit allows (but one): the
    count cannot grow, whether or not an open has failed yet."""
    held = s.fd_process
    return held is not None and held >= limit - 1


def near_limit(s: Sample, limit: int) -> bool:
    """Within the margin of the limit (``fdscope.exhaustion.default_margin``, the monitor's
    ``FDSCOPE_EMFILE_MARGIN`` default) with no EMFILE: a warning, not a failure."""
    held = s.fd_process
    return (
        not at_limit(s, limit)
        and held is not None
        and held >= limit - exhaustion.default_margin(limit)
    )


def first_near_limit(samples: Sequence[Sample], limit: int) -> dict[str, Any] | None:
    """``summary.json``'s ``near_limit``: the first invocation within the margin before any
    EMFILE (None when there is none), with the projection of the trend that led there."""
    for i, s in enumerate(samples):
        if at_limit(s, limit):
            return None  # EMFILE came first: that is the finding
        if near_limit(s, limit):
            count = s.fd_process
            assert count is not None
            before = analyze(process_counts([x for x in samples[: i + 1] if x.stream == s.stream]))
            projected = None
            if before.leaking and before.rate > 0:
                projected = s.invocation + max(1, math.ceil((limit - count) / before.rate))
            return {
                "invocation": s.invocation,
                "count": count,
                "limit": limit,
                "projected_at": projected,
            }
    return None


def process_counts(samples: Sequence[Sample]) -> list[float]:
    """The largest single process's count per invocation (what meets the limit)."""
    return [float(s.fd_process) for s in samples if s.fd_process is not None]


def processes_leak(seg: Sequence[Sample]) -> bool:
    """Processes pile up (each with its own descriptors) while no one process grows."""
    procs = [float(s.processes) for s in seg if s.processes is not None]
    if len(procs) < 3:
        return False
    pt = analyze(procs)
    return pt.leaking and pt.rate >= 0.05 and not analyze(process_counts(seg)).leaking


def thread_trend(seg: Sequence[Sample]) -> Trend:
    return analyze([float(s.threads) for s in seg if s.threads is not None])


def threads_leak(seg: Sequence[Sample]) -> bool:
    """Threads that pile up (Lambda caps them at 1,024) while descriptors may not."""
    th = thread_trend(seg)
    return th.leaking and th.rate >= 0.1


def _only_rises(values: Sequence[float]) -> bool:
    """Warm values (the cold start left out) that never fall and rise at least at every
    other step, by 2 or more in all: what a short run can still call a pile-up."""
    warm = list(values[1:])
    if len(warm) < 2 or any(b < a for a, b in zip(warm, warm[1:], strict=False)):
        return False
    rises = sum(1 for a, b in zip(warm, warm[1:], strict=False) if b > a)
    return rises * 2 >= len(warm) - 1 and warm[-1] - warm[0] >= 2


def short_run_rise(seg: Sequence[Sample]) -> str | None:
    """In a run shorter than MIN_INVOCATIONS, what only rose: ``processes``, ``threads``
    or ``descriptors`` (in that order), else None. The trend cannot be judged that short;
    the evidence is still reported, with the confidence a short run deserves."""
    if len(seg) >= MIN_INVOCATIONS:
        return None
    ok = [s for s in seg if s.status in ("ok", "emfile")]
    procs = [float(s.processes) for s in ok if s.processes is not None]
    if _only_rises(procs) and not _only_rises(process_counts(ok)):
        return "processes"
    if _only_rises([float(s.threads) for s in ok if s.threads is not None]):
        return "threads"
    if _only_rises(process_counts(ok)) or _only_rises(fd_counts(ok)):
        return "descriptors"
    return None


def short_run_confidence(seg: Sequence[Sample]) -> float:
    """A short run's confidence: 0.15 per warm invocation, at most 0.6 (a firm verdict
    needs the trend of MIN_INVOCATIONS)."""
    return round(min(0.6, 0.15 * max(0, len(seg) - 1)), 3)


def rising_floors(counts: Sequence[float]) -> Trend | None:
    """A saw-tooth over a leak: the floor the count keeps coming back to climbs.

    The floor at an invocation is the lowest the count ever comes back to from there
    on (a collection, connections that age out, a pool that trims itself all fall
    back to it), up to the run's last fall (after it the floor is only the tail). It
    leaks when that floor grows significantly, still grows in its second half (a
    cache that fills, then cycles, stops), and rises by at least half of what the
    count itself rose: a collector-bound saw-tooth returns to its baseline, a server
    per invocation whose connections age out keeps its listening sockets. Returns
    the floor's trend (its rate is the leak's), else None.
    """
    body = [float(c) for c in counts[1:]]  # the first invocation carries the cold start
    if len(body) < MIN_INVOCATIONS:
        return None
    falls = [i for i in range(1, len(body)) if body[i] < body[i - 1]]
    if not falls:
        return None
    floor = body[: falls[-1] + 1]
    for i in range(len(floor) - 2, -1, -1):
        floor[i] = min(floor[i], floor[i + 1])
    if len(floor) < MIN_INVOCATIONS:
        return None
    ft = analyze(floor)
    late = analyze(floor[len(floor) // 2 :])
    rise = floor[-1] - floor[0]
    if not (ft.leaking and late.leaking) or rise < 0.5 * (max(body) - floor[0]):
        return None
    return late


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


def _after_limit(samples: Sequence[Sample], limit: int) -> bool | None:
    """After a limit was met (EMFILE, the table full, out of memory): enough once the
    environment restarted and a few invocations ran in the new one, or AFTER_LIMIT
    invocations if it does not restart; None when no limit was met."""
    k = len(samples)
    first_hit = next(
        (
            i
            for i, s in enumerate(samples)
            if at_limit(s, limit) or full(s, limit) or out_of_memory(s)
        ),
        None,
    )
    if first_hit is None:
        return None
    # Near the limit is not a stop: the run goes on to see EMFILE.
    restarted = next((i for i in range(first_hit + 1, k) if samples[i].cold_start), None)
    if restarted is not None:
        return k >= restarted + 3
    return k >= first_hit + AFTER_LIMIT


def _heading_to_a_limit(
    seg: Sequence[Sample], t: Trend, limit: int, size_mb: int | None
) -> tuple[Trend, int | None] | None:
    """A leak of descriptors (``t``) or of memory: its trend and the invocations to the
    limit that comes first (None when none is heading there); None when neither leaks."""
    mt = memory_leak(seg, size_mb)
    to_memory = mt.invocations_to_limit(size_mb) if mt is not None and size_mb else None
    if t.leaking:
        # the limit is per process: reproduce it only when one process is heading there
        # (child processes that pile up never reach it, however many descriptors they hold)
        tp = analyze(process_counts(seg))
        to_limit = tp.invocations_to_limit(limit) if tp.leaking else None
        if to_memory is not None and (to_limit is None or to_memory < to_limit):
            to_limit = to_memory  # memory comes first: that is the limit to reproduce
        return t, to_limit
    if mt is not None:
        return mt, to_memory
    return None


def enough(
    samples: Sequence[Sample],
    limit: int,
    max_n: int,
    *,
    size_mb: int | None = None,
    time: dict[str, float] | None = None,
) -> bool:
    """True when the run so far decides the verdict (see the module docstring).

    A leak heading to a limit (descriptors or ``size_mb`` of memory) is run to it only
    when that is :func:`reachable` within ``max_n`` and the time budget (``time``);
    else the run stops once the trend is clear and the limit is projected.
    """
    k = len(samples)
    if k >= max_n:
        return True
    if k >= 3 and _all_failed(samples):
        return True  # broken: nothing succeeds
    after = _after_limit(samples, limit)
    if after is not None:
        return after
    if k < MIN_INVOCATIONS or k % CHECK_EVERY:
        return False
    seg = segment(samples)
    t = analyze(fd_counts(seg))
    heading = _heading_to_a_limit(seg, t, limit, size_mb)
    if heading is not None:
        trend, to_limit = heading
        if reachable(to_limit, k, max_n, time):
            return False  # reachable within the budget: reproduce it
        return trend.confidence >= 0.8 and k >= 2 * MIN_INVOCATIONS
    if _staircase_pending(fd_counts(segment(samples)), k):
        return False
    floors = rising_floors(process_counts(seg)) if t.drops else None
    if floors is not None:
        # a leak under a saw-tooth: reproduce the limit when it is within the budget
        to_limit = math.ceil((limit - max(process_counts(seg)[-5:])) / floors.rate)
        return not reachable(to_limit, k, max_n, time) and k >= 2 * MIN_INVOCATIONS
    if t.shape == "sawtooth":
        return t.drops >= 3
    if t.drops and k < SAWTOOTH_PATIENCE:
        return False  # a drop or two: wait for the cycles to show
    if t.shape == "plateau":
        # a plateau is trusted when its flat part is long: the last quarter shows no trend
        tail = fd_counts(segment(samples))[-max(20, k // 4) :]
        return k >= 2 * MIN_INVOCATIONS and not analyze(tail).significant
    if t.shape in ("flat", "noisy", "shrinking"):
        # no trend: enough when the second half agrees with the whole
        return not analyze(fd_counts(segment(samples))[k // 2 :]).significant
    return False  # growing but not yet significant, or insufficient


def latency_climb(seg: Sequence[Sample]) -> bool:
    ok = [s.duration_ms for s in seg if s.status in ("ok", "emfile")]
    if len(ok) < 12:
        return False
    from fdscope.metrics import percentile

    q = len(ok) // 4
    early, late = percentile(ok[:q], 50), percentile(ok[-q:], 50)
    return late >= 2 * early and late - early >= 20


def confidence(t: Trend, reproduced: bool, verdict: str) -> float:
    if verdict == "broken":
        return 1.0
    c = t.confidence
    if reproduced:
        c = max(c, 0.95)
    return round(c, 3)


def decide(
    samples: Sequence[Sample],
    *,
    limit: int,
    gc_samples: Sequence[Sample] | None = None,
    size_mb: int | None = None,
) -> tuple[str, Trend, dict[str, Any] | None]:
    """The verdict from the samples alone: (verdict, trend of the first environment, gc check).

    ``gc_samples`` are the samples of a run with a collection after every
    invocation, when one was made.
    """
    if not samples or not any(s.status in ("ok", "emfile") for s in samples):
        return "broken", analyze([]), None
    seg = segment(samples)
    t = analyze(fd_counts(seg))
    reached = any(at_limit(s, limit) or full(s, limit) for s in samples)
    gc: dict[str, Any] | None = None
    gc_cleans = False
    if gc_samples:
        g = analyze(fd_counts(segment(gc_samples)))
        counts = fd_counts(segment(gc_samples))
        a_counts = fd_counts(seg)[: len(counts)]
        a_growth = (max(a_counts) - a_counts[0]) if a_counts else 0.0
        g_growth = (max(counts) - counts[0]) if counts else 0.0
        gc_cleans = not g.leaking and g_growth <= max(2.0, 0.25 * a_growth)
        # reported per process, like the main run's rate and peak (the decision above
        # compares the whole counts of both runs)
        gp_counts = process_counts(segment(gc_samples))
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
    if any(out_of_memory(s) for s in samples) or memory_leak(seg, size_mb):
        return "leak", t, gc  # memory, towards the memory size: see Diagnosis.notes
    if threads_leak(seg):
        return "leak", t, gc  # threads, not descriptors: see Diagnosis.notes
    if not t.leaking and short_run_rise(seg):
        return "leak", t, gc  # a short run's pile-up: low confidence, see Diagnosis.notes
    if t.shape in ("flat", "noisy", "shrinking"):
        return "none", t, gc
    if (t.shape == "sawtooth" or t.drops) and not gc_cleans and rising_floors(process_counts(seg)):
        return "leak", t, gc  # the floors rise: a leak under the saw-tooth
    if t.shape == "sawtooth" or t.drops:
        return ("gc-bound" if gc_cleans or gc_samples is None else "bounded"), t, gc
    if t.shape == "plateau":
        return "bounded", t, gc
    return "none", t, gc
