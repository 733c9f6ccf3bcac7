"""Every reader passes every fixture of tests/fixtures/logs (see its SOURCES.md).

The same run is held in several formats, so the readers are checked against
each other: the CloudWatch export, its JSON lines, the run directory, the gzip
and the `aws logs tail` rendering must give the same events.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fdscope.logs import LogEvent, ReadStats, read_events

LOGS = Path(__file__).resolve().parent.parent / "fixtures" / "logs"
GROUP = "/aws/lambda/leaky-fixture"
ALL = sorted(
    p
    for p in LOGS.rglob("*")
    if p.is_file()
    and p.suffix not in (".py", ".md")
    and p.parent.name != "run-dir"
    and "__pycache__" not in p.parts
)


def _read(*paths: Path, group: str | None = None) -> tuple[list[LogEvent], ReadStats]:
    st = ReadStats()
    return list(read_events(*paths, stats=st, log_group=group)), st


def _key(e: LogEvent) -> tuple[int, str, str]:
    return (e.timestamp, e.logStream, e.message.rstrip())


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(LOGS)))
def test_every_fixture_reads_cleanly(path: Path) -> None:
    events, st = _read(path)
    assert events, path
    assert st.malformed_total == 0, st.malformed
    assert st.events == len(events)
    assert st.files == 1
    assert all(e.timestamp > 1_000_000_000_000 for e in events)  # all have a real time


def test_whole_tree_and_run_directory_read_cleanly() -> None:
    events, st = _read(LOGS)
    assert st.malformed_total == 0
    assert st.files == len(ALL) + 1  # the run directory contributes its events.jsonl only
    assert len(events) == st.events


def test_export_jsonl_gz_rundir_and_tail_agree() -> None:
    export, _ = _read(LOGS / "cloudwatch" / "filter-log-events.json")
    doc = json.loads((LOGS / "cloudwatch" / "filter-log-events.json").read_text())
    assert [(e.timestamp, e.message, e.logStream, e.ingestionTime) for e in export] == [
        (d["timestamp"], d["message"], d["logStreamName"], d["ingestionTime"])
        for d in doc["events"]
    ]
    jsonl, _ = _read(LOGS / "cloudwatch" / "events.jsonl")
    gz, _ = _read(LOGS / "gz" / "filter-log-events.json.gz")
    assert jsonl == export == gz
    run, _ = _read(LOGS / "run-dir")

    def by_stream(events: list[LogEvent]) -> list[tuple[int, str, str]]:
        # the run directory holds the run's order, the export CloudWatch's: compare
        # stream by stream, each in its own order
        return sorted((_key(e) for e in events), key=lambda k: k[1])

    assert by_stream(run) == by_stream(export)
    assert {e.logGroup for e in run} == {GROUP}
    tail, st = _read(LOGS / "tail" / "detailed.txt")
    assert st.formats["tail"] == len(tail)
    assert [_key(e) for e in tail] == [_key(e) for e in export]
    short, _ = _read(LOGS / "tail" / "short.txt")
    assert [(e.timestamp // 1000, e.message.rstrip()) for e in short] == [
        (e.timestamp // 1000, e.message.rstrip()) for e in export
    ]


def test_get_log_events_has_no_stream_so_the_file_names_it() -> None:
    events, _ = _read(LOGS / "cloudwatch" / "get-log-events.json", group=GROUP)
    assert {e.logStream for e in events} == {"get-log-events.json"}
    assert {e.logGroup for e in events} == {GROUP}
    assert all(e.ingestionTime for e in events)


def test_aws_documentation_examples() -> None:
    events, _ = _read(LOGS / "aws-docs" / "filter-log-events.json")
    assert [(e.timestamp, e.message, e.logStream) for e in events] == [
        (1433190184358, "Example Event 2", "20150601"),
        (1433190184360, "Example Event 3", "20150601"),
    ]
    events, _ = _read(LOGS / "aws-docs" / "get-log-events.json")
    assert [e.ingestionTime for e in events] == [1433190494190, 1433190516679, 1433190494190]


def _platform_counts(events: list[LogEvent]) -> tuple[int, int, int]:
    msgs = [e.message for e in events]
    return (
        sum(m.startswith("START RequestId:") for m in msgs),
        sum(m.startswith("END RequestId:") for m in msgs),
        sum(m.startswith("REPORT RequestId:") for m in msgs),
    )


@pytest.mark.parametrize("env", ["env-a", "env-b", "env-c"])
def test_raw_runtime_text(env: str) -> None:
    path = LOGS / "lambda-runtime" / f"{env}.log"
    events, st = _read(path)
    raw = path.read_text()
    starts = raw.count("\nSTART RequestId:")
    assert _platform_counts(events) == (starts, starts, starts)
    assert {e.logStream for e in events} == {f"{env}.log"}
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
    # each logging record with a traceback is one event
    tracebacks = [e for e in events if "Traceback (most recent call last):" in e.message]
    assert len(tracebacks) == raw.count("Traceback (most recent call last):")
    for e in tracebacks:  # under a logging record, or a bare one the runtime wrote to stderr
        assert e.message.startswith(("[ERROR]", "Traceback (most recent call last):"))
        assert "\n" in e.message
    # a bare print line is its own event, with the time of the record before it
    prints = [e for e in events if e.message.startswith("invocation ")]
    assert len(prints) == raw.count("\ninvocation ")
    assert all("\n" not in e.message for e in prints)
    assert st.formats["lambda-text"] > 0


def test_raw_runtime_failure_shapes() -> None:
    a, _ = _read(LOGS / "lambda-runtime" / "env-a.log")
    b, _ = _read(LOGS / "lambda-runtime" / "env-b.log")
    (sel,) = [e for e in a if "out of range" in e.message and "Traceback" in e.message][:1]
    assert sel.message.startswith("[ERROR]\t")
    assert any(e.message.split(" ", 2)[-1].startswith("Task timed out after") for e in a)
    assert any("Init Duration:" in e.message for e in a if e.message.startswith("REPORT"))
    (uncaught,) = [e for e in b if e.message.startswith("[ERROR] OSError: [Errno 24]")]
    assert uncaught.message.split("\n")[1] == "Traceback (most recent call last):"


@pytest.mark.parametrize("kind", ["lambda-json", "powertools"])
def test_json_log_lines(kind: str) -> None:
    events, st = _read(LOGS / kind / "env-a.log")
    assert st.formats["json-log"] > 0
    for e in events:
        if e.message.startswith("{"):
            json.loads(e.message)  # a JSON log line is kept whole
    timeout = [e for e in events if "Task timed out after" in e.message]
    assert len(timeout) == 1
    # JSON lines carry their own time (awslambdaric's to the second): in order to the second
    seconds = [e.timestamp // 1000 for e in events]
    assert seconds == sorted(seconds)
    assert len(set(seconds)) > 1
