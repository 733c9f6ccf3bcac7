"""The one percentile function of fdscope (nearest rank, weighted).

Definition: the ``p``-th percentile of values ``v`` with weights ``w`` is the
smallest value ``x`` such that the weight of values ``<= x`` is at least
``p/100`` of the total weight.  It is always one of the observed values
(no interpolation), ``p=0`` is the minimum and ``p=100`` the maximum, and a
weight of ``k`` means exactly the same as repeating the value ``k`` times, so
EMF ``Values``/``Counts`` arrays need no expansion.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from fractions import Fraction
from itertools import accumulate
from numbers import Real

from fdscope.errors import MetricsError


def _exact(x: float | int | Fraction | Real) -> Fraction:
    """``x`` as an exact fraction; floats through their shortest decimal form (99.9 is 999/10)."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, int):
        return Fraction(x)
    return Fraction(repr(float(x))) if isinstance(x, float) else Fraction(str(x))


def _check_p(p: float | Fraction | Real) -> Fraction:
    try:
        fp = _exact(p)
    except (ValueError, TypeError, ZeroDivisionError, OverflowError):
        raise MetricsError(f"percentile {p!r} is not a number between 0 and 100")
    if not 0 <= fp <= 100:
        raise MetricsError(f"percentile {p!r} is outside 0..100")
    return fp


def rank_index(n: int, p: float | Fraction | Real) -> int:
    """0-based index of the ``p``-th percentile in ``n`` sorted, unweighted values.

    Raises MetricsError when ``n`` is 0 or ``p`` is outside 0..100.
    """
    if n <= 0:
        raise MetricsError("percentile of no values")
    fp = _check_p(p)
    rank = math.ceil(fp * n / 100)  # smallest k with k/n >= p/100
    return max(rank, 1) - 1


def percentile(
    values: Iterable[float],
    p: float | Fraction | Real,
    weights: Iterable[float] | None = None,
) -> float:
    """The ``p``-th percentile (0..100) of ``values``, nearest rank, optionally weighted.

    Returns one of the values.  Raises MetricsError for no values (or zero total
    weight), ``p`` outside 0..100, NaN values, negative weights, or a weights
    list of another length.
    """
    fp = _check_p(p)
    vals = list(values)
    if any(v != v for v in vals):
        raise MetricsError("percentile of NaN")
    if weights is None:
        if not vals:
            raise MetricsError("percentile of no values")
        vals.sort()
        return vals[rank_index(len(vals), fp)]
    ws = list(weights)
    if len(ws) != len(vals):
        raise MetricsError(f"{len(vals)} values but {len(ws)} weights")
    pairs = sorted((v, w) for v, w in zip(vals, ws, strict=False) if w != 0)
    if any(w < 0 or w != w for _, w in pairs):
        raise MetricsError("negative or NaN weight")
    if not pairs:
        raise MetricsError("percentile of no values (total weight 0)")
    return _weighted_sorted(pairs, fp)


def _weighted_sorted(pairs: Sequence[tuple[float, float]], fp: Fraction) -> float:
    cums = list(accumulate(w for _, w in pairs))
    total = cums[-1]
    if fp == 0:
        return pairs[0][0]
    threshold = fp * _exact(total) / 100
    i = bisect_left(cums, float(threshold))
    # float rounding may put the boundary one step off either way: settle it exactly
    i = min(max(i, 0), len(cums) - 1)
    while i > 0 and _exact(cums[i - 1]) >= threshold:
        i -= 1
    while i < len(cums) - 1 and _exact(cums[i]) < threshold:
        i += 1
    return pairs[i][0]
