"""Send to CloudWatch through boto3 (imported when used): PutMetricData and PutMetricAlarm."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fdscope._aws_errors import aws_errors
from fdscope._extras import extra
from fdscope.errors import MetricsError
from fdscope.metrics._alarm import AlarmRule
from fdscope.metrics._series import Series

_MAX_VALUES = 150  # distinct values per MetricDatum (PutMetricData limit)
_MAX_DATUMS = 1000  # MetricDatum per request


def _client(client: Any, region: str | None, endpoint_url: str | None) -> Any:
    if client is not None:
        return client
    with extra("aws", "sending to CloudWatch"):
        import boto3
    with _GUARD:  # no region: an error with a hint
        return boto3.client("cloudwatch", region_name=region, endpoint_url=endpoint_url)


# no region, no credentials, no connection: an error with a hint (fdscope._aws_errors)
_GUARD = aws_errors("sending to CloudWatch")


def _call(fn: Any, **kwargs: Any) -> Any:
    with extra("aws", "sending to CloudWatch"):
        from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(**kwargs)
    except (BotoCoreError, ClientError) as exc:
        _GUARD.check(exc)
        raise MetricsError(f"CloudWatch: {exc}")


def put_metric_data(
    series: Series,
    *,
    namespace: str | None = None,
    client: Any = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> int:
    """Send a series with PutMetricData, one datum per timestamp (Values/Counts arrays).

    Returns how many MetricDatum were sent.  Raises MetricsError when CloudWatch
    refuses or boto3 is missing.
    """
    cw = _client(client, region, endpoint_url)
    from datetime import datetime, timezone

    by_ts: dict[int, dict[float, float]] = {}
    for ts, v, c in zip(series.timestamps, series.values, series.counts, strict=True):
        if c > 0:
            slot = by_ts.setdefault(ts, {})
            slot[v] = slot.get(v, 0.0) + c
    dims = [{"Name": k, "Value": v} for k, v in series.key.dimensions]
    data: list[dict[str, Any]] = []
    for ts in sorted(by_ts):
        items = sorted(by_ts[ts].items())
        for i in range(0, len(items), _MAX_VALUES):
            chunk = items[i : i + _MAX_VALUES]
            datum: dict[str, Any] = {
                "MetricName": series.key.metric,
                "Dimensions": dims,
                "Timestamp": datetime.fromtimestamp(ts / 1000, tz=timezone.utc),
                "Values": [v for v, _ in chunk],
                "Counts": [c for _, c in chunk],
            }
            if series.unit:
                datum["Unit"] = series.unit
            data.append(datum)
    ns = namespace or series.key.namespace
    for i in range(0, len(data), _MAX_DATUMS):
        _call(cw.put_metric_data, Namespace=ns, MetricData=data[i : i + _MAX_DATUMS])
    return len(data)


def put_metric_alarm(
    rule: AlarmRule,
    *,
    name: str,
    namespace: str,
    metric: str,
    dimensions: Mapping[str, str] | None = None,
    description: str | None = None,
    actions: list[str] | None = None,
    client: Any = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> dict[str, Any]:
    """Create or update the alarm ``name`` for ``rule`` with PutMetricAlarm.

    Returns the request sent.  Raises MetricsError when CloudWatch refuses.
    """
    from fdscope.metrics._stats import parse_statistic

    cw = _client(client, region, endpoint_url)
    stat = parse_statistic(rule.statistic)
    req: dict[str, Any] = {
        "AlarmName": name,
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in sorted((dimensions or {}).items())],
        "Period": rule.period,
        "EvaluationPeriods": rule.n,
        "DatapointsToAlarm": rule.m,
        "Threshold": float(rule.threshold),
        "ComparisonOperator": rule.comparison,
        "TreatMissingData": rule.treat_missing_data,
    }
    if stat.extended:
        req["ExtendedStatistic"] = stat.name
    else:
        req["Statistic"] = stat.name
    if description:
        req["AlarmDescription"] = description
    if actions:
        req["AlarmActions"] = actions
    _call(cw.put_metric_alarm, **req)
    return req
