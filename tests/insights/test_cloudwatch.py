"""The CloudWatch backend against moto in server mode on 127.0.0.1 (API plumbing only)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from fdscope.insights import QuerySyntaxError, cloudwatch


@pytest.fixture(scope="module")
def logs_client() -> Iterator[object]:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client(
        "logs",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_log_group(logGroupName="/aws/lambda/leaky")
    client.create_log_stream(
        logGroupName="/aws/lambda/leaky", logStreamName="2026/11/28/[$LATEST]abc"
    )
    now = int(time.time() * 1000)
    client.put_log_events(
        logGroupName="/aws/lambda/leaky",
        logStreamName="2026/11/28/[$LATEST]abc",
        logEvents=[
            {"timestamp": now - 2000, "message": "[ERROR] OSError: [Errno 24] Too many open files"},
            {"timestamp": now - 1000, "message": "all good"},
        ],
    )
    try:
        yield client
    finally:
        server.stop()


def test_start_poll_and_rows(logs_client: object) -> None:
    now = int(time.time() * 1000)
    seen: list[str] = []
    r = cloudwatch.execute(
        "fields @timestamp, @message | sort @timestamp desc | limit 50",
        ["/aws/lambda/leaky"],
        start=now - 3_600_000,
        end=now + 60_000,
        client=logs_client,
        on_progress=lambda status, stats: seen.append(status),
        poll_seconds=0.05,
    )
    assert seen and seen[-1] == "Complete"
    messages = {row.get("@message") for row in r.rows}
    assert "all good" in messages
    assert "@ptr" not in r.columns


def test_bad_query_fails_before_any_call() -> None:
    class NoCalls:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"called {name}")

    with pytest.raises(QuerySyntaxError):
        cloudwatch.execute("stats cnt(*)", ["/g"], start=0, end=1, client=NoCalls())


def test_ctrl_c_stops_the_query(logs_client: object) -> None:
    stopped: list[str] = []

    class Interrupting:
        def start_query(self, **kw: object) -> dict[str, str]:
            return logs_client.start_query(**kw)  # type: ignore[attr-defined]

        def get_query_results(self, **kw: object) -> dict[str, object]:
            raise KeyboardInterrupt

        def stop_query(self, queryId: str) -> dict[str, object]:  # noqa: N803
            stopped.append(queryId)
            return logs_client.stop_query(queryId=queryId)  # type: ignore[attr-defined]

    now = int(time.time() * 1000)
    with pytest.raises(KeyboardInterrupt):
        cloudwatch.execute(
            "fields @message",
            ["/aws/lambda/leaky"],
            start=now - 60_000,
            end=now,
            client=Interrupting(),
        )
    assert len(stopped) == 1


def test_missing_log_group_is_an_fdscope_error(logs_client: object) -> None:
    from fdscope.errors import QueryError

    with pytest.raises(QueryError):
        cloudwatch.execute(
            "fields @message", ["/no/such/group"], start=0, end=1000, client=logs_client
        )


def test_cli_log_group_prints_rows(logs_client: object) -> None:
    import json

    from click.testing import CliRunner

    from fdscope.cli.insights import query

    endpoint = logs_client.meta.endpoint_url  # type: ignore[attr-defined]
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    r = CliRunner().invoke(
        query,
        [
            "fields @message | limit 10",
            "--log-group",
            "/aws/lambda/leaky",
            "--start",
            "1h",
            "--json",
        ],
        env=env,
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)  # get-query-results' shape, rows as objects by field
    assert doc["status"] == "Complete"
    # moto returns no statistics: the keys of what fdscope skipped are there, empty
    assert doc["statistics"] == {"skipped": {}, "skippedFiles": {}, "stopped": {}, "badUtf8": 0}
    assert "all good" in {row.get("@message") for row in doc["results"]}


def test_cli_json_keeps_cloudwatchs_statistics() -> None:
    # get-query-results' response as boto3 gives it (moto sends no statistics)
    from fdscope.cli.insights import json_document

    stats = {"recordsMatched": 2.0, "recordsScanned": 5.0, "bytesScanned": 310.0}
    results = [
        [{"field": "@message", "value": "a"}, {"field": "@ptr", "value": "p1"}],
        [{"field": "@message", "value": "b"}, {"field": "@ptr", "value": "p2"}],
    ]
    doc = json_document(cloudwatch._result(results, stats))
    assert doc == {
        "results": [{"@message": "a"}, {"@message": "b"}],
        "statistics": {**stats, "skipped": {}, "skippedFiles": {}, "stopped": {}, "badUtf8": 0},
        "status": "Complete",
    }
