"""CloudWatch statistics: names, bounds and their values over weighted samples.

Supported names (case as CloudWatch spells them; the extended ones also in lower
case): ``SampleCount``, ``Sum``, ``Average``, ``Minimum``, ``Maximum``, ``pNN``
(up to 10 decimals), ``IQM``, and ``TM``/``WM``/``TC``/``TS`` either as ``tm90``
(= ``TM(:90%)``) or with bounds ``TM(10%:90%)``, ``TM(150:1000)``, ``TM(:95%)``,
``TM(5%:)``, and ``PR(100:2000)``/``PR(:300)`` (absolute bounds only).
A value is inside bounds when ``lower < value <= upper`` (lower exclusive,
upper inclusive); percent bounds are turned into values with
:func:`fdscope.metrics.percentile`, and a lower bound of 0% means no lower bound.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from fdscope.errors import MetricsError
from fdscope.metrics._percentile import _weighted_sorted

BASIC = ("SampleCount", "Sum", "Average", "Minimum", "Maximum")
_BASIC_LOWER = {s.lower(): s for s in BASIC}
_NUM = r"\d+(?:\.\d{1,10})?"
_P_RE = re.compile(rf"^[pP]({_NUM})$")
_SHORT_RE = re.compile(rf"^(tm|wm|tc|ts)({_NUM})$", re.IGNORECASE)
_BOUND = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?%?"
_LONG_RE = re.compile(rf"^(TM|WM|TC|TS|PR)\(\s*({_BOUND})?\s*:\s*({_BOUND})?\s*\)$", re.IGNORECASE)


class StatisticError(MetricsError):
    """A statistic name CloudWatch would not accept."""


@dataclass(frozen=True)
class Bound:
    """One bound of an extended statistic: a value, or a percentage when ``percent``."""

    value: Fraction
    percent: bool


@dataclass(frozen=True)
class Statistic:
    """A parsed statistic: ``kind`` is a basic name, ``p``, or TM/WM/TC/TS/PR."""

    name: str
    kind: str
    p: Fraction | None = None
    lower: Bound | None = None
    upper: Bound | None = None

    @property
    def extended(self) -> bool:
        """True for everything but the five basic statistics (CloudWatch's ExtendedStatistic)."""
        return self.kind not in BASIC


def _frac(text: str) -> Fraction:
    try:
        return Fraction(Decimal(text))
    except (InvalidOperation, ValueError):
        raise StatisticError(f"bad number {text!r}")


def _bound(text: str | None) -> Bound | None:
    if text is None or text == "":
        return None
    if text.endswith("%"):
        v = _frac(text[:-1])
        if not 0 <= v <= 100:
            raise StatisticError(f"percent bound {text} outside 0..100")
        return Bound(v, True)
    return Bound(_frac(text), False)


def parse_statistic(name: str) -> Statistic:
    """Parse a CloudWatch statistic name; raises StatisticError for anything else."""
    text = name.strip()
    basic = _BASIC_LOWER.get(text.lower())
    if basic:
        return Statistic(basic, basic)
    if text.upper() == "IQM":
        return Statistic("IQM", "TM", None, Bound(Fraction(25), True), Bound(Fraction(75), True))
    m = _P_RE.match(text)
    if m:
        p = _frac(m.group(1))
        if p > 100:
            raise StatisticError(f"percentile {text} above 100")
        return Statistic(f"p{m.group(1)}", "p", p)
    m = _SHORT_RE.match(text)
    if m:
        kind, num = m.group(1).upper(), m.group(2)
        v = _frac(num)
        if v > 100:
            raise StatisticError(f"{text}: bound above 100%")
        return Statistic(f"{kind.lower()}{num}", kind, None, None, Bound(v, True))
    m = _LONG_RE.match(text)
    if m:
        kind = m.group(1).upper()
        lower, upper = _bound(m.group(2)), _bound(m.group(3))
        if lower is None and upper is None:
            raise StatisticError(f"{text}: give at least one bound")
        kinds = {b.percent for b in (lower, upper) if b is not None}
        if len(kinds) > 1:
            raise StatisticError(f"{text}: do not mix percent and absolute bounds")
        if kind == "PR" and True in kinds:
            raise StatisticError(f"{text}: PR takes absolute bounds only")
        if lower is not None and upper is not None and lower.value > upper.value:
            raise StatisticError(f"{text}: lower bound above upper bound")
        canon = f"{kind}({m.group(2) or ''}:{m.group(3) or ''})"
        return Statistic(canon, kind, None, lower, upper)
    raise StatisticError(
        f"unknown statistic {name!r}: use SampleCount, Sum, Average, Minimum, Maximum, "
        "pNN, IQM, TM/WM/TC/TS(lo:hi), tm90, PR(lo:hi)"
    )


def _limits(
    pairs: Sequence[tuple[float, float]], stat: Statistic
) -> tuple[float | None, float | None]:
    """(lower, upper) value limits of a bounded statistic over sorted weighted pairs."""

    def one(b: Bound | None, is_lower: bool) -> float | None:
        if b is None:
            return None
        if not b.percent:
            return float(b.value)
        if is_lower and b.value == 0:
            return None  # 0% means "from the smallest", not "above the smallest"
        return _weighted_sorted(pairs, b.value)

    return one(stat.lower, True), one(stat.upper, False)


def compute(
    stat: Statistic | str, values: Sequence[float], counts: Sequence[float] | None = None
) -> float | None:
    """The statistic over ``values`` weighted by ``counts`` (default 1 each).

    Returns None when there is nothing to compute (no samples, or nothing
    within a trimmed statistic's bounds, where CloudWatch gives no datapoint).
    """
    st = parse_statistic(stat) if isinstance(stat, str) else stat
    return compute_sorted(st, sorted_pairs(values, counts))


def sorted_pairs(
    values: Sequence[float], counts: Sequence[float] | None = None
) -> list[tuple[float, float]]:
    """(value, weight) pairs sorted by value, zero weights dropped: the input of compute_sorted."""
    if counts is None:
        return sorted((float(v), 1.0) for v in values)
    return sorted((float(v), float(c)) for v, c in zip(values, counts, strict=True) if c > 0)


def compute_sorted(st: Statistic, pairs: Sequence[tuple[float, float]]) -> float | None:
    """The statistic over pairs from :func:`sorted_pairs` (sort once, compute many)."""
    if not pairs:
        return None
    n = math.fsum(c for _, c in pairs)
    k = st.kind
    if k == "SampleCount":
        return n
    if k == "Sum":
        return math.fsum(v * c for v, c in pairs)
    if k == "Average":
        return math.fsum(v * c for v, c in pairs) / n
    if k == "Minimum":
        return pairs[0][0]
    if k == "Maximum":
        return pairs[-1][0]
    if k == "p":
        assert st.p is not None
        return _weighted_sorted(pairs, st.p)
    lo, hi = _limits(pairs, st)
    if k == "WM":
        clamped = [
            ((lo if lo is not None and v < lo else hi if hi is not None and v > hi else v), c)
            for v, c in pairs
        ]
        return math.fsum(v * c for v, c in clamped) / n
    inside = [(v, c) for v, c in pairs if (lo is None or v > lo) and (hi is None or v <= hi)]
    w = math.fsum(c for _, c in inside)
    if k == "TC":
        return w
    if k == "TS":
        return math.fsum(v * c for v, c in inside)
    if k == "PR":
        return 100.0 * w / n
    # TM
    return math.fsum(v * c for v, c in inside) / w if w else None
