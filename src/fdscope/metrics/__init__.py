"""Metrics from EMF: series, CloudWatch statistics, alarms, what-if (fdscope.metrics).

Charts live in :mod:`fdscope.metrics.plot` (matplotlib is imported only there).
"""

from __future__ import annotations

from fdscope.metrics._percentile import percentile

__all__ = ["percentile"]
