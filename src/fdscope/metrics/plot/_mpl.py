"""Charts with matplotlib (imported here only, through the Agg canvas: no global backend)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fdscope._extras import extra
from fdscope.errors import MetricsError

FD_COLOR = "#1f77b4"  # descriptors in use
LIMIT_COLOR = "#d62728"  # the limit / threshold line
DURATION_COLOR = "#7f7f7f"
MEMORY_COLOR = "#8e44ad"
FAIL_COLOR = "#d62728"
NEAR_COLOR = "#ff7f0e"  # near the limit, no open failed: a warning
COLD_COLOR = "#2ca02c"
ALARM_COLOR = "#ff9896"  # ALARM shading
_LEGEND_ABOVE: dict[str, Any] = {
    "loc": "lower center",
    "bbox_to_anchor": (0.5, 1.0),
    "ncol": 5,
    "fontsize": 8,
    "frameon": False,
}  # legends sit above the axes, never over the data


@dataclass(frozen=True)
class ChartGeometry:
    """Where a chart's data went: image size and the main axes' box and limits.

    ``axes_px`` is (left, top, right, bottom) in image pixels, origin top-left;
    ``pixel(x, y)`` maps data coordinates of the main axes to image pixels.
    """

    path: Path
    width_px: int
    height_px: int
    axes_px: tuple[float, float, float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    # the markers drawn, by kind ("failed", "near limit"): their x (invocation) values
    marks: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def pixel(self, x: float, y: float) -> tuple[float, float]:
        """Image pixel (column, row) of data point (x, y) on the main axes."""
        left, top, right, bottom = self.axes_px
        fx = (x - self.xlim[0]) / (self.xlim[1] - self.xlim[0])
        fy = (y - self.ylim[0]) / (self.ylim[1] - self.ylim[0])
        return left + fx * (right - left), bottom - fy * (bottom - top)


def _figure(width: float, height: float, dpi: int) -> Any:
    with extra("plot", "drawing a chart"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, ax: Any, out: Path) -> ChartGeometry:
    out = Path(out)
    fmt = out.suffix.lstrip(".").lower() or "png"
    if fmt not in {"png", "svg", "pdf"}:
        raise MetricsError(f"cannot write a chart as {fmt!r}: use .png, .svg or .pdf")
    fig.canvas.draw()
    w, h = fig.canvas.get_width_height()
    bbox = ax.get_window_extent()
    geometry = ChartGeometry(
        path=out,
        width_px=w,
        height_px=h,
        axes_px=(float(bbox.x0), float(h - bbox.y1), float(bbox.x1), float(h - bbox.y0)),
        xlim=(float(ax.get_xlim()[0]), float(ax.get_xlim()[1])),
        ylim=(float(ax.get_ylim()[0]), float(ax.get_ylim()[1])),
    )
    # whole or not at all: a temporary file beside it, then a rename (a reader never
    # sees half a picture, an interrupted write leaves the old one)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp{out.suffix}")
    try:
        fig.savefig(tmp, format=fmt, dpi=fig.dpi)
        os.replace(tmp, out)
    except OSError as exc:
        raise MetricsError(f"cannot write {out}: {exc}")
    finally:
        if tmp.exists():
            tmp.unlink()
    return geometry


def run_chart(
    samples: Sequence[dict[str, Any]],
    limit: int,
    out: Path,
    *,
    title: str | None = None,
    dpi: int = 100,
    memory_mb: int | None = None,
) -> ChartGeometry:
    """Draw the doctor's picture of a run from ``samples.jsonl`` rows to ``out`` (.png/.svg).

    With ``memory_mb`` (the function's memory size) and rows that carry ``rss_bytes``,
    a second panel below shows resident memory against that size, out-of-memory
    invocations (``Runtime.OutOfMemory``) as red crosses.

    Descriptors in use per invocation against the ``limit`` line, duration on a
    second axis, cold starts (a new ``stream``) as green dotted lines, failed
    invocations (status other than ``ok``) as red crosses, and invocations that
    succeeded within the margin of the limit (the largest process's count at
    ``fdscope.exhaustion.default_margin``: a warning, no open failed) as orange
    triangles.  Returns the chart's
    geometry; raises MetricsError when there are no samples or the file cannot
    be written.
    """
    rows = sorted(samples, key=lambda r: r.get("invocation", 0))
    if not rows:
        raise MetricsError("no samples to chart")
    xs = [r.get("invocation", i + 1) for i, r in enumerate(rows)]
    rss = [
        (x, r["rss_bytes"] / 2**20) for x, r in zip(xs, rows, strict=False) if r.get("rss_bytes")
    ]
    if memory_mb and rss:
        fig = _figure(10, 7, dpi)
        grid = fig.add_gridspec(2, 1, height_ratios=(3, 1))
        ax = fig.add_subplot(grid[0])
        _memory_panel(fig.add_subplot(grid[1], sharex=ax), rows, xs, rss, memory_mb)
    else:
        fig = _figure(10, 5, dpi)
        ax = fig.add_subplot(1, 1, 1)
    fds = [r.get("fd_count") for r in rows]
    pts = [(x, y) for x, y in zip(xs, fds, strict=False) if y is not None]
    # with child processes, the limit (per process) is met by the largest one: draw it too
    most = [r.get("fd_count_max") for r in rows]
    several = any((r.get("processes") or 1) > 1 for r in rows)
    if pts:
        ax.plot(
            *zip(*pts, strict=False),
            color=FD_COLOR,
            linewidth=1.8,
            marker=".",
            label="descriptors in use (all processes)" if several else "descriptors in use",
        )
    top = [(x, y) for x, y in zip(xs, most, strict=False) if y is not None]
    if several and top:
        ax.plot(
            *zip(*top, strict=False),
            color=FD_COLOR,
            linewidth=1.2,
            linestyle="--",
            label="largest process",
        )
    ax.axhline(limit, color=LIMIT_COLOR, linestyle="--", linewidth=1.5, label=f"limit {limit}")
    streams_seen: set[Any] = set()
    previous = object()
    cold_label = "cold start"
    for x, r in zip(xs, rows, strict=False):
        stream = r.get("stream")
        if stream != previous and stream is not None:
            ax.axvline(x, color=COLD_COLOR, linestyle=":", linewidth=1.2, label=cold_label)
            cold_label = "_nolegend_"
            streams_seen.add(stream)
        previous = stream
    failed = [
        (x, y if y is not None else limit)
        for x, y, r in zip(xs, fds, rows, strict=False)
        if r.get("status", "ok") != "ok"
    ]
    if failed:
        fx, fy = zip(*failed, strict=False)
        ax.scatter(fx, fy, color=FAIL_COLOR, marker="x", s=60, zorder=5, label="failed")
    from fdscope.exhaustion import default_margin

    margin = default_margin(limit)
    near = []
    for x, r in zip(xs, rows, strict=False):
        held = r.get("fd_count_max")
        held = held if isinstance(held, int) else r.get("fd_count")
        if r.get("status", "ok") == "ok" and isinstance(held, int) and held >= limit - margin:
            near.append((x, held))
    if near:
        nx, ny = zip(*near, strict=False)
        ax.scatter(
            nx, ny, color=NEAR_COLOR, marker="^", s=40, zorder=5, label="near the limit (warning)"
        )
    marks = {"failed": tuple(x for x, _ in failed), "near limit": tuple(x for x, _ in near)}
    top = max([limit, *(y for _, y in pts)]) * 1.08
    ax.set_ylim(0, top)
    ax.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
    ax.set_xlabel("invocation")
    ax.set_ylabel("file descriptors in use")
    durations = [(x, r.get("duration_ms")) for x, r in zip(xs, rows, strict=False)]
    durations = [(x, d) for x, d in durations if d is not None and math.isfinite(d)]
    if durations:
        ax2 = ax.twinx()
        ax2.plot(
            *zip(*durations, strict=False),
            color=DURATION_COLOR,
            linewidth=1,
            alpha=0.7,
            label="duration",
        )
        ax2.set_ylabel("duration (ms)", color=DURATION_COLOR)
        ax2.set_ylim(bottom=0)
        handles, labels = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(handles + h2, labels + l2, **_LEGEND_ABOVE)
    else:
        ax.legend(**_LEGEND_ABOVE)
    ax.set_title(title or "file descriptors per invocation", pad=20)
    fig.tight_layout()
    return replace(_save(fig, ax, out), marks=marks)


def _memory_panel(
    ax: Any,
    rows: Sequence[dict[str, Any]],
    xs: Sequence[Any],
    rss: Sequence[tuple[Any, float]],
    memory_mb: int,
) -> None:
    """Resident memory (MB) per invocation against the memory size, out of memory marked."""
    ax.plot(*zip(*rss, strict=False), color=MEMORY_COLOR, linewidth=1.4, label="memory (RSS)")
    ax.axhline(memory_mb, color=LIMIT_COLOR, linestyle="--", linewidth=1.2, label=f"{memory_mb} MB")
    oom = [
        x for x, r in zip(xs, rows, strict=False) if r.get("error_type") == "Runtime.OutOfMemory"
    ]
    if oom:
        ax.scatter(
            oom,
            [memory_mb] * len(oom),
            color=FAIL_COLOR,
            marker="x",
            s=60,
            zorder=5,
            label="out of memory",
        )
    ax.set_ylim(0, max([memory_mb, *(y for _, y in rss)]) * 1.1)
    ax.set_ylabel("memory (MB)")
    ax.legend(loc="upper left", fontsize="small")


def metric_chart(
    points: Sequence[tuple[float, float]],
    out: Path,
    *,
    threshold: float | None = None,
    alarm_ranges: Sequence[tuple[float, float]] = (),
    failures: Sequence[float] = (),
    limit: float | None = None,
    title: str | None = None,
    ylabel: str = "",
    xlabel: str = "time (UTC)",
    time_axis: bool = True,
    dpi: int = 100,
    line_label: str | None = None,
) -> ChartGeometry:
    """Draw a statistic over time to ``out`` (.png/.svg): line, threshold, shaded ALARM ranges.

    ``line_label`` names the line in the legend (the statistic, e.g. ``fd_use Maximum
    per 60s``; default: the y label). The ALARM shading starts where each range starts:
    an alarm's ranges start at the evaluation that went into ALARM.

    ``points`` are (x, value); with ``time_axis`` x is ms since the epoch and the
    axis shows UTC times (the geometry's x unit is then matplotlib's date
    number: days since the epoch).  ``alarm_ranges`` are (start, end) in the same
    unit as x; ``failures`` are x positions marked with red crosses on the line.
    Values beyond 1e100 in magnitude are drawn divided by a power of ten named
    in the y label (matplotlib cannot scale an axis near the float limit), and
    the geometry's y unit is then the divided one.  Raises MetricsError when
    there are no points or a value, the threshold or the limit is not finite.
    """
    if not points:
        raise MetricsError("no datapoints to chart")
    marks = [y for _, y in points] + [v for v in (threshold, limit) if v is not None]
    bad = next((v for v in marks if not math.isfinite(v)), None)
    if bad is not None:
        raise MetricsError(f"cannot chart {bad!r} (a statistic that overflowed, or not a number)")
    biggest = max(abs(v) for v in marks)
    factor = 10.0 ** math.floor(math.log10(biggest)) if biggest > 1e100 else 1.0
    th_label, lim_label = threshold, limit
    if factor != 1.0:
        points = [(x, y / factor) for x, y in points]
        threshold = None if threshold is None else threshold / factor
        limit = None if limit is None else limit / factor
        ylabel = f"{ylabel} (x {factor:.0e})"

    def conv(x: float) -> float:
        return x / 86_400_000 if time_axis else x

    fig = _figure(10, 4.5, dpi)
    ax = fig.add_subplot(1, 1, 1)
    xs = [conv(x) for x, _ in points]
    ys = [y for _, y in points]
    # an ALARM of a minute in a week is thinner than a pixel: draw at least 0.25% wide
    min_w = ((max(xs) - min(xs)) or 1.0) * 0.0025
    for start, end in alarm_ranges:
        x0, x1 = conv(start), conv(end)
        if x1 - x0 < min_w:
            mid = (x0 + x1) / 2
            x0, x1 = mid - min_w / 2, mid + min_w / 2
        ax.axvspan(
            x0, x1, color=ALARM_COLOR, alpha=0.6, linewidth=0, zorder=0,
            label="ALARM" if start == alarm_ranges[0][0] else "_nolegend_",
        )  # fmt: skip
    ax.plot(
        xs, ys, color=FD_COLOR, linewidth=1.6, marker="." if len(xs) < 200 else None, zorder=3,
        label=line_label or ylabel or "value",
    )  # fmt: skip
    if threshold is not None:
        ax.axhline(
            threshold, color=LIMIT_COLOR, linestyle="--", linewidth=1.5, zorder=4,
            label=f"threshold {th_label:g}",
        )  # fmt: skip
    if limit is not None:
        ax.axhline(
            limit, color=LIMIT_COLOR, linestyle="-", linewidth=1.5, zorder=4,
            label=f"limit {lim_label:g}",
        )  # fmt: skip
    if failures:
        fmap = dict(zip(xs, ys, strict=False))
        fx = [conv(x) for x in failures]
        ax.scatter(
            fx, [fmap.get(x, limit or 0) for x in fx], color=FAIL_COLOR, marker="x", zorder=5,
            label="timeout / EMFILE",
        )  # fmt: skip
    lo = min([*ys, *(v for v in (threshold, limit) if v is not None)])
    hi = max([*ys, *(v for v in (threshold, limit) if v is not None)])
    pad = (hi - lo) * 0.08 or 1.0
    ax.set_ylim(min(0.0, lo - pad) if lo >= 0 else lo - pad, hi + pad)
    span = (max(xs) - min(xs)) or 1.0
    ax.set_xlim(min(xs) - span * 0.01, max(xs) + span * 0.01)
    if time_axis:
        with extra("plot", "drawing a chart"):
            import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    legend = threshold is not None or limit is not None or bool(failures) or bool(alarm_ranges)
    if title:
        ax.set_title(title, pad=20 if legend else 6)
    if legend:  # above the axes, never over the data
        ax.legend(**_LEGEND_ABOVE)
    fig.tight_layout()
    geometry = _save(fig, ax, out)
    geometry.marks["alarm"] = tuple(float(conv(a)) for a, _ in alarm_ranges)
    return geometry
