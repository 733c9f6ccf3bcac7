"""Alarm evaluation with CloudWatch's documented rules, over time, and the what-if sweep.

One evaluation looks at the *evaluation range*: the newest R periods (R > N,
by default N + 2, as in CloudWatch's documented examples), oldest first, each
breaching, not breaching or missing:

1. At least N real datapoints in the range: the newest N real ones decide
   (ALARM when at least M breach, else OK); TreatMissingData plays no part.
2. No real datapoint: ``missing`` -> INSUFFICIENT_DATA, ``ignore`` -> state
   kept, ``breaching`` -> ALARM, ``notBreaching`` -> OK.
3. Fewer than N: every real datapoint is used and N minus that many missing
   periods (the newest ones) are filled: as breaching or not breaching for those
   policies; left missing for ``missing``/``ignore``, where ALARM needs M real
   breaches, or the premature-alarm rule: the oldest real datapoint is breaching,
   is at least M periods old within the N evaluated, and every newer one is
   breaching or missing. ``ignore`` keeps the state where that rule alone would
   alarm.  Otherwise OK.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fdscope.errors import MetricsError
from fdscope.metrics._series import Series, check_period, check_resolution
from fdscope.metrics._stats import Statistic, compute, parse_statistic

OK = "OK"
ALARM = "ALARM"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
STATES = (OK, ALARM, INSUFFICIENT_DATA)
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
_SHORT = {
    ">=": "GreaterThanOrEqualToThreshold",
    ">": "GreaterThanThreshold",
    "<": "LessThanThreshold",
    "<=": "LessThanOrEqualToThreshold",
}


class AlarmError(MetricsError):
    """An alarm setting CloudWatch would reject."""


@dataclass(frozen=True)
class AlarmRule:
    """An alarm's settings, in PutMetricAlarm's terms (period in seconds)."""

    threshold: float
    evaluation_periods: int = 1
    datapoints_to_alarm: int | None = None
    comparison: str = "GreaterThanThreshold"
    treat_missing_data: str = "missing"
    period: int = 60
    statistic: str = "Maximum"
    evaluation_range: int | None = None

    def __post_init__(self) -> None:
        comp = _SHORT.get(self.comparison, self.comparison)
        if comp not in COMPARISONS:
            raise AlarmError(f"comparison {self.comparison!r}: use {', '.join(COMPARISONS)}")
        object.__setattr__(self, "comparison", comp)
        if self.treat_missing_data not in TREATMENTS:
            raise AlarmError(f"TreatMissingData {self.treat_missing_data!r}: use {TREATMENTS}")
        if self.evaluation_periods < 1:
            raise AlarmError("EvaluationPeriods must be at least 1")
        m = self.datapoints_to_alarm
        if m is not None and not 1 <= m <= self.evaluation_periods:
            raise AlarmError("DatapointsToAlarm must be between 1 and EvaluationPeriods")
        if self.period not in (10, 20, 30) and (self.period < 60 or self.period % 60):
            raise AlarmError(f"alarm period {self.period}s: use 10, 20, 30 or a multiple of 60")
        if self.evaluation_range is not None and self.evaluation_range < self.evaluation_periods:
            raise AlarmError("the evaluation range cannot be shorter than EvaluationPeriods")
        if not math.isfinite(self.threshold):
            raise AlarmError("threshold must be a finite number")
        parse_statistic(self.statistic)

    @property
    def m(self) -> int:
        """DatapointsToAlarm (defaults to EvaluationPeriods)."""
        return self.datapoints_to_alarm or self.evaluation_periods

    @property
    def n(self) -> int:
        return self.evaluation_periods

    @property
    def range(self) -> int:
        """Periods CloudWatch looks back over (the evaluation range)."""
        return self.evaluation_range or self.evaluation_periods + 2

    @property
    def step(self) -> int:
        """Seconds between evaluations: each minute, or each period for 10/30 s alarms."""
        return min(self.period, 60)

    def breaches(self, value: float) -> bool:
        """True when ``value`` is on the wrong side of the threshold."""
        return COMPARISONS[self.comparison](value, self.threshold)


def evaluate_range(
    points: Sequence[bool | None],
    n: int,
    m: int,
    treat: str = "missing",
    previous: str = INSUFFICIENT_DATA,
) -> str:
    """The state one evaluation gives; ``points`` oldest first: True breaching, False not, None missing."""
    real = [i for i, p in enumerate(points) if p is not None]
    r = len(real)
    if r >= n:
        return ALARM if sum(1 for i in real[-n:] if points[i]) >= m else OK
    if r == 0:
        return {"missing": INSUFFICIENT_DATA, "ignore": previous, "breaching": ALARM}.get(treat, OK)
    bad = sum(1 for i in real if points[i])
    fill = n - r
    if treat == "breaching":
        return ALARM if bad + fill >= m else OK
    if bad >= m:
        return ALARM
    if treat == "notBreaching":
        return OK
    if bad == r:
        # premature alarm: the evaluated N are the real points plus the newest missing periods
        missing_slots = [i for i, p in enumerate(points) if p is None]
        evaluated = sorted(real + missing_slots[len(missing_slots) - fill :])
        age = n - evaluated.index(real[0])
        if age >= m:
            return ALARM if treat == "missing" else previous
    return OK


def evaluate_sequence(
    points: Sequence[bool | None], rule: AlarmRule, initial: str = INSUFFICIENT_DATA
) -> list[str]:
    """The state after each period of ``points`` (periods before the first are missing)."""
    rng = rule.range
    state = initial
    out = []
    window: list[bool | None] = [None] * rng
    for p in points:
        window = window[1:] + [p]
        state = evaluate_range(window, rule.n, rule.m, rule.treat_missing_data, state)
        out.append(state)
    return out


@dataclass(frozen=True)
class Evaluation:
    """One evaluation: ``time`` (ms) is the end of the newest period; ``value`` its statistic."""

    time: int
    state: str
    value: float | None


@dataclass(frozen=True)
class Transition:
    """A change of state at ``time`` (ms)."""

    time: int
    old: str
    new: str


@dataclass(frozen=True)
class AlarmHistory:
    """What the alarm would have shown: the state at each evaluation, and the changes."""

    rule: AlarmRule
    evaluations: list[Evaluation] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)

    @property
    def alarms(self) -> int:
        """How many times the alarm went into ALARM."""
        return sum(1 for t in self.transitions if t.new == ALARM)

    def alarm_ranges(self) -> list[tuple[int, int]]:
        """(start, end) ms of each stretch in ALARM (end = the next evaluation out of it)."""
        out = []
        start: int | None = None
        step = self.rule.step * 1000
        for ev in self.evaluations:
            if ev.state == ALARM and start is None:
                start = ev.time
            elif ev.state != ALARM and start is not None:
                out.append((start, ev.time))
                start = None
        if start is not None and self.evaluations:
            out.append((start, self.evaluations[-1].time + step))
        return out

    def time_in_alarm(self) -> float:
        """Fraction of evaluations in ALARM (0 when there are none)."""
        if not self.evaluations:
            return 0.0
        return sum(1 for e in self.evaluations if e.state == ALARM) / len(self.evaluations)


def window_values(
    series: Series,
    statistic: str | Statistic,
    period: int,
    step: int,
    *,
    start: int | None = None,
    end: int | None = None,
    after: int = 0,
) -> tuple[list[int], list[float | None]]:
    """Statistic over each period ``[t - period, t)`` for ``t`` every ``step`` s.

    Returns (times t in ms, values, None where the period has no samples).
    ``t`` runs from the first period end after the first sample (or ``start``)
    to the end of the period of the last sample plus ``after`` periods (or to
    ``end``).
    """
    check_period(step)
    check_resolution(series, period)
    st = parse_statistic(statistic) if isinstance(statistic, str) else statistic
    if period % step:
        raise MetricsError("period must be a multiple of the evaluation step")
    s_ms, p_ms = step * 1000, period * 1000
    k = period // step
    # base buckets of one step each
    base: dict[int, tuple[list[float], list[float]]] = {}
    for ts, v, c in zip(series.timestamps, series.values, series.counts, strict=True):
        b = ts - ts % s_ms
        slot = base.get(b)
        if slot is None:
            base[b] = ([v], [c])
        else:
            slot[0].append(v)
            slot[1].append(c)
    if not base:
        return [], []
    first = min(base) + s_ms if start is None else start - start % s_ms
    last = max(base) + s_ms + after * p_ms if end is None else end - end % s_ms
    times = list(range(first, last + 1, s_ms))
    basic = st.kind in ("SampleCount", "Sum", "Average", "Minimum", "Maximum")
    values: list[float | None] = []
    if k == 1:
        for t in times:
            slot = base.get(t - s_ms)
            values.append(compute(st, slot[0], slot[1]) if slot else None)
        return times, values
    if basic:
        parts = {b: _partial(vs, cs) for b, (vs, cs) in base.items()}
    for t in times:
        keys = [b for b in range(t - p_ms, t, s_ms) if b in base]
        if not keys:
            values.append(None)
        elif basic:
            values.append(_combine(st.kind, [parts[b] for b in keys]))
        else:
            vals = [v for b in keys for v in base[b][0]]
            cnts = [c for b in keys for c in base[b][1]]
            values.append(compute(st, vals, cnts))
    return times, values


def _partial(vs: list[float], cs: list[float]) -> tuple[float, float, float, float]:
    live = [v for v, c in zip(vs, cs, strict=True) if c > 0]
    lo = min(live) if live else math.inf
    hi = max(live) if live else -math.inf
    return math.fsum(cs), math.fsum(v * c for v, c in zip(vs, cs, strict=True)), lo, hi


def _combine(kind: str, parts: list[tuple[float, float, float, float]]) -> float | None:
    n = math.fsum(p[0] for p in parts)
    if n <= 0:
        return None
    if kind == "SampleCount":
        return n
    total = math.fsum(p[1] for p in parts)
    if kind == "Sum":
        return total
    if kind == "Average":
        return total / n
    if kind == "Minimum":
        return min(p[2] for p in parts)
    return max(p[3] for p in parts)


def history_from_values(
    times: Sequence[int], values: Sequence[float | None], rule: AlarmRule
) -> AlarmHistory:
    """Run ``rule`` over period values (one per evaluation ``time``), as the alarm would."""
    states = evaluate_sequence([None if v is None else rule.breaches(v) for v in values], rule)
    evaluations = [Evaluation(t, s, v) for t, s, v in zip(times, states, values, strict=True)]
    transitions = []
    prev = INSUFFICIENT_DATA
    for ev in evaluations:
        if ev.state != prev:
            transitions.append(Transition(ev.time, prev, ev.state))
            prev = ev.state
    return AlarmHistory(rule, evaluations, transitions)


def evaluate(
    series: Series, rule: AlarmRule, *, start: int | None = None, end: int | None = None
) -> AlarmHistory:
    """Evaluate ``rule`` over a recorded series every minute (every period for 10/30 s alarms).

    Each evaluation looks at periods ending at its time, so for periods above a
    minute they overlap, as in CloudWatch.  Evaluations run up to ``end``, or
    without it until the last sample has left the evaluation range (its period
    plus ``rule.range`` periods): CloudWatch goes on evaluating after a function
    falls silent, and TreatMissingData decides those evaluations.  Returns the
    state timeline and its transitions (the alarm starts in INSUFFICIENT_DATA).
    """
    times, values = window_values(
        series, rule.statistic, rule.period, rule.step, start=start, end=end, after=rule.range
    )
    return _history_with_stride(times, values, rule)


def _history_with_stride(
    times: Sequence[int], values: Sequence[float | None], rule: AlarmRule
) -> AlarmHistory:
    # evaluation ranges are whole periods back from each evaluation time
    k = rule.period // rule.step
    if k == 1:
        return history_from_values(times, values, rule)
    rng = rule.range
    state = INSUFFICIENT_DATA
    evaluations = []
    transitions = []
    for i, t in enumerate(times):
        pts: list[bool | None] = []
        for j in range(rng - 1, -1, -1):
            idx = i - j * k
            v = values[idx] if idx >= 0 else None
            pts.append(None if v is None else rule.breaches(v))
        new = evaluate_range(pts, rule.n, rule.m, rule.treat_missing_data, state)
        if new != state:
            transitions.append(Transition(t, state, new))
        state = new
        evaluations.append(Evaluation(t, state, values[i]))
    return AlarmHistory(rule, evaluations, transitions)


@dataclass(frozen=True)
class SweepRow:
    """One what-if setting and how often the alarm would have fired with it."""

    threshold: float
    datapoints_to_alarm: int
    evaluation_periods: int
    alarms: int
    alarms_per_day: float
    time_in_alarm: float
    # the evaluated time the rate comes from (evaluations x step): under a day,
    # alarms_per_day is an extrapolation (see sweep_caveat)
    span_seconds: float = 0.0
    evaluations: int = 0
    data_seconds: float = 0.0  # the periods from the first datapoint in the window to the last


def sweep_caveat(rows: Sequence[SweepRow], period: int) -> str | None:
    """What a sweep over less than a day of data cannot tell, in words; None from a day on."""
    if not rows:
        return "no data in the window: nothing to sweep"
    span = rows[0].span_seconds
    if span >= 86_400:
        return None
    if span <= 0:
        return "no evaluation in the window: the rates are not measured"
    data = _duration(rows[0].data_seconds or span)
    evaluated = _duration(span)
    worst = max(rows, key=lambda r: r.alarms_per_day)
    return (
        f"only {data} of data ({rows[0].evaluations} evaluations of {period} s over "
        f"{evaluated}): alarms/day is those {evaluated} scaled to a day (x{86_400 / span:,.0f}: "
        f"1 alarm reads as {86_400 / span:,.0f}/day, the highest here "
        f"{worst.alarms_per_day:g}/day); it cannot tell a rate below 1 per {evaluated} "
        "(0 alarms is not 0 a day), nor the daily and weekly cycles (peaks, deploys, batch "
        "jobs) it has not seen; record a day or more"
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7_200:
        return f"{seconds / 60:.0f} minutes"
    return f"{round(seconds / 3_600, 1):g} hours"


def default_thresholds(values: Iterable[float | None]) -> list[float]:
    """Candidate thresholds: p50, p75, p90, p95, p99, p99.9 and the maximum of period values."""
    from fdscope.metrics._percentile import percentile

    vals = [v for v in values if v is not None]
    if not vals:
        return []
    return sorted({percentile(vals, p) for p in (50, 75, 90, 95, 99, 99.9, 100)})


def sweep(
    series: Series,
    rule: AlarmRule,
    thresholds: Sequence[float] | None = None,
    settings: Sequence[tuple[int, int]] | None = None,
    *,
    start: int | None = None,
    end: int | None = None,
    extra_thresholds: Sequence[float] = (),
) -> list[SweepRow]:
    """How often ``rule`` would have fired at each threshold and (M, N) over the series.

    ``settings`` are (DatapointsToAlarm, EvaluationPeriods) pairs (default the
    rule's own); ``thresholds`` default to :func:`default_thresholds`, and
    ``extra_thresholds`` (the user's ``--threshold``) are always tried too.  Rates are
    per day of evaluated time, which runs as in :func:`evaluate` (for the widest
    evaluation range among the settings).  Raises AlarmError for an invalid setting.
    """
    settings = settings or [(rule.m, rule.n)]
    widest = max(max(rule.range, n) if rule.evaluation_range else n + 2 for _, n in settings)
    times, values = window_values(
        series, rule.statistic, rule.period, rule.step, start=start, end=end, after=widest
    )
    if thresholds is None:
        thresholds = default_thresholds(values)
    thresholds = sorted({*thresholds, *extra_thresholds})
    seen = [
        t for t in series.timestamps if (start is None or t >= start) and (end is None or t < end)
    ]
    p = rule.period * 1000
    data_s = ((max(seen) // p - min(seen) // p + 1) * rule.period) if seen else 0
    span_days = (len(times) * rule.step) / 86_400 if times else 0.0
    rows = []
    for m, n in settings:
        for th in thresholds:
            r = AlarmRule(
                threshold=th,
                evaluation_periods=n,
                datapoints_to_alarm=m,
                comparison=rule.comparison,
                treat_missing_data=rule.treat_missing_data,
                period=rule.period,
                statistic=rule.statistic,
                evaluation_range=None if rule.evaluation_range is None else max(rule.range, n),
            )
            h = _history_with_stride(times, values, r)
            rows.append(
                SweepRow(
                    th,
                    m,
                    n,
                    h.alarms,
                    h.alarms / span_days if span_days else 0.0,
                    h.time_in_alarm(),
                    span_days * 86_400,
                    len(times),
                    float(data_s),
                )
            )
    return rows


def history_from_buckets(
    buckets: Sequence[Any], rule: AlarmRule, *, start: int | None = None, end: int | None = None
) -> AlarmHistory:
    """Run ``rule`` over per-period buckets (e.g. from the bulk path), gaps as missing.

    Needs buckets of ``rule.period`` seconds with ``rule.statistic`` computed,
    and a period of at most 60 s (longer periods slide each minute: use
    :func:`evaluate` on the series).  Evaluations run over ``[start, end]`` as
    in :func:`evaluate` (without ``end``, until the last bucket has left the
    evaluation range).  Raises AlarmError otherwise.
    """
    if rule.period > 60:
        raise AlarmError("bucket evaluation needs a period of at most 60 s; use evaluate()")
    name = parse_statistic(rule.statistic).name
    if not buckets:
        return AlarmHistory(rule)
    p = rule.period * 1000
    by_start = {b.start: b.stats.get(name) for b in buckets}
    first = min(by_start) + p if start is None else start - start % p
    last = max(by_start) + p + rule.range * p if end is None else end - end % p
    times = list(range(first, last + 1, p))
    values = [by_start.get(t - p) for t in times]
    return history_from_values(times, values, rule)
