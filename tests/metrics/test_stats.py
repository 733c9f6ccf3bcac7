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


@given(values_st, st.integers(0, 100), st.integers(0, 100))
def test_percent_bounded_statistics_match_plain_python(vals: list[float], a: int, b: int) -> None:
    lo_p, hi_p = sorted((a, b))
    lo = None if lo_p == 0 else ref_nearest(vals, lo_p)
    hi = ref_nearest(vals, hi_p)
    inside = [v for v in vals if (lo is None or v > lo) and v <= hi]
    name = f"({lo_p}%:{hi_p}%)"
    assert compute("TC" + name, vals) == len(inside)
    assert compute("TS" + name, vals) == sum(inside)
    tm = compute("TM" + name, vals)
    assert (tm is None) if not inside else tm == pytest.approx(sum(inside) / len(inside))
    clamped = [min(max(v, lo if lo is not None else v), hi) for v in vals]
    assert compute("WM" + name, vals) == pytest.approx(sum(clamped) / len(clamped))


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
    # percent: p20 of 5 values is the first (100): excluded; p60 is 200: included
    assert compute("TC(20%:60%)", vals) == 2
    assert compute("TS(20%:60%)", vals) == 350.0
    # a 0% lower bound keeps the minimum (it means "from the smallest")
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
