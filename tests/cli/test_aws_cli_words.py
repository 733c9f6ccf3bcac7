"""Issue 16 item 5: the AWS CLI's option names and value syntax work in fdscope, and
fdscope's own options mean one thing everywhere.

The commands are copied from the AWS CLI reference (each test cites its page); the
calls go over HTTP to moto in server mode on 127.0.0.1 (nothing mocked in-process).
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from fdscope.cli import COMMANDS, cli

T0 = 1_392_765_480_000  # 2014-02-18T23:18:00Z, the get-metric-statistics example's start


def _run(args: list[str], code: int = 0) -> tuple[str, str]:
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == code, res.output
    return res.stdout, res.stderr


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    import urllib.request

    # moto's state is per process, not per server: start from none
    urllib.request.urlopen(urllib.request.Request(f"http://{host}:{port}/moto-api/reset",
                                                  method="POST"), timeout=10).close()  # fmt: skip
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)  # --region / --profile must do it
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _emf_cpu(path: Path, hours: int = 24) -> None:
    """CPUUtilization of AWS/EC2 for one instance, one value a minute."""
    with path.open("w") as f:
        for i in range(hours * 60):
            rec = {
                "_aws": {
                    "Timestamp": T0 + i * 60_000,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": "AWS/EC2",
                            "Dimensions": [["InstanceId"]],
                            "Metrics": [{"Name": "CPUUtilization", "Unit": "Percent"}],
                        }
                    ],
                },
                "InstanceId": "YourInstanceID",
                "CPUUtilization": float(i % 60) + (50.0 if i // 60 == 5 else 0.0),
            }
            f.write(json.dumps(rec) + "\n")


def test_get_metric_statistics_example(tmp_path: Path) -> None:
    """https://docs.aws.amazon.com/cli/latest/reference/cloudwatch/get-metric-statistics.html
    (awscli/examples/cloudwatch/get-metric-statistics.rst)."""
    aws = (
        "aws cloudwatch get-metric-statistics --metric-name CPUUtilization "
        "--start-time 2014-02-18T23:18:00 --end-time 2014-02-19T23:18:00 --period 3600 "
        "--namespace AWS/EC2 --statistics Maximum --dimensions Name=InstanceId,Value=YourInstanceID"
    )
    logs = tmp_path / "emf.log"
    _emf_cpu(logs)
    out, _ = _run(["metrics", str(logs), *shlex.split(aws)[3:], "--output", "json"])
    doc = json.loads(out)
    assert doc["Label"] == "CPUUtilization"  # as get-metric-statistics: Label, Datapoints
    rows = doc["Datapoints"]
    # every minute of the day counted once; fdscope's periods are aligned to the epoch
    # (as an alarm's), get-metric-statistics' to --start-time: 25 hours touched, not 24
    assert sum(r["samples"] for r in rows) == 24 * 60 and len(rows) == 25
    assert rows[0]["time"] == "2014-02-18T23:00:00Z" and rows[0]["samples"] == 42
    assert max(r["Maximum"] for r in rows) == 109.0
    # the dimension's JSON form picks the same series; another value picks none
    js = json.dumps([{"Name": "InstanceId", "Value": "YourInstanceID"}])
    same, _ = _run(["metrics", str(logs), *shlex.split(aws)[3:-2], "--dimensions", js,
                    "--output", "json"])  # fmt: skip
    assert json.loads(same) == doc
    res = CliRunner().invoke(
        cli, ["metrics", str(logs), *shlex.split(aws)[3:-1], "Name=InstanceId,Value=other"]
    )
    assert "no series" in str(res.exception)  # MetricsError: one red line under main()


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2014-02-18T23:18:00Z", "2014-02-19T01:18:00Z"),  # ISO 8601, the example's form
        ("1392765480", "1392772680"),  # epoch seconds (start-query's unit)
        ("1392765480000", "1392772680000"),  # epoch milliseconds (filter-log-events')
    ],
)
def test_aws_cli_time_formats(tmp_path: Path, start: str, end: str) -> None:
    """https://docs.aws.amazon.com/cli/latest/userguide/cli-usage-parameters-types.html
    (timestamps: ISO 8601 or Unix epoch)."""
    logs = tmp_path / "emf.log"
    _emf_cpu(logs, hours=3)
    out, _ = _run(["metrics", str(logs), "--metric-name", "CPUUtilization", "--period",
                   "3600", "--start-time", start, "--end-time", end, "--output", "json"])  # fmt: skip
    assert [r["samples"] for r in json.loads(out)["Datapoints"]] == [42, 60, 18]  # 120 min


def test_put_metric_alarm_example(moto: str) -> None:
    """https://docs.aws.amazon.com/cli/latest/reference/cloudwatch/put-metric-alarm.html
    (awscli/examples/cloudwatch/put-metric-alarm.rst); the options fdscope has no use
    for (actions, description, unit) are left out."""
    import boto3

    aws = (
        "aws cloudwatch put-metric-alarm --alarm-name cpu-mon --alarm-description "
        '"Alarm when CPU exceeds 70 percent" --metric-name CPUUtilization --namespace AWS/EC2 '
        "--statistic Average --period 300 --threshold 70 --comparison-operator "
        'GreaterThanThreshold  --dimensions "Name=InstanceId,Value=i-12345678" '
        "--evaluation-periods 2 --alarm-actions arn:aws:sns:us-east-1:111122223333:MyTopic "
        "--unit Percent"
    )
    words = shlex.split(aws)[3:]
    for unused in ("--alarm-description", "--alarm-actions", "--unit"):
        i = words.index(unused)
        del words[i : i + 2]
    out, _ = _run(["alarm", *words, "--deploy", "--region", "us-east-1", "--endpoint-url", moto])
    assert "cpu-mon" in out
    cw = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=moto)
    alarm = cw.describe_alarms(AlarmNames=["cpu-mon"])["MetricAlarms"][0]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/EC2", "CPUUtilization", "Average",
    )  # fmt: skip
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["Threshold"]) == (300, 2, 70)
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Dimensions"] == [{"Name": "InstanceId", "Value": "i-12345678"}]


def test_extended_statistic_and_datapoints_to_alarm(moto: str) -> None:
    """put-metric-alarm's --extended-statistic, --datapoints-to-alarm and
    --treat-missing-data (same reference page)."""
    import boto3

    _run(["alarm", "--alarm-name", "p99", "--metric-name", "duration", "--namespace", "fdscope",
          "--extended-statistic", "p99", "--period", "60", "--threshold", "3000",
          "--evaluation-periods", "3", "--datapoints-to-alarm", "2",
          "--treat-missing-data", "notBreaching", "--dimensions",
          '[{"Name": "function_name", "Value": "api"}]', "--deploy",
          "--region", "us-east-1", "--endpoint-url", moto])  # fmt: skip
    cw = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=moto)
    alarm = cw.describe_alarms(AlarmNames=["p99"])["MetricAlarms"][0]
    assert alarm["ExtendedStatistic"] == "p99" and alarm["DatapointsToAlarm"] == 2
    assert alarm["Dimensions"] == [{"Name": "function_name", "Value": "api"}]
    res = CliRunner().invoke(cli, ["alarm", "--statistic", "Average", "--extended-statistic",
                                   "p99", "--threshold", "1", "--deploy"])  # fmt: skip
    assert res.exit_code == 2 and "not both" in res.output


def _log_group(moto: str) -> int:
    import boto3

    logs = boto3.client("logs", region_name="us-east-1", endpoint_url=moto)
    logs.create_log_group(logGroupName="demo-log-group")
    logs.create_log_stream(logGroupName="demo-log-group", logStreamName="teststream")
    now = int(time.time() * 1000) - 60_000  # moto refuses events older than 14 days
    logs.put_log_events(
        logGroupName="demo-log-group",
        logStreamName="teststream",
        logEvents=[{"timestamp": now + i, "message": f"Test MESSAGE{i + 1}"} for i in range(2)],
    )
    return now


def test_filter_log_events_example_with_a_profile(
    moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """https://docs.aws.amazon.com/cli/latest/reference/logs/filter-log-events.html
    (awscli/examples/logs/filter-log-events.rst): ``aws logs filter-log-events
    --log-group-name demo-log-group``; the region comes from --profile."""
    now = _log_group(moto)
    config = tmp_path / "config"
    config.write_text("[profile demo]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    words = shlex.split("aws logs filter-log-events --log-group-name demo-log-group")[3:]
    out, _ = _run(["logs", "pull", *words, "--start-time", str(now - 5000), "--profile", "demo",
                   "--endpoint-url", moto, str(tmp_path / "out")])  # fmt: skip
    assert "2 event(s)" in out
    lines = (tmp_path / "out" / "demo-log-group.jsonl").read_text().splitlines()
    assert [json.loads(x)["message"] for x in lines] == ["Test MESSAGE1", "Test MESSAGE2"]
    import os

    assert "AWS_PROFILE" not in os.environ and "AWS_ENDPOINT_URL" not in os.environ


def test_start_query_example(moto: str) -> None:
    """https://docs.aws.amazon.com/cli/latest/reference/logs/start-query.html
    (awscli/examples/logs/start-query.rst), with the times moved to now (moto keeps
    14 days) and without --limit (a query's own ``| limit``)."""
    now = _log_group(moto)
    s, e = now - 60_000, now + 60_000
    aws = (
        f"aws logs start-query --log-group-name demo-log-group --start-time {s} --end-time {e} "
        "--query-string 'fields @timestamp, @message | sort @timestamp desc'"
    )
    out, _ = _run(["query", *shlex.split(aws)[3:], "--output", "json",
                   "--region", "us-east-1", "--endpoint-url", moto])  # fmt: skip
    doc = json.loads(out)  # get-query-results' top-level keys
    assert set(doc) == {"results", "statistics", "status"} and doc["status"] == "Complete"
    assert [r["@message"] for r in doc["results"]] == ["Test MESSAGE2", "Test MESSAGE1"]


def _commands() -> dict[str, object]:
    import click

    out: dict[str, object] = {}
    for name in COMMANDS:
        cmd = cli.get_command(click.Context(cli), name)
        if isinstance(cmd, click.Group):
            for sub, c in cmd.commands.items():
                out[f"{name} {sub}"] = c
        elif cmd is not None:
            out[name] = cmd
    return out


@pytest.mark.parametrize("name", ["query", "logs pull", "triage", "metrics", "alarm"])
def test_every_command_that_calls_aws_takes_region_profile_endpoint(name: str) -> None:
    cmd = _commands()[name]
    opts = {o for p in cmd.params for o in p.opts}  # type: ignore[attr-defined]
    assert {"--region", "--profile", "--endpoint-url"} <= opts


def test_one_meaning_per_option() -> None:
    """-n counts invocations, --output is a format, --out a path, in every command."""
    import click

    for name, cmd in _commands().items():
        for p in cmd.params:  # type: ignore[attr-defined]
            if not isinstance(p, click.Option) or p.hidden:
                continue
            if "-n" in p.opts:
                assert "--invocations" in p.opts, name
            if "--output" in p.opts:
                assert p.name == "fmt", name
            if "--out" in p.opts:
                assert isinstance(p.type, click.Path), name
            assert "-o" not in p.opts or "--output" in p.opts, name


def test_old_spellings_warn_on_stderr(tmp_path: Path) -> None:
    logs = tmp_path / "emf.log"
    _emf_cpu(logs, hours=1)
    base = ["alarm", str(logs), "--metric", "CPUUtilization", "--threshold", "50", "--output",
            "json"]  # fmt: skip
    new, err = _run([*base, "--evaluation-periods", "2"])
    assert err == ""
    old, err = _run([*base, "-n", "2"])
    assert old == new and "-n is deprecated here, use --evaluation-periods" in err
    png = tmp_path / "c.svg"
    _, err = _run(["plot", str(logs), "--metric", "CPUUtilization", "-o", str(png)])
    assert png.is_file() and "-o is deprecated here, use --out" in err
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "ok.py").write_text("x = 1\n")
    report = tmp_path / "lint.txt"
    _, err = _run(["lint", str(tmp_path / "src"), "--output", str(report)])
    assert report.is_file() and "--output FILE is deprecated" in err
    out, err = _run(["lint", str(tmp_path / "src"), "--output", "json"])
    assert json.loads(out) and err == ""


def test_docs_cli_md_lists_every_option() -> None:
    """docs/cli.md's table has a row for every visible option of every command."""
    import click

    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    missing = []
    for name, cmd in _commands().items():
        section = doc.split(f"### `fdscope {name}`", 1)
        assert len(section) == 2, f"no section for {name}"
        body = section[1].split("\n### ", 1)[0]
        for p in cmd.params:  # type: ignore[attr-defined]
            if isinstance(p, click.Option) and not p.hidden:
                primary = ([o for o in p.opts if o.startswith("--")] or p.opts)[0]
                if f"| `{primary}` |" not in body:
                    missing.append(f"{name} {primary}")
    assert missing == []
