"""A compact chart for the terminal (standard library only)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from fdscope.errors import MetricsError

_BLOCKS = " ▁▂▃▄▅▆▇█"


def _columns(values: Sequence[float | None], width: int) -> list[float | None]:
    """Resample to ``width`` columns, each the maximum of its slice (None when all missing)."""
    n = len(values)
    if n <= width:
        return list(values)
    cols: list[float | None] = []
    for c in range(width):
        lo, hi = c * n // width, (c + 1) * n // width
        chunk = [v for v in values[lo:hi] if v is not None]
        cols.append(max(chunk) if chunk else None)
    return cols


def _fmt(x: float) -> str:
    if abs(x) >= 1e6 or (x and abs(x) < 1e-3):
        return f"{x:.3g}"
    return f"{x:.0f}" if abs(x) >= 100 or x == int(x) else f"{x:.3g}"


def terminal_chart(
    values: Sequence[float | None],
    *,
    width: int = 60,
    height: int = 8,
    limit: float | None = None,
) -> str:
    """Bars of ``values`` (max per column when more than ``width``) in ``height`` text rows.

    ``None`` values are gaps.  ``limit`` is drawn as a ``─`` line.  Returns the
    chart as lines joined by newlines, with the scale on the left.  Raises
    MetricsError when width or height is below 1 or a value is not finite.
    """
    if width < 1 or height < 1:
        raise MetricsError("terminal chart needs width and height of at least 1")
    for v in [*values, limit]:
        if v is not None and not math.isfinite(v):
            raise MetricsError(f"cannot chart {v!r}")
    cols = _columns(values, width)
    present = [v for v in cols if v is not None]
    top = max([*present, *([limit] if limit is not None else []), 0.0])
    bottom = min([*present, 0.0])
    # work in units of the largest magnitude, so 1e308 - (-1e308) cannot overflow
    scale = max(abs(top), abs(bottom)) or 1.0
    span = (top / scale - bottom / scale) or 1.0

    def level(v: float) -> int:  # eighths of a row; a value above the bottom shows at least 1
        lvl = round((v / scale - bottom / scale) / span * height * 8)
        return max(lvl, 1) if v > bottom else lvl

    levels = [None if v is None else level(v) for v in cols]
    limit_row = None
    if limit is not None:
        at = math.ceil((limit / scale - bottom / scale) / span * height) - 1
        limit_row = min(height - 1, max(0, at))
    labels = [_fmt(top), _fmt(bottom)]
    pad = max(len(s) for s in labels)
    lines = []
    for row in range(height - 1, -1, -1):  # top row first
        chars = []
        for lvl in levels:
            if lvl is None:
                ch = " "
            else:
                fill = lvl - row * 8
                ch = _BLOCKS[8] if fill >= 8 else _BLOCKS[max(fill, 0)]
            if ch == " " and limit_row == row:
                ch = "─"
            chars.append(ch)
        label = labels[0] if row == height - 1 else labels[1] if row == 0 else ""
        lines.append(f"{label:>{pad}} ┤{''.join(chars)}")
    return "\n".join(lines)
