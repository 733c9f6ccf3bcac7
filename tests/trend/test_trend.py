"""The one trend module: robust rate, shape, confidence, projection; the streaming LeakWatch."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fdscope.trend import SHAPES, LeakWatch, analyze, theil_sen

counts = st.lists(st.integers(min_value=0, max_value=5000), max_size=120)


@settings(max_examples=100, deadline=None)
@given(counts, st.lists(st.integers(min_value=0, max_value=120), max_size=3))
def test_any_series_gives_a_well_formed_trend(xs: list[int], restarts: list[int]) -> None:
    t = analyze(xs, restarts=restarts)
    assert t.shape in SHAPES
    assert 0.0 <= t.confidence <= 1.0
    assert math.isfinite(t.rate) and math.isfinite(t.level)
    steps = t.invocations_to_limit(10_000)
    assert (steps is None) == (not t.leaking)
    if steps is not None:
        assert steps >= 0


@settings(max_examples=50, deadline=None)
@given(
    st.integers(min_value=0, max_value=500),
    st.floats(min_value=0.25, max_value=20),
    st.integers(min_value=16, max_value=100),
    st.data(),
)
def test_a_line_with_outliers_gives_its_rate(
    base: int, rate: float, n: int, data: st.DataObject
) -> None:
    ys = [base + rate * i for i in range(n)]
    bad = data.draw(st.sets(st.integers(min_value=0, max_value=n - 1), max_size=n // 8))
    for i in bad:  # up to 12% arbitrary outliers, single points (spikes or dips)
        ys[i] = data.draw(st.floats(min_value=0, max_value=10_000))
    t = analyze(ys)
    assume(t.drops < 2)  # scattered dips can look like collections; covered below
    assert t.shape == "growing" and t.leaking
    assert t.rate == pytest.approx(rate, rel=0.05)


@given(st.floats(min_value=0.1, max_value=10), st.integers(min_value=3, max_value=40))
def test_theil_sen_is_exact_on_a_line_and_resists_a_quarter_of_outliers(
    slope: float, k: int
) -> None:
    xs = list(range(40))
    ys = [3 + slope * x for x in xs]
    s, b, tau = theil_sen(xs, ys)
    assert s == pytest.approx(slope) and b == pytest.approx(3) and tau == 1.0
    for i in range(0, 40, 4):  # 25% of the points far off
        ys[i] = 1e6 * k
    s2, _, _ = theil_sen(xs, ys)
    assert s2 == pytest.approx(slope, rel=0.2)


@settings(max_examples=50, deadline=None)
@given(
    st.integers(min_value=0, max_value=1000), st.integers(min_value=12, max_value=100), st.randoms()
)
def test_flat_with_small_noise_is_not_a_leak(base: int, n: int, rnd: random.Random) -> None:
    ys = [base + rnd.choice((-1, 0, 0, 1)) for _ in range(n)]
    t = analyze(ys)
    assert not t.leaking and t.shape in ("flat", "noisy")
    assert t.invocations_to_limit(base + 100) is None


@settings(max_examples=50, deadline=None)
@given(
    st.integers(min_value=4, max_value=12),  # period
    st.integers(min_value=2, max_value=9),  # descriptors per invocation inside a cycle
    st.integers(min_value=3, max_value=6),  # cycles
    st.integers(min_value=0, max_value=3),  # trough rise per cycle
)
def test_sawtooth_leak_or_gc_bound(period: int, step: int, cycles: int, rise: int) -> None:
    assume(step * (period - 1) - rise > 2 * step)  # each collection falls by > 2 typical steps
    ys = [50 + rise * (i // period) + step * (i % period) for i in range(period * cycles)]
    t = analyze(ys)
    assert t.shape == "sawtooth" and t.drops == cycles - 1
    if rise == 0:
        assert not t.leaking and t.invocations_to_limit(10_000) is None
    elif rise * (cycles - 2) >= step * (period - 1):  # floors rose by a whole cycle or more
        assert t.leaking
        assert t.rate == pytest.approx(rise / period, rel=0.35)


def test_a_creeping_sawtooth_that_returns_to_its_baseline_is_not_a_leak() -> None:
    # asyncio.new_event_loop() per call, measured: floors creep by 3 per young
    # collection until a full collection returns them to the baseline
    ys: list[int] = []
    for floor in (11, 14, 17, 20, 23, 26, 29, 32, 11, 14):
        ys += list(range(floor, floor + 3 * 30, 3))
    t = analyze(ys)
    assert t.shape == "sawtooth" and not t.leaking


def test_a_steep_leak_that_wobbles_after_emfile_is_still_growing() -> None:
    # the seed (8 descriptors per call), measured: pinned at the limit, one fall, wobbles
    ys = list(range(23, 1024, 8)) + [1024] * 4 + [937, 941, 943, 945, 941, 943, 951, 953, 955]
    t = analyze(ys)
    assert t.shape == "growing" and t.leaking and t.rate == pytest.approx(8, rel=0.05)


@pytest.mark.parametrize(
    ("series", "shape", "leaking"),
    [
        ([10] * 30, "flat", False),  # nothing happens
        ([10 + i for i in range(30)], "growing", True),  # one descriptor per invocation
        ([10 + min(i, 12) for i in range(40)], "plateau", False),  # a pool filling up
        ([200 - 2 * i for i in range(30)], "shrinking", False),  # draining
        ([10 + (i % 5) * 4 for i in range(40)], "sawtooth", False),  # gc every 5th call
        ([10, 11, 12], "insufficient", False),  # too few points
        ([10] * 10 + [11] * 10 + [12] * 10, "growing", True),  # slow: one per 10 invocations
    ],
)
def test_named_shapes(series: list[int], shape: str, leaking: bool) -> None:
    t = analyze(series)
    assert (t.shape, t.leaking) == (shape, leaking)


def test_noise_without_trend_is_noisy() -> None:
    rnd = random.Random(7)
    t = analyze([100 + rnd.randint(-8, 8) for _ in range(60)])
    assert t.shape == "noisy" and not t.leaking


def test_restarts_analyse_only_the_last_segment() -> None:
    leak = [10 + i for i in range(30)]
    t = analyze(leak + [10] * 20, restarts=[30])
    assert t.shape == "flat" and t.restarts == 1 and t.points == 20
    t2 = analyze([10] * 20 + leak, restarts=[20])
    assert t2.leaking and t2.rate == pytest.approx(1.0)


@given(st.integers(min_value=1, max_value=5), st.integers(min_value=100, max_value=4000))
def test_projection_reaches_the_limit_exactly_then(rate: int, limit: int) -> None:
    ys = [20 + rate * i for i in range(30)]
    assume(ys[-1] < limit)
    t = analyze(ys)
    steps = t.invocations_to_limit(limit)
    assert steps is not None
    assert t.level + rate * steps >= limit > t.level + rate * (steps - 1)
    assert analyze(ys).invocations_to_limit(ys[-1]) == 0  # already there


@given(counts.filter(lambda xs: len(xs) >= 8), st.integers(min_value=-1000, max_value=1000))
def test_shifting_the_series_changes_nothing_but_the_level(xs: list[int], c: int) -> None:
    a, b = analyze(xs), analyze([x + c for x in xs])
    assert (a.shape, a.drops) == (b.shape, b.drops)
    assert a.rate == pytest.approx(b.rate, abs=1e-6)
    assert a.confidence == pytest.approx(b.confidence, abs=1e-3)


def test_confidence_grows_with_evidence() -> None:
    few = analyze([10 + i for i in range(8)])
    many = analyze([10 + i for i in range(40)])
    assert few.shape == many.shape == "growing"
    assert 0 < few.confidence < many.confidence == 1.0


def test_leak_watch_streams_and_warns_once() -> None:
    w = LeakWatch(window=48, every=8, min_points=8)
    fresh = [w.update(10 + i) for i in range(200)]
    assert sum(f is not None for f in fresh) == 200 // 8
    assert w.trend is not None and w.trend.leaking and w.trend.rate == pytest.approx(1.0)
    assert w.trend == analyze([10 + i for i in range(152, 200)], min_points=8)
    assert w.warning(limit=10_000, within=100) is None  # ~9800 invocations away
    first = w.warning(limit=300, within=200)
    assert first is not None and first.invocations_to_limit(300) <= 200
    assert w.warning(limit=300, within=200) is None  # once
    w.update(10, restart=True)  # a new process re-arms it
    assert w.trend is None


def test_leak_watch_flat_fast_path() -> None:
    w = LeakWatch(every=4, min_points=8)
    for _ in range(16):
        w.update(42)
    assert w.trend is not None and w.trend.shape == "flat" and not w.trend.leaking
    assert w.analyze_now().shape == "flat"
