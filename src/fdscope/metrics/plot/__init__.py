"""Charts of metrics and runs: PNG/SVG through matplotlib (imported only when drawing), text for terminals.

``run_chart`` draws the doctor's picture of a run (``samples.jsonl`` rows);
``metric_chart`` a statistic over time with threshold and ALARM shading;
``terminal_chart`` a compact text chart.
"""

from __future__ import annotations

from fdscope.metrics.plot._mpl import ChartGeometry, metric_chart, run_chart
from fdscope.metrics.plot._terminal import terminal_chart

__all__ = ["ChartGeometry", "metric_chart", "run_chart", "terminal_chart"]
