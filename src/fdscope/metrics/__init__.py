"""Metrics from EMF: series, CloudWatch statistics, alarms, what-if (fdscope.metrics).

- :func:`percentile` is THE percentile of fdscope (nearest rank, weighted);
- :func:`load_datapoints` reads EMF datapoints from logs, files, directories, runs;
  :func:`build_series` groups them; :func:`aggregate` gives CloudWatch statistics
  per period (:func:`parse_statistic` knows the names, :func:`compute` one value);
- :class:`AlarmRule` + :func:`evaluate` replay an alarm over a recorded series
  with CloudWatch's rules (:func:`evaluate_range` is one evaluation);
  :func:`sweep` answers "how often would it have fired";
- :func:`put_metric_data` / :func:`put_metric_alarm` send to CloudWatch (boto3).

Charts live in :mod:`fdscope.metrics.plot` (matplotlib is imported only there).
"""

from __future__ import annotations

from fdscope.metrics._alarm import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    AlarmError,
    AlarmHistory,
    AlarmRule,
    Evaluation,
    SweepRow,
    Transition,
    default_thresholds,
    evaluate,
    evaluate_range,
    evaluate_sequence,
    history_from_buckets,
    history_from_values,
    sweep,
    sweep_caveat,
    window_values,
)
from fdscope.metrics._bulk import bulk_aggregate
from fdscope.metrics._cloudwatch import put_metric_alarm, put_metric_data
from fdscope.metrics._percentile import percentile
from fdscope.metrics._series import (
    Bucket,
    Series,
    SeriesKey,
    aggregate,
    bucket_start,
    build_series,
    check_period,
    check_resolution,
    find_series,
    load_datapoints,
)
from fdscope.metrics._stats import Bound, Statistic, StatisticError, compute, parse_statistic

__all__ = [
    "ALARM",
    "AlarmError",
    "AlarmHistory",
    "AlarmRule",
    "Bound",
    "Bucket",
    "Evaluation",
    "INSUFFICIENT_DATA",
    "OK",
    "Series",
    "SeriesKey",
    "Statistic",
    "StatisticError",
    "SweepRow",
    "Transition",
    "aggregate",
    "bucket_start",
    "build_series",
    "bulk_aggregate",
    "check_period",
    "check_resolution",
    "compute",
    "default_thresholds",
    "evaluate",
    "evaluate_range",
    "evaluate_sequence",
    "find_series",
    "history_from_buckets",
    "history_from_values",
    "load_datapoints",
    "parse_statistic",
    "percentile",
    "put_metric_alarm",
    "put_metric_data",
    "sweep",
    "sweep_caveat",
    "window_values",
]
