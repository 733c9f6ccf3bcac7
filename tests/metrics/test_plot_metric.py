"""A metric chart: threshold line at its y, ALARM shading at its x, data inside the axes."""

from __future__ import annotations

from pathlib import Path

import pytest

from fdscope.errors import MetricsError
from fdscope.metrics import AlarmRule, Series, SeriesKey, aggregate, evaluate
from fdscope.metrics.plot import metric_chart

T0 = 1_767_225_600_000


def _series() -> Series:
    # 60 minutes; minutes 20-29 spike to 800, the rest sit at 100
    ts, vs = [], []
    for i in range(60):
        for k in range(3):
            ts.append(T0 + i * 60_000 + k * 10_000)
            vs.append(800.0 if 20 <= i < 30 else 100.0 - k)
    return Series(SeriesKey("fdscope", "duration"), ts, vs, [1.0] * len(ts))


def _px(img, col: float, row: float) -> tuple[float, float, float]:
    r, g, b = img[int(round(row)), int(round(col))][:3]
    return float(r), float(g), float(b)


def test_metric_chart_pixels(tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    s = _series()
    rule = AlarmRule(threshold=500, evaluation_periods=3)
    hist = evaluate(s, rule)
    ranges = hist.alarm_ranges()
    assert len(ranges) == 1
    points = [(b.start, b.stats["Maximum"]) for b in aggregate(s, 60, ["Maximum"])]
    out = tmp_path / "chart.png"
    geo = metric_chart(points, out, threshold=500, alarm_ranges=ranges, ylabel="ms")
    img = mpimg.imread(out)
    left, top, right, bottom = geo.axes_px

    def x_of(ms: float) -> float:
        return geo.pixel(ms / 86_400_000, 0)[0]

    # threshold: red at y(500) in most sampled columns (the line is dashed)
    _, y_th = geo.pixel(geo.xlim[0], 500)
    cols = [left + (right - left) * f for f in (0.05, 0.1, 0.15, 0.2, 0.25, 0.85, 0.9, 0.95)]
    red = sum(
        any(
            (lambda c: c[0] > 0.7 and c[1] < 0.35 and c[2] < 0.35)(_px(img, x, y_th + d))
            for d in (-1, 0, 1)
        )
        for x in cols
    )
    assert red >= 4
    # ALARM shading: pink in the middle of the range, white at the same row outside it
    (a0, a1) = ranges[0]
    y_probe = top + (bottom - top) * 0.08  # near the top, away from the data line
    inside = _px(img, x_of((a0 + a1) / 2), y_probe)
    assert inside[0] > 0.9 and 0.6 < inside[1] < 0.85 and 0.6 < inside[2] < 0.85
    outside = _px(img, x_of(T0 + 50 * 60_000), y_probe)
    assert min(outside) > 0.95
    # data: blue near the plotted points, which lie inside the axes box
    for minute, value in ((5, 100.0), (25, 800.0), (55, 100.0)):
        x, y = geo.pixel((T0 + minute * 60_000) / 86_400_000, value)
        assert left < x < right and top < y < bottom
        near = [_px(img, x + dx, y + dy) for dx in range(-2, 3) for dy in range(-2, 3)]
        assert any(c[2] > 0.6 and c[0] < 0.35 for c in near), minute


def test_metric_chart_svg_and_no_points(tmp_path: Path) -> None:
    out = tmp_path / "c.svg"
    metric_chart([(T0, 1.0), (T0 + 60_000, 2.0)], out, threshold=1.5, alarm_ranges=[(T0, T0 + 1)])
    assert "<svg" in out.read_text()
    with pytest.raises(MetricsError):
        metric_chart([], tmp_path / "x.png")


def test_values_near_the_float_limit_are_drawn_scaled(tmp_path: Path) -> None:
    # finite EMF values a matplotlib axis cannot span (ValueError / LinAlgError before)
    pts = [(T0, 1e308), (T0 + 60_000, -1e308), (T0 + 120_000, 1.7e308), (T0 + 180_000, 1e-300)]
    out = tmp_path / "huge.png"
    geo = metric_chart(pts, out, threshold=1e308, ylabel="m")
    assert out.stat().st_size > 0
    assert geo.ylim[0] < -1.0 and geo.ylim[1] > 1.7  # in units of 1e308, the axis label says
    with pytest.raises(MetricsError, match="inf"):
        metric_chart([(T0, float("inf"))], tmp_path / "inf.png")  # a Sum that overflowed
