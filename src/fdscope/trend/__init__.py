"""THE trend of a per-invocation descriptor count: the monitor's leak watch and the doctor's verdict.

Both use :func:`analyze` (batch) or :class:`LeakWatch` (streaming), so a
warning in the function and a verdict from ``fdscope doctor`` never disagree.
A :class:`Trend` carries ``rate`` (descriptors per invocation, Theil-Sen,
robust to outliers and to saw-tooth drops), ``shape`` (one of
:data:`SHAPES`), ``confidence`` (0..1, defined in :func:`analyze`),
``leaking`` and ``invocations_to_limit(limit)``.

Mapping to the doctor's verdicts, as the lead uses it: ``leaking`` -> leak;
``sawtooth`` and not leaking -> gc-bound; ``plateau`` -> bounded; ``flat`` /
``noisy`` / ``shrinking`` -> none.
"""

from __future__ import annotations

from fdscope.trend._trend import (
    FULL_EVIDENCE,
    MIN_GROWTH,
    SHAPES,
    LeakWatch,
    Trend,
    analyze,
    mann_kendall_threshold,
    theil_sen,
)

__all__ = [
    "FULL_EVIDENCE",
    "MIN_GROWTH",
    "SHAPES",
    "LeakWatch",
    "Trend",
    "analyze",
    "mann_kendall_threshold",
    "theil_sen",
]
