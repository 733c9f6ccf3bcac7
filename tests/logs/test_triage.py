"""fdscope triage: every EMFILE disguise and the right failing streams, locally and on CloudWatch.

The expected answers come from an oracle that does not touch the query engine:
plain substring checks over the events of fdscope.logs.read_events, and for the
real run of the seed example, the doctor's outside view (samples.jsonl).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from fdscope.cli import cli
from fdscope.insights.triage import DISGUISES, classify, triage
from fdscope.logs import LogEvent, read_events

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "tests" / "fixtures" / "logs"

# the oracle's own reading of each disguise: plain substrings
ORACLE = {
    "errno-24": ("Errno 24",),
    "too-many-open-files": ("Too many open files", "too many open files"),
    "emfile": ("EMFILE",),
    "endpoint-connection": ("EndpointConnectionError", "Could not connect to the endpoint URL"),
    "fd-out-of-range": ("filedescriptor out of range",),
}


def _oracle_disguises(msg: str) -> set[str]:
    return {name for name, subs in ORACLE.items() if any(s in msg for s in subs)}


def _is_start(msg: str) -> bool:
    return msg.startswith("START RequestId:") or '"type": "platform.start"' in msg


def _failing(msg: str) -> bool:
    return bool(
        _oracle_disguises(msg)
        or "Task timed out after" in msg
        or "Runtime exited with error" in msg
    )


def oracle(*paths: Path) -> dict[str, object]:
    """Per stream: disguise counts, failing or not, STARTs up to the first failure."""
    by_stream: dict[str, list[LogEvent]] = defaultdict(list)
    for e in read_events(*paths):
        by_stream[e.logStream].append(e)
    disguises: Counter[str] = Counter()
    failing, to_failure = set(), {}
    for stream, events in by_stream.items():
        starts = 0
        for e in events:  # file order is the true order within a stream
            starts += _is_start(e.message)
            disguises.update(_oracle_disguises(e.message))
            if _failing(e.message) and stream not in failing:
                failing.add(stream)
                to_failure[stream] = starts
    return {"disguises": disguises, "failing": failing, "to_failure": to_failure}


CASES = [
    "cloudwatch/filter-log-events.json",  # a CloudWatch export (aws logs filter-log-events)
    "cloudwatch/events.jsonl",  # JSON lines of CloudWatch events
    "run-dir",  # a run directory, FORMATS.md section 2
    "lambda-runtime",  # raw awslambdaric stdout, three files
    "lambda-json",  # AWS_LAMBDA_LOG_FORMAT=JSON
    "powertools",  # Powertools Logger and Metrics
    "tail/detailed.txt",  # aws logs tail
    "gz/filter-log-events.json.gz",  # gzip of the export
]


@pytest.mark.parametrize("case", CASES)
def test_triage_finds_every_disguise_and_the_failing_streams(case: str) -> None:
    path = LOGS / case
    want = oracle(path)
    got = triage(path)
    # every disguise the seed's leak wears is in every fixture (ENFILE and sqlite's are not)
    assert set(DISGUISES) - {"enfile", "sqlite-cantopen"} == set(got.disguises)
    assert got.disguises == dict(want["disguises"])
    assert set(got.failing_streams) == want["failing"]
    assert len(got.failing_streams) == 2  # env A and env B; env C is healthy
    for s in got.streams:
        if s.failed:
            assert s.invocations_to_failure == want["to_failure"][s.stream]
    assert got.timeouts == 1
    assert got.crashes == 1
    assert got.cold_starts == 3


def test_worst_stream_first_and_fd_trend() -> None:
    got = triage(LOGS / "run-dir")
    a, b, c = got.streams
    assert (a.failed, b.failed, c.failed) == (True, True, False)
    # both die at their 7th invocation; A has more EMFILE events, so it comes first
    assert a.emfile > b.emfile
    for s in (a, b):
        assert s.fd_trend is not None
        assert s.fd_trend["rate"] == pytest.approx(150, abs=1)  # the handler keeps 150 files
        assert s.fd_trend["leaking"]
        assert s.fd_max == 1100
    assert [life.cold_start for life in a.lives] == [True]
    assert a.lives[0].first_failure.disguises == ("fd-out-of-range",)


def test_json_output_is_the_same_answer() -> None:
    got = triage(LOGS / "run-dir")
    d = json.loads(got.json())
    assert d["schema"] == "fdscope.triage/1"
    assert d["failing_streams"] == got.failing_streams
    assert d["disguises"] == got.disguises
    assert [s["invocations_to_failure"] for s in d["streams"]] == [
        s.invocations_to_failure for s in got.streams
    ]


@pytest.mark.parametrize(
    ("message", "names"),
    [
        ("OSError: [Errno 24] Too many open files: '/tmp/x'", ["errno-24", "too-many-open-files"]),
        ("Error: EMFILE: too many open files, open '/tmp/x'", ["too-many-open-files", "emfile"]),
        (
            'Could not connect to the endpoint URL: "https://s3.amazonaws.com/"',
            ["endpoint-connection"],
        ),
        ("ValueError: filedescriptor out of range in select()", ["fd-out-of-range"]),
        ("botocore.exceptions.EndpointConnectionError: ...", ["endpoint-connection"]),
        ("all good", []),
    ],
)
def test_classify(message: str, names: list[str]) -> None:
    assert classify(message) == names


def test_clean_logs_exit_zero_and_failing_exit_one() -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["triage", str(LOGS / "lambda-runtime" / "env-c.log")])
    assert ok.exit_code == 0, ok.output
    assert "EMFILE: none found" in ok.output
    bad = runner.invoke(cli, ["triage", "--json", str(LOGS / "run-dir")])
    assert bad.exit_code == 1
    assert json.loads(bad.output)["emfile"] > 0
    usage = runner.invoke(cli, ["triage"])
    assert usage.exit_code == 2


def test_show_queries_are_logs_insights_text() -> None:
    from fdscope.insights import parse

    out = CliRunner().invoke(cli, ["triage", "--show-queries"])
    assert out.exit_code == 0
    from fdscope.insights.triage import QUERIES

    for q in QUERIES.values():
        assert q in out.output
        parse(q)  # valid in the language CloudWatch speaks


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run of the leaky seed example through `fdscope invoke` (a low limit, to be quick)."""
    out = tmp_path_factory.mktemp("seed") / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fdscope",
            "invoke",
            "app.handler",
            "--code-root",
            str(ROOT / "examples" / "seed_mangum"),
            "-n",
            "8",
            "--fd-limit",
            "64",
            "--timeout",
            "4",
            "--monitor",
            "--event-type",
            "apigw-http",
            "--out",
            str(out),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert (out / "events.jsonl").exists(), proc.stderr
    return out


def test_triage_of_a_real_seed_example_run(seed_run: Path) -> None:
    samples = [json.loads(x) for x in (seed_run / "samples.jsonl").read_text().splitlines()]
    failed = [s for s in samples if s["status"] != "ok"]
    assert failed, "the seed example reaches EMFILE at a 64-descriptor limit"
    got = triage(seed_run)
    want = oracle(seed_run)
    why = got.text() + "\n" + "\n".join(json.dumps(s) for s in samples)  # shown on failure
    assert got.emfile > 0, why
    assert got.disguises == dict(want["disguises"]), why
    assert set(got.failing_streams) == {s["stream"] for s in failed}, why
    # the doctor saw the first failing invocation from outside; triage finds it in the logs,
    # counted from the cold start of its stream
    first = failed[0]
    nth = sum(
        1
        for s in samples
        if s["stream"] == first["stream"] and s["invocation"] <= first["invocation"]
    )
    worst = got.streams[0]
    assert worst.stream == first["stream"], why
    assert worst.invocations_to_failure == nth, why
    assert worst.fd_trend is not None and worst.fd_trend["rate"] > 0, why
    assert got.invocations == len(samples), why
    assert got.cold_starts == len({s["stream"] for s in samples}), why


# ---------------------------------------------------------------- CloudWatch (moto)


@pytest.fixture(scope="module")
def moto_url() -> object:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        yield f"http://127.0.0.1:{server._server.server_port}"
    finally:
        server.stop()


def _client(url: str) -> object:
    import boto3

    return boto3.client(
        "logs",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _upload(url: str, group: str, events: list[LogEvent], now: int) -> list[LogEvent]:
    """Put the events in moto, shifted to end a minute before ``now``; returns them as put."""
    c = _client(url)
    c.create_log_group(logGroupName=group)
    shift = now - 60_000 - max(e.timestamp for e in events)
    moved = [LogEvent(e.timestamp + shift, e.message, e.logStream, group) for e in events]
    for stream in sorted({e.logStream for e in moved}):
        c.create_log_stream(logGroupName=group, logStreamName=stream)
        batch = [
            {"timestamp": e.timestamp, "message": e.message} for e in moved if e.logStream == stream
        ]
        c.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
    return moved


def test_triage_on_cloudwatch_plumbing(moto_url: str) -> None:
    import time

    from fdscope.insights.triage import triage_cloudwatch

    now = int(time.time() * 1000)
    _upload(
        moto_url,
        "/aws/lambda/triage-cw",
        list(read_events(LOGS / "cloudwatch" / "filter-log-events.json")),
        now,
    )
    got = triage_cloudwatch(
        "/aws/lambda/triage-cw",
        start=now - 3_600_000,
        end=now,
        client=_client(moto_url),
        poll_seconds=0.01,
    )
    assert got.source == "cloudwatch"
    # moto ignores the filter and returns every event: triage's own reading still holds
    local = triage(LOGS / "cloudwatch" / "filter-log-events.json")
    assert got.disguises == local.disguises
    assert set(got.failing_streams) == set(local.failing_streams)


def test_logs_pull_pages_and_reads_back(moto_url: str, tmp_path: Path) -> None:
    import time

    from fdscope.logs import pull_events

    now = int(time.time() * 1000)
    src = list(read_events(LOGS / "cloudwatch" / "filter-log-events.json"))
    put = _upload(moto_url, "/aws/lambda/pull-me", src, now)
    res = pull_events(
        "/aws/lambda/pull-me",
        tmp_path,
        start=now - 3_600_000,
        end=now,
        client=_client(moto_url),
        page_size=25,
    )
    assert res.pages > 1  # pagination was exercised
    assert res.path.name == "aws_lambda_pull-me.jsonl"
    back = list(read_events(res.path))
    assert res.events == len(back) == len(put)
    key = lambda e: (e.logStream, e.timestamp, e.message)  # noqa: E731
    assert sorted(map(key, back)) == sorted(map(key, put))
    assert {e.logGroup for e in back} == {"/aws/lambda/pull-me"}
    assert all(e.ingestionTime for e in back)


def test_logs_pull_and_triage_cli_against_moto(
    moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    now = int(time.time() * 1000)
    _upload(moto_url, "/aws/lambda/cli", list(read_events(LOGS / "run-dir")), now)
    for k, v in {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    runner = CliRunner()
    out = runner.invoke(
        cli,
        [
            "logs",
            "pull",
            "--log-group",
            "/aws/lambda/cli",
            "--start",
            "1h",
            "--gzip",
            str(tmp_path),
        ],
    )
    assert out.exit_code == 0, out.output
    pulled = tmp_path / "aws_lambda_cli.jsonl.gz"
    assert pulled.exists()
    local = runner.invoke(cli, ["triage", "--json", str(pulled)])
    assert local.exit_code == 1
    on_cw = runner.invoke(
        cli, ["triage", "--json", "--log-group", "/aws/lambda/cli", "--start", "1h"]
    )
    assert on_cw.exit_code == 1, on_cw.output
    a, b = json.loads(local.output), json.loads(on_cw.output)
    assert a["disguises"] == b["disguises"] == triage(LOGS / "run-dir").disguises
    assert sorted(a["failing_streams"]) == sorted(b["failing_streams"])


def test_pull_of_a_missing_group_is_one_error(moto_url: str, tmp_path: Path) -> None:
    from fdscope.errors import LogReadError
    from fdscope.logs import pull_events

    with pytest.raises(LogReadError, match="/aws/lambda/nope"):
        pull_events("/aws/lambda/nope", tmp_path, client=_client(moto_url))
    assert not list(tmp_path.iterdir())  # no half-written file


def test_runtime_packages_stay_light() -> None:
    code = (
        "import sys, fdscope.logs; heavy = {'duckdb', 'click', 'rich', 'boto3', 'botocore'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ}
    )
    assert out.stdout.strip() == "[]"


def test_lambda_insights_records_join_their_function_stream_by_request_id(tmp_path: Path) -> None:
    # Lambda Insights writes fd_use to the /aws/lambda-insights group in streams of its
    # own; move the run's EMF records there and rename them to its namespace
    fn, ins = [], []
    for e in read_events(LOGS / "run-dir"):
        if e.message.startswith('{"_aws"'):
            rec = json.loads(e.message)
            rec["_aws"]["CloudWatchMetrics"][0]["Namespace"] = "LambdaInsights"
            ins.append(
                LogEvent(e.timestamp, json.dumps(rec), "insights-stream", "/aws/lambda-insights")
            )
        else:
            fn.append(e)
    assert ins
    for name, events in (("fn.jsonl", fn), ("insights.jsonl", ins)):
        (tmp_path / name).write_text("".join(json.dumps(e.to_dict()) + "\n" for e in events))
    got = triage(tmp_path)
    assert "insights-stream" not in {s.stream for s in got.streams}
    with_trend = [s for s in got.streams if s.fd_trend]
    assert len(with_trend) == 3
    assert sum(len(s.fd_use) for s in got.streams) == len(ins)
    assert got.failing_streams == triage(LOGS / "run-dir").failing_streams


def test_time_range_bounds_local_triage() -> None:
    events = list(read_events(LOGS / "run-dir"))
    last = max(e.timestamp for e in events)
    assert triage(LOGS / "run-dir", start=last + 1).streams == ()
    # up to just before env B's fatal invocation: env A's failures are in, B's crash is not
    crash = min(e.timestamp for e in events if "Runtime exited with error" in e.message)
    early = triage(LOGS / "run-dir", end=crash - 1)
    assert early.crashes == 0
    assert early.timeouts == 1
    out = CliRunner().invoke(cli, ["triage", "--start", str(last + 1), str(LOGS / "run-dir")])
    assert out.exit_code == 0
    assert "none found in 0 stream(s)" in out.output
