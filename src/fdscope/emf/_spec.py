"""What the EMF specification allows: units, limits (standard library only)."""

from __future__ import annotations

# CloudWatch's unit names (MetricDatum.Unit in the CloudWatch API reference).
UNITS = frozenset(
    {
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    }
)

MAX_METRICS_PER_DIRECTIVE = 100
MAX_VALUES_PER_METRIC = 100
MAX_DIMENSIONS_PER_SET = 30
MAX_DIMENSION_VALUE_LEN = 1024
MAX_NAME_LEN = 255  # namespace, metric name, dimension key
RESOLUTIONS = (1, 60)
PAST_MS = 14 * 24 * 3600 * 1000  # CloudWatch accepts datapoints up to 14 days old
FUTURE_MS = 2 * 3600 * 1000  # and up to 2 hours in the future
