"""The doctor's run picture and the terminal chart: pixels and characters, not just files."""

from __future__ import annotations

from pathlib import Path

import pytest

from fdscope.errors import MetricsError
from fdscope.metrics.plot import run_chart, terminal_chart


def _rows(n: int = 60, per_env: int = 20) -> list[dict]:
    rows = []
    for i in range(n):
        k = i % per_env
        rows.append(
            {
                "invocation": i + 1,
                "stream": f"2026/11/28/[$LATEST]{i // per_env:032x}",
                "fd_count": 10 + 40 * k,
                "duration_ms": 100.0 + 5 * k,
                "status": "timeout" if k == per_env - 1 else "ok",
            }
        )
    return rows


def _rgb(img, col: float, row: float) -> tuple[float, float, float]:
    r, g, b = img[int(round(row)), int(round(col))][:3]
    return float(r), float(g), float(b)


def _is_red(c: tuple[float, float, float]) -> bool:
    return c[0] > 0.7 and c[1] < 0.35 and c[2] < 0.35


def _is_blue(c: tuple[float, float, float]) -> bool:
    return c[2] > 0.6 and c[0] < 0.35


def test_run_chart_pixels(tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    out = tmp_path / "fd_use.png"
    geo = run_chart(_rows(), 1024, out)
    img = mpimg.imread(out)
    assert img.shape[:2] == (geo.height_px, geo.width_px)
    # the limit line: red at its y across the plot (dashed: most sampled columns hit it)
    left, top, right, bottom = geo.axes_px
    _, y_limit = geo.pixel(1, 1024)
    cols = [left + (right - left) * f for f in (0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)]
    hits = sum(any(_is_red(_rgb(img, c, y_limit + d)) for d in (-1, 0, 1)) for c in cols)
    assert hits >= 4
    # data: the fd line passes through its points, inside the axes
    for inv in (5, 25, 45):
        fd = 10 + 40 * ((inv - 1) % 20)
        x, y = geo.pixel(inv, fd)
        assert left < x < right and top < y < bottom
        near = [_rgb(img, x + dx, y + dy) for dx in (-2, -1, 0, 1, 2) for dy in (-2, -1, 0, 1, 2)]
        assert any(_is_blue(c) for c in near), inv
    # nothing blue far above the line's peak (data stays where it belongs)
    _, y_empty = geo.pixel(10, 1000)
    x_empty, _ = geo.pixel(10, 0)
    assert not _is_blue(_rgb(img, x_empty, y_empty))


def test_run_chart_svg_and_errors(tmp_path: Path) -> None:
    out = tmp_path / "fd_use.svg"
    run_chart(_rows(10), 64, out, title="t")
    text = out.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    with pytest.raises(MetricsError):
        run_chart([], 1024, tmp_path / "x.png")
    with pytest.raises(MetricsError):
        run_chart(_rows(3), 1024, tmp_path / "x.bmp")


def test_terminal_chart_shape_and_levels() -> None:
    chart = terminal_chart([0, 1, 2, 3, 4, 5, 6, 7, 8], width=9, height=2)
    lines = chart.splitlines()
    assert len(lines) == 2
    bars = [line.split("┤", 1)[1] for line in lines]
    assert all(len(b) == 9 for b in bars)
    assert bars[0][-1] == "█" and bars[1][-1] == "█"  # the maximum fills both rows
    assert bars[0][0] == " " and bars[1][0] == " "  # zero is empty
    assert bars[1][4] == "█" and bars[0][4] == " "  # half fills the lower row


def test_terminal_chart_resamples_by_max_and_draws_limit() -> None:
    values = [1.0] * 100
    values[57] = 10.0
    chart = terminal_chart(values, width=10, height=4, limit=20)
    bars = [line.split("┤", 1)[1] for line in chart.splitlines()]
    assert all(len(b) == 10 for b in bars)
    assert "─" in bars[0]  # the limit is the top of the scale
    col = 57 * 10 // 100
    assert bars[-1][col] == "█" and bars[-2][col] != " "  # the spike survives resampling
    with pytest.raises(MetricsError):
        terminal_chart([float("inf")])


def test_terminal_chart_huge_and_tiny_values() -> None:
    chart = terminal_chart([1e308, -1e308, 1.7e308], width=3, height=4, limit=1e308)
    assert "1.7e+308" in chart and "-1e+308" in chart  # no overflow to NaN
    # 5 under a limit of 1024 is less than an eighth of a row: still visible
    rows = terminal_chart([5.0], width=1, height=8, limit=1024).splitlines()
    assert rows[-1].endswith("▁") and rows[0].endswith("─")
