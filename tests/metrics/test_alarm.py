"""Alarm evaluation: CloudWatch's documented table, premature ALARM, timelines, the sweep."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fdscope.errors import MetricsError
from fdscope.metrics import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    AlarmRule,
    Series,
    SeriesKey,
    evaluate,
    evaluate_range,
    evaluate_sequence,
    sweep,
)

from .alarm_reference import KEEP, reference_state, reference_timeline

POLICIES = ("missing", "ignore", "breaching", "notBreaching")
SYM = {"X": True, "0": False, "-": None}
INS = INSUFFICIENT_DATA

# (N, M, points oldest->newest, states for missing / ignore / breaching / notBreaching)
DOCUMENTED = [
    (3, 3, "0-X-X", (OK, OK, OK, OK)),  # three real points, two breaching: not 3 of 3
    (3, 3, "0----", (OK, OK, OK, OK)),  # one good point plus two filled: never 3 breaching
    (3, 3, "-----", (INS, KEEP, ALARM, OK)),  # nothing at all: the policy decides alone
    (3, 3, "0XX-X", (ALARM, ALARM, ALARM, ALARM)),  # the newest three real points breach
    (3, 3, "--X--", (ALARM, KEEP, ALARM, OK)),  # premature ALARM: old enough, rest missing
    (3, 2, "0-X-X", (ALARM, ALARM, ALARM, ALARM)),  # 2 of the 3 real points breach
    (3, 2, "00X0X", (ALARM, ALARM, ALARM, ALARM)),  # 2 of the newest 3 breach
    (3, 2, "0-X--", (OK, OK, ALARM, OK)),  # one filled point: breaching makes it 2
    (3, 2, "----0", (OK, OK, ALARM, OK)),  # two filled points: breaching makes it 2
    (3, 2, "---X-", (ALARM, KEEP, ALARM, OK)),  # premature ALARM for 2 of 3
]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize(("n", "m", "points", "expected"), DOCUMENTED)
def test_documented_table(n: int, m: int, points: str, expected: tuple, policy: str) -> None:
    want = expected[POLICIES.index(policy)]
    for previous in (OK, ALARM, INSUFFICIENT_DATA):
        got = evaluate_range([SYM[c] for c in points], n, m, policy, previous)
        assert got == (previous if want == KEEP else want)


@pytest.mark.parametrize(("n", "m", "points", "expected"), DOCUMENTED)
def test_reference_agrees_with_the_documented_table(
    n: int, m: int, points: str, expected: tuple
) -> None:
    for policy, want in zip(POLICIES, expected, strict=True):
        got = reference_state(points, n, m, policy, "PREVIOUS")
        assert got == ("PREVIOUS" if want == KEEP else want)


def test_worked_case_alarm_before_m_breaches() -> None:
    # 3 of 3, missing data missing, a rarely invoked function: one good period, silence,
    # one breach, silence. While the breach is 1 and 2 periods old the alarm waits; once
    # it is 3 periods old with nothing newer it goes to ALARM on a single breach.
    rule = AlarmRule(threshold=100, evaluation_periods=3, datapoints_to_alarm=3)
    points = [False, None, None, None, None, True, None, None]
    states = evaluate_sequence(points, rule)
    assert states == [OK, OK, OK, OK, OK, OK, OK, ALARM]
    assert sum(1 for p in points if p) < rule.m
    # the same under notBreaching never alarms, under ignore it keeps OK
    assert (
        evaluate_sequence(points, AlarmRule(100, 3, 3, treat_missing_data="notBreaching"))[-1] == OK
    )
    assert evaluate_sequence(points, AlarmRule(100, 3, 3, treat_missing_data="ignore"))[-1] == OK


symbols = st.text(alphabet="X0-", min_size=1, max_size=40)
nm = st.integers(1, 6).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n)))


@settings(max_examples=300, deadline=None)
@given(symbols, nm, st.sampled_from(POLICIES), st.integers(0, 3))
def test_timeline_matches_brute_force(points: str, n_m: tuple, policy: str, extra: int) -> None:
    n, m = n_m
    rng = n + extra
    rule = AlarmRule(
        threshold=0.5,
        evaluation_periods=n,
        datapoints_to_alarm=m,
        treat_missing_data=policy,
        evaluation_range=rng,
    )
    got = evaluate_sequence([SYM[c] for c in points], rule)
    assert got == reference_timeline(points, n, m, policy, rng)


def _series(values: list[float | None], period_s: int = 60, t0: int = 1_767_225_600_000) -> Series:
    ts, vs = [], []
    for i, v in enumerate(values):
        if v is not None:
            ts += [t0 + i * period_s * 1000 + 1000, t0 + i * period_s * 1000 + 2000]
            vs += [v / 2, v]  # Maximum of each period is v
    return Series(SeriesKey("fdscope", "duration"), ts, vs, [1.0] * len(vs))


def test_evaluate_over_a_recorded_series_gives_the_timeline_and_transitions() -> None:
    vals: list[float | None] = [10, 10, 200, 250, 300, 10, None, None, None, None, None, 10]
    rule = AlarmRule(threshold=100, evaluation_periods=3, datapoints_to_alarm=3)
    h = evaluate(_series(vals), rule)
    states = [e.state for e in h.evaluations]
    # without an end, evaluation goes on until the last datapoint has left the
    # evaluation range (R = N + 2 = 5 more minutes)
    padded = vals + [None] * 5
    expected = evaluate_sequence([None if v is None else v > 100 for v in padded], rule)
    assert states == expected
    # 200, 250, 300 are 3 of 3; the good 10 ends it; five silent minutes are INSUFFICIENT
    assert states[3:6] == [OK, ALARM, OK] and states[10:12] == [INSUFFICIENT_DATA, OK]
    assert states[-1] == INSUFFICIENT_DATA  # silent again after the last 10
    assert [(t.old, t.new) for t in h.transitions] == [
        (INSUFFICIENT_DATA, OK),
        (OK, ALARM),
        (ALARM, OK),
        (OK, INSUFFICIENT_DATA),
        (INSUFFICIENT_DATA, OK),
        (OK, INSUFFICIENT_DATA),
    ]
    t0 = h.evaluations[0].time  # the end of the first minute
    assert h.alarm_ranges() == [(t0 + 4 * 60_000, t0 + 5 * 60_000)]
    assert h.alarms == 1


# docs/metrics.md's worked case: one good minute, four silent, one slow, then silence
WORKED: list[float | None] = [10, None, None, None, None, 500]


@pytest.mark.parametrize(
    ("policy", "final"),
    [("missing", ALARM), ("breaching", ALARM), ("notBreaching", OK), ("ignore", OK)],
)
def test_replay_goes_on_after_the_function_falls_silent(policy: str, final: str) -> None:
    rule = AlarmRule(threshold=100, evaluation_periods=3, treat_missing_data=policy)
    h = evaluate(_series(WORKED), rule)
    t_slow_end = h.evaluations[0].time + 5 * 60_000  # the end of the slow minute
    # evaluated until the slow minute has left the 5-period range
    assert h.evaluations[-1].time == t_slow_end + 5 * 60_000
    if policy == "missing":  # ALARM on one breach, three minutes after it ("--X--")
        assert [(t.time, t.new) for t in h.transitions][-2:] == [
            (t_slow_end + 2 * 60_000, ALARM),
            (t_slow_end + 5 * 60_000, INSUFFICIENT_DATA),
        ]
    assert final in {e.state for e in h.evaluations if e.time > t_slow_end}


def test_replay_runs_to_the_requested_end() -> None:
    rule = AlarmRule(threshold=100, evaluation_periods=3, treat_missing_data="breaching")
    s = _series([10.0])
    end = s.timestamps[0] - s.timestamps[0] % 60_000 + 30 * 60_000
    h = evaluate(s, rule, end=end)
    assert h.evaluations[-1].time == end and h.evaluations[-1].state == ALARM


def test_five_minute_period_slides_each_minute() -> None:
    # one breaching sample at minute 2; with 5-minute periods evaluated each minute it
    # is in the newest period for the 5 evaluations that cover minute 2
    t0 = 1_767_225_600_000
    ts = [t0 + i * 60_000 for i in range(12)]
    vs = [500.0 if i == 2 else 1.0 for i in range(12)]
    s = Series(SeriesKey("ns", "m"), ts, vs, [1.0] * 12)
    h = evaluate(s, AlarmRule(threshold=100, evaluation_periods=1, period=300))
    alarm_times = [e.time for e in h.evaluations if e.state == ALARM]
    assert alarm_times == [t0 + k * 60_000 for k in range(3, 8)]


def test_sweep_counts_alarms_per_day() -> None:
    # a day of minutes, a spike of 3 bad minutes every 2 hours
    vals: list[float | None] = [10.0] * 1440
    for start in range(60, 1440, 120):
        for k in range(3):
            vals[start + k] = 500.0
    rows = sweep(_series(vals), AlarmRule(threshold=100, evaluation_periods=3), [100, 1000])
    by_th = {r.threshold: r for r in rows}
    assert by_th[100].alarms == 12 and abs(by_th[100].alarms_per_day - 12) < 0.1
    assert by_th[1000].alarms == 0
    rows = sweep(_series(vals), AlarmRule(threshold=100), [100], settings=[(4, 5), (1, 1)])
    assert [r.alarms for r in rows] == [0, 12]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"evaluation_periods": 0},  # N must be >= 1
        {"evaluation_periods": 2, "datapoints_to_alarm": 3},  # M > N
        {"comparison": "Bigger"},  # unknown operator
        {"treat_missing_data": "skip"},  # unknown policy
        {"period": 45},  # not 10, 30 or n*60
        {"statistic": "p101"},  # not a statistic
    ],
)
def test_invalid_rules_raise(kwargs: dict) -> None:
    with pytest.raises(MetricsError):
        AlarmRule(threshold=1, **kwargs)


def test_comparison_operators() -> None:
    assert AlarmRule(5, comparison=">=").breaches(5)
    assert not AlarmRule(5, comparison=">").breaches(5)
    assert AlarmRule(5, comparison="LessThanThreshold").breaches(4)
    assert AlarmRule(5, comparison="<=").breaches(5)


def _brute_history(samples: list[tuple[int, float]], rule: AlarmRule, times: list[int]) -> list:
    """At each evaluation time, each of the newest R periods straight from the raw samples."""
    from fdscope.metrics import compute

    from .alarm_reference import reference_state

    p = rule.period * 1000
    state = INSUFFICIENT_DATA
    out = []
    for t in times:
        symbols = ""
        for j in range(rule.range, 0, -1):
            lo, hi = t - j * p, t - (j - 1) * p
            vals = [v for ts, v in samples if lo <= ts < hi]
            value = compute(rule.statistic, vals) if vals else None
            symbols += "-" if value is None else ("X" if rule.breaches(value) else "0")
        state = reference_state(symbols, rule.n, rule.m, rule.treat_missing_data, state)
        out.append(state)
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40 * 60_000), st.integers(0, 20)), max_size=40),
    st.sampled_from([60, 120, 300]),
    st.sampled_from(["Maximum", "Sum", "p90", "SampleCount"]),
    nm,
    st.sampled_from(POLICIES),
)
def test_evaluate_over_time_matches_brute_force(
    raw: list[tuple[int, int]], period: int, stat: str, n_m: tuple, policy: str
) -> None:
    t0 = 1_767_225_600_000
    samples = sorted((t0 + t, float(v)) for t, v in raw)
    s = Series(
        SeriesKey("ns", "m"),
        [t for t, _ in samples],
        [v for _, v in samples],
        [1.0] * len(samples),
    )
    n, m = n_m
    rule = AlarmRule(
        threshold=10, evaluation_periods=n, datapoints_to_alarm=m, period=period,
        statistic=stat, treat_missing_data=policy,
    )  # fmt: skip
    h = evaluate(s, rule)
    times = [e.time for e in h.evaluations]
    if samples:
        assert times[0] == samples[0][0] - samples[0][0] % 60_000 + 60_000  # first minute end
        assert all(b - a == 60_000 for a, b in zip(times, times[1:], strict=False))
    assert [e.state for e in h.evaluations] == _brute_history(samples, rule, times)
