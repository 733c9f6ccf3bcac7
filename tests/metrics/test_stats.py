"""CloudWatch statistics against plain-Python references; names; bounds; period buckets."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fdscope.errors import MetricsError
from fdscope.metrics import (
    Series,
    SeriesKey,
    StatisticError,
    aggregate,
    bucket_start,
    check_period,
    compute,
    parse_statistic,
    percentile,
)

values_st = st.lists(st.integers(-1000, 1000).map(float), min_size=1, max_size=50)


def ref_nearest(vals: list[float], p: float) -> float:
    s = sorted(vals)
    k = math.ceil(Fraction(repr(float(p))) * len(s) / 100)
    return s[max(k, 1) - 1]


@given(values_st)
def test_basic_statistics_match_plain_python(vals: list[float]) -> None:
    assert compute("SampleCount", vals) == len(vals)
    assert compute("Sum", vals) == sum(vals)
    assert compute("Minimum", vals) == min(vals)
    assert compute("Maximum", vals) == max(vals)
    assert compute("Average", vals) == pytest.approx(sum(vals) / len(vals))
    assert compute("p90", vals) == ref_nearest(vals, 90)
    assert compute("p99.9", vals) == ref_nearest(vals, 99.9)


def ref_trim(vals: list[float], lo_p: int, hi_p: int) -> tuple[list[float], list[float]]:
    """(kept, winsorized) by CloudWatch's wording, straight on the sorted list.

    CloudWatch statistics definitions (docs.aws.amazon.com/AmazonCloudWatch/latest/
    monitoring/Statistics-definitions.html): "TM(2%:98%) calculates the average after
    removing the lowest 2% of data points and the highest 2%"; "WM(10%:90%) calculates
    the average while treating the highest 10% of data points as the value of the 90%
    boundary, and treating the lowest 10% of data points as the value of the 10%
    boundary".  A data point is removed when it lies wholly in the removed share: the
    lowest floor(n*a/100) and the highest n - ceil(n*b/100), counted by rank (ties too).
    """
    s = sorted(vals)
    n = len(s)
    lo, hi = n * lo_p // 100, -(-n * hi_p // 100)
    kept = s[lo:hi]
    if not kept:
        return [], []
    return kept, [kept[0]] * lo + kept + [kept[-1]] * (n - hi)


@given(values_st, st.integers(0, 100), st.integers(0, 100))
def test_percent_bounded_statistics_match_plain_python(vals: list[float], a: int, b: int) -> None:
    lo_p, hi_p = sorted((a, b))
    inside, winsorized = ref_trim(vals, lo_p, hi_p)
    name = f"({lo_p}%:{hi_p}%)"
    assert compute("TC" + name, vals) == len(inside)
    assert compute("TS" + name, vals) == sum(inside)
    tm = compute("TM" + name, vals)
    assert (tm is None) if not inside else tm == pytest.approx(sum(inside) / len(inside))
    wm = compute("WM" + name, vals)
    assert (wm is None) if not inside else wm == pytest.approx(sum(winsorized) / len(vals))


@given(
    st.lists(st.tuples(st.integers(-50, 50), st.integers(0, 6)), min_size=1, max_size=20),
    st.sampled_from(["TM(10%:90%)", "IQM", "WM(5%:95%)", "TC(20%:70%)", "TS(:90%)", "tm99"]),
)
def test_percent_bounds_count_weighted_samples(pairs: list[tuple[int, int]], name: str) -> None:
    # Values/Counts: a count of k is k data points in the trimming too
    vals, counts = [float(v) for v, _ in pairs], [float(c) for _, c in pairs]
    expanded = [v for v, c in pairs for _ in range(c)]
    got = compute(name, vals, counts)
    want = compute(name, [float(v) for v in expanded]) if expanded else None
    assert got == pytest.approx(want) if want is not None else got is None


@pytest.mark.parametrize(
    ("values", "counts", "stat", "expected"),
    [
        # the reviewer's hand computation: 10x1, 20x8, 30x1, 1000x10 (n=20): TM(10%:90%)
        # drops 10 and one 20 below, two 1000s above: (7*20 + 30 + 8*1000) / 16
        ([10, 20, 30, 1000], [1, 8, 1, 10], "TM(10%:90%)", 510.625),
        # IQM keeps ranks 6..15: (4*20 + 30 + 5*1000) / 10
        ([10, 20, 30, 1000], [1, 8, 1, 10], "IQM", 511.0),
        # 10..100 plus 1000 (n=11): 1.1 points a side, so one is removed from each end
        ([*range(10, 101, 10), 1000], None, "TM(10%:90%)", 60.0),
        ([5] * 10, None, "TM(10%:90%)", 5.0),  # a constant period keeps its value
        ([5] * 10, None, "IQM", 5.0),
        ([7], None, "IQM", 7.0),  # one sample: nothing is wholly in the trimmed shares
        ([7], None, "TM(10%:90%)", 7.0),
        ([7], None, "WM(10%:90%)", 7.0),
        ([7], None, "TC(10%:90%)", 1.0),
        ([1, 1, 1, 1], None, "IQM", 1.0),  # a Count metric of 1s
        # WM: the two lowest become the lowest kept (3), the two highest the highest (8)
        (list(range(1, 11)), None, "WM(20%:80%)", (3 + 3 + 3 + 4 + 5 + 6 + 7 + 8 + 8 + 8) / 10),
    ],
)
def test_percent_bounds_hand_computed(
    values: list[float], counts: list[float] | None, stat: str, expected: float
) -> None:
    assert compute(stat, values, counts) == pytest.approx(expected)


@given(values_st, st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_absolute_bounds_and_percentile_rank(vals: list[float], a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    inside = [v for v in vals if lo < v <= hi]
    assert compute(f"TC({lo}:{hi})", vals) == len(inside)
    assert compute(f"PR({lo}:{hi})", vals) == pytest.approx(100 * len(inside) / len(vals))
    assert compute(f"PR(:{hi})", vals) == pytest.approx(
        100 * sum(1 for v in vals if v <= hi) / len(vals)
    )


def test_bound_rules_lower_exclusive_upper_inclusive() -> None:
    vals = [100.0, 150.0, 200.0, 1000.0, 1001.0]
    # absolute: 150 is out (lower exclusive), 1000 is in (upper inclusive)
    assert compute("TC(150:1000)", vals) == 2
    assert compute("TM(150:1000)", vals) == 600.0
    assert compute("PR(100:200)", vals) == 40.0  # 150 and 200 of five
    # percent: the lowest 20% of 5 samples is one (100), the highest 40% two
    assert compute("TC(20%:60%)", vals) == 2
    assert compute("TS(20%:60%)", vals) == 350.0
    # a 0% lower bound removes nothing
    assert compute("TC(0%:60%)", vals) == 3 == compute("tc60", vals)
    # percent and absolute give different answers on the same numbers
    assert compute("TC(20:60)", vals) == 0
    # IQM is TM(25%:75%)
    many = [float(x) for x in range(1, 101)]
    assert compute("IQM", many) == compute("TM(25%:75%)", many) == 50.5
    # WM clamps instead of dropping
    assert compute("WM(:80%)", [1.0, 2.0, 3.0, 4.0, 100.0]) == (1 + 2 + 3 + 4 + 4) / 5


def test_counts_weight_values() -> None:
    vals, counts = [1.0, 10.0], [9.0, 1.0]
    assert compute("SampleCount", vals, counts) == 10
    assert compute("Sum", vals, counts) == 19
    assert compute("Average", vals, counts) == 1.9
    assert compute("p90", vals, counts) == 1.0 == percentile(vals, 90, counts)
    assert compute("p91", vals, counts) == 10.0
    assert compute("TC(:5)", vals, counts) == 9


@pytest.mark.parametrize(
    ("name", "canonical", "kind"),
    [
        ("average", "Average", "Average"),  # case-insensitive basic names
        ("p99.9999999999", "p99.9999999999", "p"),  # ten decimals
        ("tm90", "tm90", "TM"),  # short form = TM(:90%)
        ("TM(2%:98%)", "TM(2%:98%)", "TM"),
        ("wm98", "wm98", "WM"),
        ("PR(:300)", "PR(:300)", "PR"),
        ("ts(10%:)", "TS(10%:)", "TS"),
        ("IQM", "IQM", "TM"),
    ],
)
def test_statistic_names(name: str, canonical: str, kind: str) -> None:
    s = parse_statistic(name)
    assert (s.name, s.kind) == (canonical, kind)


@pytest.mark.parametrize(
    "name",
    [
        "p100.1",  # above 100
        "p99.12345678901",  # eleven decimals
        "PR(10%:90%)",  # PR is absolute only
        "TM(10%:900)",  # mixed kinds
        "TM(:)",  # no bound
        "TM(90%:10%)",  # inverted
        "Median",  # not a CloudWatch statistic
    ],
)
def test_bad_statistic_names(name: str) -> None:
    with pytest.raises(StatisticError):
        parse_statistic(name)


@pytest.mark.parametrize("period", [1, 5, 10, 30, 60, 300, 3600])
def test_accepted_periods(period: int) -> None:
    assert check_period(period) == period


@pytest.mark.parametrize("period", [0, 2, 45, 90, -60])
def test_rejected_periods(period: int) -> None:
    with pytest.raises(MetricsError):
        check_period(period)


@given(
    st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 100)), min_size=1, max_size=200),
    st.sampled_from([1, 5, 10, 30, 60, 120, 300]),
)
def test_bucketing_never_loses_or_double_counts(points: list[tuple[int, int]], period: int) -> None:
    t0 = 1_767_225_600_000
    points = sorted(points)
    s = Series(
        SeriesKey("ns", "m"),
        [t0 + t for t, _ in points],
        [float(v) for _, v in points],
        [1.0] * len(points),
    )
    buckets = aggregate(s, period, ["SampleCount", "Sum", "Maximum"])
    assert sum(b.sample_count for b in buckets) == len(points)
    assert sum(b.stats["Sum"] for b in buckets) == sum(v for _, v in points)
    starts = [b.start for b in buckets]
    assert starts == sorted(set(starts))  # one bucket per period, in order
    for b in buckets:
        assert b.start % (period * 1000) == 0  # stamped with the start
        mine = [v for t, v in points if bucket_start(t0 + t, period) == b.start]
        assert b.sample_count == len(mine) and b.stats["Maximum"] == max(mine)


def test_a_period_of_counts_zero_is_no_datapoint() -> None:
    t0 = 1_767_225_600_000
    s = Series(SeriesKey("ns", "m"), [t0, t0 + 10_000], [5.0, 7.0], [2.0, 0.0])
    buckets = aggregate(s, 10, ["SampleCount", "Maximum"])
    assert [(b.start, b.sample_count) for b in buckets] == [(t0, 2.0)]
