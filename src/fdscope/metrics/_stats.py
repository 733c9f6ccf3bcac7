"""CloudWatch statistics: names, bounds and their values over weighted samples.

Supported names (case as CloudWatch spells them; the extended ones also in lower
case): ``SampleCount``, ``Sum``, ``Average``, ``Minimum``, ``Maximum``, ``pNN``
(up to 10 decimals), ``IQM``, and ``TM``/``WM``/``TC``/``TS`` either as ``tm90``
(= ``TM(:90%)``) or with bounds ``TM(10%:90%)``, ``TM(150:1000)``, ``TM(:95%)``,
``TM(5%:)``, and ``PR(100:2000)``/``PR(:300)`` (absolute bounds only).
Absolute bounds: a value is inside when ``lower < value <= upper`` (lower
exclusive, upper inclusive).  Percent bounds trim samples by rank, as
CloudWatch words it ("removing the lowest 2% of data points and the highest
2%"): see :func:`_trim`.
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


def _limits(stat: Statistic) -> tuple[float | None, float | None]:
    """(lower, upper) value limits of a statistic with absolute bounds."""
    lo, hi = stat.lower, stat.upper
    return (None if lo is None else float(lo.value)), (None if hi is None else float(hi.value))


def _percent(stat: Statistic) -> bool:
    return any(b is not None and b.percent for b in (stat.lower, stat.upper))


def _trim(
    pairs: Sequence[tuple[float, float]], stat: Statistic, n: float
) -> tuple[list[tuple[float, float]], float, float]:
    """Percent bounds: (kept pairs, weight trimmed below, weight trimmed above).

    CloudWatch: ``TM(2%:98%)`` is the mean "after removing the lowest 2% of data
    points and the highest 2%".  Samples are ranked by value (a count of ``k`` is
    ``k`` samples); the lowest ``floor(n*a/100)`` and all above rank
    ``ceil(n*b/100)`` are removed, so a sample is removed only when it lies wholly
    in the trimmed share, ties are cut by rank (not by value), and one sample or a
    constant period keeps its value.  The upper cut is the nearest-rank ``p(b)``.
    """
    a = stat.lower.value if stat.lower is not None else Fraction(0)
    b = stat.upper.value if stat.upper is not None else Fraction(100)
    nf = Fraction(n)
    lo_cut = float(math.floor(nf * a / 100))
    hi_cut = float(min(Fraction(math.ceil(nf * b / 100)), nf))
    kept = []
    cum = 0.0
    for v, c in pairs:
        start, cum = cum, cum + c
        w = min(cum, hi_cut) - max(start, lo_cut)
        if w > 0:
            kept.append((v, w))
        if cum >= hi_cut:
            break
    return kept, lo_cut, max(n - hi_cut, 0.0)


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
    if _percent(st):
        inside, below, above = _trim(pairs, st, n)
        if k == "WM":
            if not inside:
                return None
            total = math.fsum(
                [v * c for v, c in inside] + [inside[0][0] * below, inside[-1][0] * above]
            )
            return total / n
    else:
        lo, hi = _limits(st)
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
