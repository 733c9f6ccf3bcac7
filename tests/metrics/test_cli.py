"""``fdscope metrics`` / ``alarm`` / ``plot`` over EMF logs; --put and --deploy against moto.

The AWS calls go over HTTP to moto in server mode on 127.0.0.1, started and
stopped here; nothing is mocked in-process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from fdscope.cli import cli

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _emf(ts: int, duration: float, fd_use: float) -> str:
    return json.dumps(
        {
            "_aws": {
                "Timestamp": ts,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "fdscope",
                        "Dimensions": [["function_name"]],
                        "Metrics": [{"Name": "duration", "Unit": "Milliseconds"}],
                    }
                ],
            },
            "function_name": "api",
            "duration": duration,
            "fd_use": fd_use,
            "fd_max": 1024,
        }
    )


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """Two hours of one invocation every 20 s: fd_use saw-tooth, duration cycling."""
    path = tmp_path / "events.jsonl"
    with path.open("w") as f:
        for i in range(360):
            ts = T0 + i * 20_000
            event = {
                "timestamp": ts,
                "message": _emf(ts, 100 + (i % 30) * 10, 10 + (i % 45) * 20),
                "logStream": "2026/01/01/[$LATEST]" + "a" * 32,
                "logGroup": "/aws/lambda/api",
            }
            f.write(json.dumps(event) + "\n")
            if i % 45 == 44:  # the saw-tooth's peak times out
                event = {**event, "message": f"{ts} req-{i} Task timed out after 30.00 seconds"}
                f.write(json.dumps(event) + "\n")
    return path


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout  # notes and deprecation warnings go to stderr


def test_metrics_lists_series_and_statistics(logs: Path) -> None:
    out = run("metrics", str(logs), "--format", "json", "--all")  # fd_use: a member
    rows = json.loads(out)["Metrics"]
    labels = {r["series"]: r for r in rows}
    assert labels["fdscope/duration{function_name=api}"]["declared"] is True
    assert labels["fdscope/fd_use{function_name=api}"]["samples"] == 360
    out = run(
        "metrics", str(logs), "--metric", "fd_use", "--period", "300",
        "--stat", "Maximum", "--stat", "SampleCount", "--format", "csv",
    )  # fmt: skip
    lines = out.strip().splitlines()
    assert lines[0] == "time,samples,Maximum,SampleCount"
    assert len(lines) == 1 + 24  # two hours of five-minute buckets
    first = lines[1].split(",")
    # samples 0..14 of the saw-tooth: max 10 + 14*20
    assert first[0] == "2026-01-01T00:00:00Z" and float(first[2]) == 290.0 and float(first[3]) == 15


def test_alarm_evaluates_and_sweeps(logs: Path) -> None:
    out = run("alarm", str(logs), "--metric", "fd_use", "--threshold", "800", "-n", "1")
    assert "OK -> ALARM" in out and "alarms" in out
    res = CliRunner().invoke(cli, [
        "alarm", str(logs), "--metric", "fd_use", "--sweep", "--thresholds", "800,2000",
        "--mn", "1/1", "--format", "json",
    ])  # fmt: skip
    # two hours: a caveat on stderr
    rows = {r["threshold"]: r for r in json.loads(res.stdout)["Sweep"]}
    assert rows[2000.0]["alarms"] == 0 and rows[800.0]["alarms"] > 0
    assert "only 2 hours of data" in " ".join(res.stderr.split())


def test_plot_writes_png_and_terminal(logs: Path, tmp_path: Path) -> None:
    png = tmp_path / "fd.png"
    run("plot", str(logs), "--metric", "fd_use", "--threshold", "800", "-n", "1", "-o", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = run("plot", str(logs), "--terminal")
    assert "fd_use" in out and "█" in out
    # the limit comes from fd_max, recorded next to fd_use, and heads the scale
    assert out.splitlines()[1].lstrip().startswith("1024")


def test_failure_periods_mark_timeouts(logs: Path) -> None:
    from fdscope.cli.metrics import _failure_periods

    failed = _failure_periods((logs,), 60, None, None)
    # invocation 44 + 45k every 15 minutes: 8 timeouts in the two hours
    assert len(failed) == 8
    assert all(t % 60_000 == 0 for t in failed)
    assert min(failed) == T0 + (44 * 20_000) // 60_000 * 60_000


def test_plot_run_directory(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"fd_limit": 64, "handler": "app.handler"}))
    with (run_dir / "samples.jsonl").open("w") as f:
        for i in range(30):
            row = {"invocation": i + 1, "stream": f"s{i // 15}", "fd_count": 5 + 4 * (i % 15),
                   "duration_ms": 10.0, "status": "emfile" if i % 15 == 14 else "ok"}  # fmt: skip
            f.write(json.dumps(row) + "\n")
    out = run("plot", str(run_dir))
    assert (run_dir / "fd_use.png").is_file() and "fd_use.png" in out
    out = run("plot", str(run_dir), "--terminal")
    assert out.splitlines()[0].lstrip().startswith("64")


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_deploy_and_put_against_moto_server(logs: Path, moto_endpoint: str) -> None:
    import boto3

    cw = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=moto_endpoint)
    out = run(
        "alarm", "--metric", "duration", "--namespace", "fdscope", "--dimension",
        "function_name=api", "--stat", "p99", "--threshold", "3000", "-n", "3", "-m", "2",
        "--treat-missing-data", "notBreaching", "--deploy", "--alarm-name", "latency",
        "--endpoint-url", moto_endpoint, "--region", "us-east-1",
    )  # fmt: skip
    assert "latency" in out
    alarm = cw.describe_alarms(AlarmNames=["latency"])["MetricAlarms"][0]
    assert alarm["ExtendedStatistic"] == "p99"
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 2)
    assert alarm["Threshold"] == 3000 and alarm["TreatMissingData"] == "notBreaching"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Dimensions"] == [{"Name": "function_name", "Value": "api"}]

    out = run(
        "metrics", str(logs), "--metric", "duration", "--put", "--endpoint-url", moto_endpoint,
        "--region", "us-east-1",
    )  # fmt: skip
    assert "sent 360" in out
    from datetime import datetime, timezone

    stats = cw.get_metric_statistics(
        Namespace="fdscope",
        MetricName="duration",
        Dimensions=[{"Name": "function_name", "Value": "api"}],
        StartTime=datetime.fromtimestamp(T0 / 1000, tz=timezone.utc),
        EndTime=datetime.fromtimestamp(T0 / 1000 + 7200, tz=timezone.utc),
        Period=3600,
        Statistics=["SampleCount", "Maximum"],
    )["Datapoints"]
    assert sum(d["SampleCount"] for d in stats) == 360
    assert max(d["Maximum"] for d in stats) == 390.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "nope", "--threshold", "1"], "no series 'nope'"),  # unknown metric
        (["--metric", "fd_use", "--stat", "Median", "--threshold", "1"], "unknown statistic"),
        (["--metric", "fd_use", "--period", "45", "--threshold", "1"], "alarm period 45s"),
    ],
)
def test_errors_are_one_red_line(
    logs: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from fdscope.cli import main

    with pytest.raises(SystemExit) as info:
        main(["alarm", str(logs), *args])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_alarm_without_end_evaluates_after_the_data_stops(tmp_path: Path, engine: str) -> None:
    # docs/metrics.md's worked case: a good minute, four silent, a slow one, then silence
    pytest.importorskip("duckdb")
    path = tmp_path / "worked.emf"
    path.write_text(_emf(T0 + 5_000, 5, 1) + "\n" + _emf(T0 + 5 * 60_000 + 5_000, 50, 1) + "\n")
    args = ["alarm", str(path), "--metric", "duration", "--threshold", "10", "--evaluation-periods", "3",
            "--engine", engine, "--format", "json"]  # fmt: skip
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["Evaluations"]
    states = {r["time"]: r["state"] for r in rows}
    assert states["2026-01-01T00:07:00Z"] == "OK"  # the breach is too young
    assert states["2026-01-01T00:08:00Z"] == "ALARM"  # three minutes after it: "--X--"
    assert rows[-1]["time"] == "2026-01-01T00:11:00Z"  # until it has left the 5-minute range


def test_invalid_emf_records_are_counted_on_stderr(tmp_path: Path) -> None:
    path = tmp_path / "bad.emf"
    good = json.loads(_emf(T0, 5, 1))
    bad_unit = json.loads(_emf(T0, 5, 1))
    bad_unit["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "ms"
    bad_ts = {**good, "_aws": {**good["_aws"], "Timestamp": "2026-01-01T00:00:00Z"}}
    lines = [json.dumps(good), json.dumps(bad_unit), json.dumps(bad_ts), '{"_aws": {"Time']
    path.write_text("\n".join(lines) + "\n")
    res = CliRunner().invoke(cli, ["metrics", str(path), "--format", "csv"])
    assert res.exit_code == 0, res.output
    assert "skipped 3 invalid EMF record(s)" in res.stderr
    assert "_aws.CloudWatchMetrics.Metrics.Unit 1" in res.stderr and "not JSON 1" in res.stderr
    assert "skipped" not in res.stdout


def test_sub_minute_periods_need_a_high_resolution_metric(tmp_path: Path) -> None:
    # CloudWatch MetricStat.Period: "For metrics with regular resolution, a period can be
    # as short as one minute (60 seconds) and must be a multiple of 60"
    path = tmp_path / "std.emf"
    path.write_text("\n".join(_emf(T0 + i * 7_000, 5 + i, 1) for i in range(20)) + "\n")
    for cmd in (["metrics", "--stat", "Maximum", "--period", "1"],
                ["alarm", "--threshold", "10", "--period", "10"]):  # fmt: skip
        res = CliRunner().invoke(cli, [*cmd, str(path), "--metric", "duration"])
        assert res.exit_code != 0 and "standard-resolution metric" in str(res.exception)
    # with StorageResolution 1, PutMetricAlarm's 10, 20 and 30 s periods are all accepted
    hi = tmp_path / "hi.emf"
    recs = []
    for i in range(20):
        doc = json.loads(_emf(T0 + i * 7_000, 5 + i, 1))
        doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["StorageResolution"] = 1
        recs.append(json.dumps(doc))
    hi.write_text("\n".join(recs) + "\n")
    for period in ("10", "20", "30"):
        args = ["alarm", str(hi), "--metric", "duration", "--threshold", "10", "--period", period,
                "--format", "json"]  # fmt: skip
        res = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert res.exit_code == 0, res.output
        times = [r["time"] for r in json.loads(res.output)["Evaluations"]]
        step = datetime.fromisoformat(times[1]) - datetime.fromisoformat(times[0])
        assert step.total_seconds() == int(period)  # evaluated every period


def test_plot_terminal_with_no_datapoints_says_so(tmp_path: Path) -> None:
    path = tmp_path / "const.emf"
    path.write_text("\n".join(_emf(T0 + i * 60_000, 7, 1) for i in range(3)) + "\n")
    args = ["plot", str(path), "--metric", "duration", "--stat", "TM(100:200)", "--terminal"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code != 0 and "no datapoints to chart" in str(res.exception)
