"""fdscope.metrics.percentile: nearest rank, weighted, exact at decimal percentiles."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fdscope.errors import MetricsError
from fdscope.metrics import percentile


def reference(values: list[float], p: float) -> float:
    """Straight from the definition: the smallest value x with #(v <= x) / n >= p / 100."""
    target = Fraction(repr(float(p)))
    n = len(values)
    for x in sorted(set(values)):
        if Fraction(sum(1 for v in values if v <= x)) * 100 >= target * n:
            return x
    raise AssertionError("unreachable")


finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
pcts = st.one_of(
    st.integers(0, 100).map(float),
    st.decimals(0, 100, places=3).map(float),
)


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([1, 2, 3, 4], 50, 2),  # half the values are <= 2
        ([1, 2, 3, 4], 50.0001, 3),  # just past half needs the third
        ([1, 2, 3, 4], 0, 1),  # p0 is the minimum
        ([1, 2, 3, 4], 100, 4),  # p100 is the maximum
        (list(range(1, 101)), 99, 99),  # p99 of 1..100
        (list(range(1, 1001)), 99.9, 999),  # 99.9 is taken as the decimal, not its binary float
        ([5], 37.5, 5),  # one value is every percentile
    ],
)
def test_known_percentiles(values: list[float], p: float, expected: float) -> None:
    assert percentile(values, p) == expected


@given(st.lists(finite, min_size=1, max_size=60), pcts)
def test_matches_the_definition(values: list[float], p: float) -> None:
    assert percentile(values, p) == reference(values, p)


@given(
    st.lists(st.tuples(finite, st.integers(0, 5)), min_size=1, max_size=30).filter(
        lambda pairs: any(w for _, w in pairs)
    ),
    pcts,
)
def test_weight_k_is_the_value_repeated_k_times(pairs: list[tuple[float, int]], p: float) -> None:
    values = [v for v, _ in pairs]
    weights = [w for _, w in pairs]
    expanded = [v for v, w in pairs for _ in range(w)]
    assert percentile(values, p, weights) == percentile(expanded, p)


@given(st.lists(finite, min_size=1, max_size=40), pcts, pcts)
def test_monotone_in_p(values: list[float], p: float, q: float) -> None:
    lo, hi = sorted((p, q))
    assert percentile(values, lo) <= percentile(values, hi)


def test_fractional_weights() -> None:
    # weights 0.25/0.25/0.5: 50% of the weight is reached at 2
    assert percentile([1, 2, 3], 50, [0.25, 0.25, 0.5]) == 2
    assert percentile([1, 2, 3], 51, [0.25, 0.25, 0.5]) == 3


@pytest.mark.parametrize(
    ("values", "p", "weights"),
    [
        ([], 50, None),  # nothing to rank
        ([1.0], 101, None),  # above 100
        ([1.0], -1, None),  # below 0
        ([1.0, float("nan")], 50, None),  # NaN cannot be ordered
        ([1.0, 2.0], 50, [1.0]),  # weights of another length
        ([1.0, 2.0], 50, [1.0, -1.0]),  # negative weight
        ([1.0, 2.0], 50, [0, 0]),  # zero total weight
    ],
)
def test_bad_input_raises(values: list[float], p: float, weights: list[float] | None) -> None:
    with pytest.raises(MetricsError):
        percentile(values, p, weights)
