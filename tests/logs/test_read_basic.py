"""read_events/read_lines on small inline samples of each format (fixtures are in test_fixtures)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

import fdscope.logs
from fdscope.logs import LogEvent, LogReadError, ReadStats, parse_timestamp, read_events, read_lines

RID = "6f3c3b2e-1111-4c5d-9e8f-0123456789ab"
STREAM = "2026/11/28/[$LATEST]0123456789abcdef0123456789abcdef"


def test_all_is_sorted_and_exported() -> None:
    assert fdscope.logs.__all__ == sorted(fdscope.logs.__all__)
    for name in fdscope.logs.__all__:
        assert hasattr(fdscope.logs, name)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-11-28T02:03:56Z", 1795831436000),  # Lambda JSON log format (seconds)
        ("2026-11-28T02:03:56.123Z", 1795831436123),  # awslambdaric record
        ("2026-11-28 02:03:56,123+0000", 1795831436123),  # Powertools Logger
        ("2026-11-28T03:03:56.123000+01:00", 1795831436123),  # aws logs tail, other zone
        ("2026-11-28 02:03:56.123", 1795831436123),  # Logs Insights @timestamp (UTC)
        ("2026-13-28T02:03:56Z", None),  # no 13th month
        ("yesterday", None),  # not a time
    ],
)
def test_parse_timestamp(text: str, ms: int | None) -> None:
    assert parse_timestamp(text) == ms


def test_runtime_text_traceback_is_one_event_and_bare_lines_take_last_time() -> None:
    lines = [
        f"START RequestId: {RID} Version: $LATEST",
        "a print before any timed line",
        f"[ERROR]\t2026-11-28T02:03:57.000Z\t{RID}\tfailed",
        "Traceback (most recent call last):",
        '  File "/var/task/app.py", line 10, in handler',
        '    open("/tmp/x")',
        "OSError: [Errno 24] Too many open files: '/tmp/x'",
        "a print after",
        f"END RequestId: {RID}",
    ]
    events = list(read_lines(lines, log_stream="env-a", log_group="/aws/lambda/f"))
    assert [e.message.split("\n")[0] for e in events] == [
        lines[0],
        lines[1],
        lines[2],
        lines[7],
        lines[8],
    ]
    assert events[2].message.endswith("Too many open files: '/tmp/x'")
    assert events[2].message.count("\n") == 4
    assert {e.timestamp for e in events} == {1795831437000}
    assert {e.logStream for e in events} == {"env-a"}
    assert {e.logGroup for e in events} == {"/aws/lambda/f"}


def test_uncaught_error_line_with_carriage_returns_is_one_multiline_event(tmp_path: Path) -> None:
    p = tmp_path / "out.log"
    p.write_bytes(
        b"[ERROR] OSError: [Errno 24] Too many open files\rTraceback (most recent call last):\r"
        b'\xc2\xa0\xc2\xa0File "/var/task/app.py", line 3\n'
    )
    (e,) = read_events(p)
    assert e.message.splitlines()[1] == "Traceback (most recent call last):"


def test_export_document_and_jsonl_and_gz(tmp_path: Path) -> None:
    ev = {
        "logStreamName": STREAM,
        "timestamp": 1795831436123,
        "message": "hello\n",
        "ingestionTime": 1795831437000,
        "eventId": "1",
    }
    (tmp_path / "a.json").write_text(json.dumps({"events": [ev, ev]}, indent=4))
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as f:
        f.write(json.dumps(ev) + "\n" + "{broken\n" + json.dumps(ev) + "\n")
    st = ReadStats()
    events = list(read_events(tmp_path, stats=st, log_group="/aws/lambda/f"))
    assert len(events) == 4
    assert events[0] == LogEvent(1795831436123, "hello\n", STREAM, "/aws/lambda/f", 1795831437000)
    assert st.files == 2
    assert st.malformed["bad-json"] == 1


def test_tail_detailed_multiline(tmp_path: Path) -> None:
    p = tmp_path / "tail.txt"
    p.write_text(
        f"2026-11-28T02:03:56.123000+00:00 {STREAM} [ERROR]\t2026-11-28T02:03:56.123Z\t{RID}\tboom\n"
        "Traceback (most recent call last):\n"
        f"2026-11-28T02:03:57.000000+00:00 {STREAM} END RequestId: {RID}\n"
    )
    events = list(read_events(p))
    assert len(events) == 2
    assert events[0].logStream == STREAM
    assert events[0].message.endswith("boom\nTraceback (most recent call last):")
    assert events[1].timestamp == 1795831437000


def test_missing_source_raises() -> None:
    with pytest.raises(LogReadError, match="no such log source"):
        list(read_events("/nonexistent/fdscope/log"))


def test_run_directory_reads_only_events(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text('{"schema": "fdscope.run/1"}')
    (tmp_path / "samples.jsonl").write_text('{"invocation": 1}\n')
    ev = LogEvent(1, "x", "s", "/aws/lambda/f", None)
    (tmp_path / "events.jsonl").write_text(json.dumps(ev.to_dict()) + "\n")
    st = ReadStats()
    assert list(read_events(tmp_path, stats=st)) == [ev]
    assert st.malformed_total == 0


def test_empty_path_is_not_the_current_directory() -> None:
    with pytest.raises(LogReadError, match="empty"):
        list(read_events(""))


def test_s3_export_layout_names_the_stream(tmp_path: Path) -> None:
    # create-export-task writes <prefix>/<task id>/<log stream>/000000.gz, lines "<time>Z <message>"
    folder = tmp_path / "exports" / "4f1c2e" / "2026" / "11" / "28" / "[$LATEST]0123456789abcdef"
    folder.mkdir(parents=True)
    with gzip.open(folder / "000000.gz", "wt") as f:
        f.write(f"2026-11-28T02:03:56.123Z START RequestId: {RID} Version: $LATEST\n")
        f.write("2026-11-28T02:03:56.200Z OSError: [Errno 24] Too many open files\n")
    st = ReadStats()
    events = list(read_events(tmp_path / "exports", stats=st))
    assert [e.message for e in events] == [
        f"START RequestId: {RID} Version: $LATEST",
        "OSError: [Errno 24] Too many open files",
    ]
    assert {e.logStream for e in events} == {"2026/11/28/[$LATEST]0123456789abcdef"}
    assert events[1].timestamp == 1795831436200
    assert st.formats["s3-export"] == 2


def test_a_printed_iso_time_in_raw_stdout_does_not_swallow_later_prints() -> None:
    lines = [
        f"START RequestId: {RID} Version: $LATEST",
        "2026-11-28T02:03:56.123456 worker started",  # print(datetime.now().isoformat(), ...)
        "second print",
        "third print",
    ]
    events = list(read_lines(lines, log_stream="s"))
    assert [e.message for e in events] == lines  # each print its own event, kept whole
    assert {e.timestamp for e in events} == {1795831436123}  # the printed time is used
