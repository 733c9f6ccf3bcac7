"""Robust trend of a descriptor-count series (standard library only)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SHAPES = ("insufficient", "flat", "growing", "plateau", "sawtooth", "noisy", "shrinking")
FULL_EVIDENCE = 20  # points at which coverage stops limiting confidence
MIN_GROWTH = 2.0  # descriptors: less total change over the window is never called a trend
_PAIRS_CAP = 96  # Theil-Sen uses every pair of at most this many (evenly spaced) points


def _median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    if n == 0:
        return 0.0
    mid = n // 2
    return float(s[mid]) if n % 2 else (s[mid - 1] + s[mid]) / 2.0


def _mad(xs: Sequence[float]) -> float:
    """Median absolute deviation scaled to a normal sigma (1.4826)."""
    if not xs:
        return 0.0
    m = _median(xs)
    return 1.4826 * _median([abs(x - m) for x in xs])


def _thin(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    n = len(xs)
    if n <= _PAIRS_CAP:
        return list(xs), list(ys)
    idx = sorted({round(i * (n - 1) / (_PAIRS_CAP - 1)) for i in range(_PAIRS_CAP)})
    return [xs[i] for i in idx], [ys[i] for i in idx]


def theil_sen(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float]:
    """(slope, intercept, tau): Theil-Sen line and Kendall's tau of the points.

    The slope is the median of pairwise slopes (breakdown point 29%); the
    intercept the median of ``y - slope*x``; tau in [-1, 1] says how
    consistently the pairs agree in direction (ties count for neither).
    """
    n = len(xs)
    if n < 2:
        return 0.0, (float(ys[0]) if n else 0.0), 0.0
    tx, ty = _thin(xs, ys)
    slopes: list[float] = []
    m = len(tx)
    for i in range(m - 1):
        xi, yi = tx[i], ty[i]
        slopes.extend([(ty[j] - yi) / (tx[j] - xi) for j in range(i + 1, m) if tx[j] != xi])
    up = sum(1 for v in slopes if v > 0)
    down = sum(1 for v in slopes if v < 0)
    if not slopes:
        return 0.0, _median(ys), 0.0
    slope = _median(slopes)
    intercept = _median([y - slope * x for x, y in zip(xs, ys, strict=True)])
    return slope, intercept, (up - down) / len(slopes)


def mann_kendall_threshold(n: int, z: float = 2.58) -> float:
    """|tau| beyond which the Mann-Kendall test calls a monotone trend (two-sided 1% at z=2.58).

    Under no trend, Kendall's tau of n points has variance 2(2n+5) / (9n(n-1)).
    """
    if n < 3:
        return 1.0
    return z * math.sqrt(2 * (2 * n + 5) / (9 * n * (n - 1)))


def _drops(ys: Sequence[float], thr: float, typical: float) -> list[int]:
    """Indices where the count falls by more than ``thr`` and stays down.

    A one-point dip (the next step climbs back by much more than the
    ``typical`` step) or the end of a one-point spike (the step before it
    jumped by much more than typical) is not a drop; a fall at the very last
    point cannot be told from a dip and is left out.
    """
    out = []
    for i in range(1, len(ys) - 1):
        fall = ys[i - 1] - ys[i]
        if fall <= thr:
            continue
        if ys[i + 1] - ys[i] - typical > fall / 2:
            continue  # a dip: back up at once
        if i >= 2 and ys[i - 1] - ys[i - 2] - typical > fall / 2:
            continue  # the end of an up-spike
        out.append(i)
    return out


@dataclass(frozen=True)
class Trend:
    """The trend of one count series; see :func:`analyze` for every field's meaning."""

    rate: float  # descriptors per step (invocation), long-run
    shape: str  # one of SHAPES
    confidence: float  # 0..1
    points: int  # points in the analysed segment
    last: float  # last count
    peak: float  # highest count in the segment
    level: float  # the fitted count at the last point (robust; the projection starts here)
    noise: float  # robust scatter around the fit (normal-sigma units)
    drops: int  # sharp drops in the segment (garbage collections, restarts not marked)
    restarts: int  # restarts marked in the whole series (only the last segment is analysed)
    significant: bool  # the change over the segment is beyond noise and >= MIN_GROWTH

    @property
    def leaking(self) -> bool:
        """True when the count grows in the long run: ``growing``, or a rising ``sawtooth``."""
        return self.significant and self.rate > 0 and self.shape in ("growing", "sawtooth")

    def invocations_to_limit(self, limit: float) -> int | None:
        """Steps until the count reaches ``limit`` at ``rate``; None when not leaking.

        0 when the count is already there. A saw-tooth is projected from its peak.
        """
        if not self.leaking:
            return None
        start = max(self.level, self.last, self.peak if self.shape == "sawtooth" else self.level)
        if start >= limit:
            return 0
        return max(0, math.ceil((limit - start) / self.rate))


def _insufficient(seg: Sequence[float], restarts: int) -> Trend:
    n = len(seg)
    slope, intercept, _ = theil_sen(range(n), seg) if n >= 2 else (0.0, 0.0, 0.0)
    last = float(seg[-1]) if n else 0.0
    return Trend(
        rate=slope,
        shape="insufficient",
        confidence=0.0,
        points=n,
        last=last,
        peak=float(max(seg)) if n else 0.0,
        level=intercept + slope * (n - 1) if n else 0.0,
        noise=0.0,
        drops=0,
        restarts=restarts,
        significant=False,
    )


def analyze(
    counts: Sequence[float],
    *,
    restarts: Iterable[int] = (),
    window: int | None = None,
    min_points: int = 6,
) -> Trend:
    """The robust trend of a per-invocation count series.

    ``restarts`` are indices where a new process (cold start) began: only the
    last segment is analysed. ``window`` keeps only its last ``window`` points.

    Method. A Theil-Sen line (median of pairwise slopes) over the segment gives
    ``rate``, ``level`` (the line at the last point) and ``noise`` (1.4826 x
    MAD of the residuals). Drops are falls larger than max(2, 3 x the robust
    scatter of the steps, 2 x the typical step) that stay down (a one-point
    spike or dip is not a drop). Shapes, in order:

    - ``insufficient``: fewer than ``min_points`` points (confidence 0);
    - ``sawtooth``: two or more drops; ``rate`` is the Theil-Sen slope of the
      cycle floors (each cycle's second-lowest point), so collections neither
      hide a leak nor fake one. It is significant (a leak) only when the
      floors' growth passes the tests below *and* the recent floors stand at
      least max(``MIN_GROWTH``, a quarter of the median cycle amplitude) above
      the early ones: a collector-bound saw-tooth may creep, but it returns to
      its baseline;
    - ``plateau``: the first half grew by at least ``MIN_GROWTH`` (its
      Theil-Sen line, beyond 3 x its noise), the last half settled at least
      ``MIN_GROWTH`` (and 3 x its noise) above the start, and grew by less
      than 2 and less than a quarter of the first half's growth; ``rate`` is
      the last half's slope;
    - ``growing`` / ``shrinking``: significant change, i.e. rate x span is at
      least ``MIN_GROWTH`` descriptors, more than 3 x noise, and Kendall's tau
      is beyond the Mann-Kendall test's two-sided 1% level
      (:func:`mann_kendall_threshold`);
    - ``noisy``: no significant change, noise >= 2; else ``flat``.

    ``confidence`` (0..1) = coverage x agreement. Coverage = min(1, points /
    20). Agreement: Kendall's tau in the direction of the rate (growing,
    shrinking); for a saw-tooth, times min(1, drops/3): a leaking one, |tau|
    of its floors; a bounded one, the larger of 1 - |tau| and 1 - rise /
    max(``MIN_GROWTH``, amplitude/4);
    for plateau, tau of the first half times (1 - |tau| of the last half);
    for flat and noisy, 1 - |tau|.
    """
    marks = sorted(i for i in restarts if 0 < i <= len(counts))
    seg = [float(x) for x in counts[marks[-1] if marks else 0 :]]
    if window is not None and window > 0:
        seg = seg[-window:]
    n = len(seg)
    if n < max(2, min_points):
        return _insufficient(seg, len(marks))
    xs = list(range(n))
    coverage = min(1.0, n / FULL_EVIDENCE)
    slope, intercept, tau = theil_sen(xs, seg)
    resid = [y - (intercept + slope * x) for x, y in zip(xs, seg, strict=True)]
    noise = _mad(resid)
    steps = [seg[i] - seg[i - 1] for i in range(1, n)]
    typical = _median(steps)
    # a drop is large next to the scatter of the steps and to the typical step itself
    # (a leak of 8 per call that wobbles by 4 has no drops)
    thr = max(2.0, 3.0 * _mad(steps), 2.0 * abs(typical))
    drop_at = _drops(seg, thr, typical)
    peak = max(seg)
    base = {"points": n, "last": seg[-1], "peak": peak, "restarts": len(marks)}

    if len(drop_at) >= 2:
        bounds = [0, *drop_at, n]
        tx: list[float] = []
        ty: list[float] = []
        amplitudes: list[float] = []
        for a, b in zip(bounds, bounds[1:], strict=False):
            # the cycle's floor: its second-lowest point resists one dip per cycle
            order = sorted(range(a, b), key=lambda k: seg[k])
            j = order[1] if len(order) >= 3 else order[0]
            tx.append(float(j))
            ty.append(seg[j])
            if b - a >= 2:
                amplitudes.append(max(seg[a:b]) - seg[j])
        t_slope, t_icpt, t_tau = theil_sen(tx, ty)
        t_noise = _mad([y - (t_icpt + t_slope * x) for x, y in zip(tx, ty, strict=True)])
        growth = t_slope * (n - 1)
        # A leak under a saw-tooth keeps its floor rising: the recent floors stand at
        # least a quarter of the cycle's amplitude above the early ones. A collector-bound
        # saw-tooth creeps, then returns to its baseline (a full collection).
        rise = _median(ty[-2:]) - min(ty[: max(1, len(ty) // 3)])
        amplitude = _median(amplitudes) if amplitudes else 0.0
        significant = (
            abs(growth) >= MIN_GROWTH
            and abs(growth) > 3 * t_noise
            and len(tx) >= 3
            and (t_slope <= 0 or rise >= max(MIN_GROWTH, amplitude / 4))
        )
        if significant:
            agree = abs(t_tau)
        else:  # how clearly the floors stay short of a leak's rise
            agree = max(1 - abs(t_tau), 1 - max(0.0, rise) / max(MIN_GROWTH, amplitude / 4))
        conf = coverage * min(1.0, len(drop_at) / 3) * max(0.0, agree)
        return Trend(
            rate=t_slope,
            shape="sawtooth",
            confidence=round(conf, 4),
            level=t_icpt + t_slope * (n - 1),
            noise=noise,
            drops=len(drop_at),
            significant=significant,
            **base,  # type: ignore[arg-type]
        )

    growth = slope * (n - 1)
    significant = (
        abs(growth) >= MIN_GROWTH
        and abs(growth) > 3 * noise
        and abs(tau) > mann_kendall_threshold(min(n, _PAIRS_CAP))
    )
    level = intercept + slope * (n - 1)
    h = n // 2
    f_slope, f_icpt, f_tau = theil_sen(xs[: h + 1], seg[: h + 1])
    f_growth = f_slope * h
    if f_growth >= MIN_GROWTH:
        f_noise = _mad(
            [y - (f_icpt + f_slope * x) for x, y in zip(xs[: h + 1], seg[: h + 1], strict=True)]
        )
        r_slope, r_icpt, r_tau = theil_sen(xs[h:], seg[h:])
        r_growth = r_slope * (n - 1 - h)
        r_noise = _mad([y - (r_icpt + r_slope * x) for x, y in zip(xs[h:], seg[h:], strict=True)])
        rise = _median(seg[h:]) - f_icpt  # from where it started to where it settled
        if (
            f_growth > 3 * f_noise
            and r_growth < 2
            and r_growth < f_growth / 4
            and rise >= MIN_GROWTH
            and rise > 3 * r_noise
        ):
            conf = coverage * max(0.0, f_tau) * (1 - abs(r_tau))
            return Trend(
                rate=r_slope,
                shape="plateau",
                confidence=round(conf, 4),
                level=r_icpt + r_slope * (n - 1),
                noise=r_noise,
                drops=len(drop_at),
                significant=False,
                **base,  # type: ignore[arg-type]
            )
    if significant:
        shape = "growing" if slope > 0 else "shrinking"
        agree = tau if slope > 0 else -tau
    else:
        shape = "noisy" if noise >= 2 else "flat"
        agree = 1 - abs(tau)
    return Trend(
        rate=slope,
        shape=shape,
        confidence=round(coverage * max(0.0, agree), 4),
        level=level,
        noise=noise,
        drops=len(drop_at),
        significant=significant,
        **base,  # type: ignore[arg-type]
    )


class LeakWatch:
    """The streaming form: ``update(count)`` per invocation, a re-analysis now and then.

    Cheap per call: an append to a bounded deque; :func:`analyze` runs every
    ``every`` updates and only when the window's spread is at least
    ``MIN_GROWTH`` (a flat function never pays for it). :meth:`warning`
    answers once per process (re-armed by ``restart``) when the limit is
    projected within ``within`` invocations with at least ``min_confidence``.
    """

    def __init__(
        self,
        *,
        window: int = 48,
        every: int = 8,
        min_points: int = 8,
        min_confidence: float = 0.5,
    ) -> None:
        self.window = window
        self.every = max(1, every)
        self.min_points = min_points
        self.min_confidence = min_confidence
        self._counts: deque[float] = deque(maxlen=window)
        self._since = 0
        self._trend: Trend | None = None
        self._warned = False
        self.updates = 0

    @property
    def trend(self) -> Trend | None:
        """The latest analysis (None before the first)."""
        return self._trend

    def update(self, count: float, *, restart: bool = False) -> Trend | None:
        """Record one invocation's count; return a fresh Trend when re-analysed, else None."""
        if restart:
            self._counts.clear()
            self._trend = None
            self._warned = False
            self._since = 0
        self._counts.append(float(count))
        self.updates += 1
        self._since += 1
        if self._since < self.every or len(self._counts) < self.min_points:
            return None
        self._since = 0
        c = self._counts
        lo, hi = min(c), max(c)
        if hi - lo < MIN_GROWTH:  # nothing can be significant: skip the O(n^2) work
            n = len(c)
            self._trend = Trend(
                rate=0.0,
                shape="flat",
                confidence=round(min(1.0, n / FULL_EVIDENCE), 4),
                points=n,
                last=c[-1],
                peak=hi,
                level=_median(c),
                noise=0.0,
                drops=0,
                restarts=0,
                significant=False,
            )
            return self._trend
        self._trend = analyze(list(c), min_points=self.min_points)
        return self._trend

    def analyze_now(self) -> Trend:
        """Analyse the current window now, whatever the schedule."""
        self._trend = analyze(list(self._counts), min_points=self.min_points)
        self._since = 0
        return self._trend

    def warning(self, limit: float, within: int) -> Trend | None:
        """The trend, once, when it is a confident leak reaching ``limit`` within ``within`` steps."""
        t = self._trend
        if self._warned or t is None or not t.leaking or t.confidence < self.min_confidence:
            return None
        steps = t.invocations_to_limit(limit)
        if steps is None or steps > within:
            return None
        self._warned = True
        return t
