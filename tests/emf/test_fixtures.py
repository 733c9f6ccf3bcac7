"""Records from outside fdscope parse to the expected datapoints (sources: fixtures/emf/SOURCES.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fdscope.emf import Datapoint, ParseStats, parse_events
from fdscope.logs import LogEvent, ReadStats, read_events

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "emf"


def points(*sources: Path) -> tuple[list[Datapoint], ParseStats]:
    stats = ParseStats()
    return list(parse_events(read_events(*sources, stats=ReadStats()), stats)), stats


def table(pts: list[Datapoint]) -> set[tuple]:
    return {
        (
            p.namespace,
            p.metric,
            tuple(sorted(p.dimensions.items())),
            p.value,
            p.count,
            p.unit,
            p.resolution,
            p.declared,
        )
        for p in pts
    }


LI_DIMS = (("function_name", "cpu-intensive"),)
LI_DIMS2 = (("function_name", "cpu-intensive"), ("version", "Blue"))
LI_DECLARED = {
    "memory_utilization": (24, "Percent"),
    "total_memory": (256, "Megabytes"),
    "used_memory_max": (63, "Megabytes"),
    "cpu_total_time": (6690, "Milliseconds"),
    "tx_bytes": (4434, "Bytes"),
    "rx_bytes": (6911, "Bytes"),
    "total_network": (11345, "Bytes"),
    "init_duration": (130, "Milliseconds"),
}
LI_UNDECLARED = {
    "duration": 45191,
    "billed_duration": 45200,
    "billed_mb_ms": 11571200,
    "tmp_free": 538329088,
    "tmp_max": 551346176,
    "threads_max": 11,
    "cpu_user_time": 6640,
    "cpu_system_time": 50,
    "fd_use": 416,
    "fd_max": 32642,
    "agent_memory_avg": 10,
    "agent_memory_max": 10,
}


def test_lambda_insights_event_from_a_cloudwatch_export() -> None:
    pts, stats = points(FIX / "cloudwatch-export-lambda-insights.json")
    want = set()
    for name, (v, unit) in LI_DECLARED.items():
        for dims in (LI_DIMS, LI_DIMS2):
            want.add(("LambdaInsights", name, dims, float(v), 1.0, unit, 60, True))
    for name, v in LI_UNDECLARED.items():  # fd_use lives here, undeclared, as AWS writes it
        want.add(("LambdaInsights", name, LI_DIMS2, float(v), 1.0, None, 60, False))
    assert table(pts) == want
    assert all(p.timestamp == 1605034324256 for p in pts)
    assert stats.records == 1 and stats.skipped == 1 and stats.emf_validation_errors == 0


def test_lambda_insights_event_as_a_message() -> None:
    text = json.dumps(json.loads((FIX / "lambda-insights-performance-event.json").read_text()))
    pts = list(parse_events([LogEvent(0, text, "s", "/aws/lambda-insights")]))
    fd = [p for p in pts if p.metric == "fd_use"]
    assert [(p.value, p.declared) for p in fd] == [(416.0, False)]


POWERTOOLS = {
    (
        "ShopApp",
        "SuccessfulBooking",
        (("environment", "prod"), ("service", "checkout")),
        1.0,
        1.0,
        "Count",
        60,
        True,
    ),
    (
        "ShopApp",
        "SuccessfulBooking",
        (("environment", "prod"), ("service", "checkout")),
        2.0,
        1.0,
        "Count",
        60,
        True,
    ),
    (
        "ShopApp",
        "Latency",
        (("environment", "prod"), ("service", "checkout")),
        12.5,
        1.0,
        "Milliseconds",
        1,
        True,
    ),
}
AEM_DIMS = (
    ("LogGroup", "checkout-fn"),
    ("Operation", "Checkout"),
    ("ServiceName", "checkout-fn"),
    ("ServiceType", "AWS::Lambda::Function"),
)
AEM = {
    ("ShopApp", "ProcessingLatency", AEM_DIMS, 100.0, 1.0, "Milliseconds", 60, True),
    ("ShopApp", "ProcessingLatency", AEM_DIMS, 150.0, 1.0, "Milliseconds", 60, True),
    ("ShopApp", "Hits", AEM_DIMS, 3.0, 1.0, "Count", 1, True),
}


def test_stored_powertools_and_aws_embedded_metrics_records() -> None:
    pts, stats = points(FIX / "powertools.stdout.log")
    assert table(pts) == POWERTOOLS
    pts, stats = points(FIX / "aws-embedded-metrics.stdout.log")
    assert table(pts) == AEM and stats.records == 1


@pytest.mark.parametrize(
    ("script", "env", "want"),
    [
        ("gen_powertools.py", {"POWERTOOLS_METRICS_NAMESPACE": ""}, POWERTOOLS),  # compact JSON
        ("gen_aws_embedded_metrics.py", {"AWS_LAMBDA_FUNCTION_NAME": "checkout-fn"}, AEM),  # spaced
    ],
)
def test_records_the_installed_libraries_write_now(
    script: str, env: dict[str, str], want: set, tmp_path: Path
) -> None:
    out = subprocess.run(
        [sys.executable, str(FIX / script)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
        timeout=60,
    ).stdout
    log = tmp_path / "stdout.log"
    log.write_text(out)
    pts, stats = points(log)
    assert table(pts) == want and stats.emf_validation_errors == 0


def test_opentelemetry_values_and_counts() -> None:
    pts, _ = points(FIX / "otel-histogram.stdout.log")
    dims = (("OTelLib", "opentelemetry.instrumentation.flask"), ("route", "/checkout"))
    declared = {(p.value, p.count) for p in pts if p.declared}
    assert declared == {(5.5, 7.0), (12.0, 2.0), (48.25, 1.0)}
    assert {p.metric for p in pts if p.declared} == {"http.server.duration"}
    assert all(p.dimensions == dict(dims) for p in pts if p.declared)
    assert sum(p.count for p in pts if p.declared) == 10  # CloudWatch's SampleCount
