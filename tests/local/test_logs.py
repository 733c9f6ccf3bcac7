"""The log collector: telemetry frames and output lines into CloudWatch events."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fdscope.local import _logs

TEXT_FRAME = 0xA55A0003
ERROR_FRAME = 0xA55A0017


def frame(message: str, micros: int, kind: int = TEXT_FRAME) -> bytes:
    data = message.encode("utf-8")
    return kind.to_bytes(4, "big") + len(data).to_bytes(4, "big") + micros.to_bytes(8, "big") + data


def collect(tmp_path: Path, telemetry: bytes, output: bytes, chunk: int = 7) -> list[dict]:
    """Feed the bytes through real pipes in small pieces; return the events written."""
    log = _logs.EventLog(tmp_path / "events.jsonl", "/aws/lambda/f")
    tr, tw = os.pipe()
    orr, ow = os.pipe()
    col = _logs.Collector(log, "stream-1", telemetry_fd=tr, output_fds=[orr])
    for i in range(0, max(len(telemetry), len(output)), chunk):
        if telemetry[i : i + chunk]:
            os.write(tw, telemetry[i : i + chunk])
        if output[i : i + chunk]:
            os.write(ow, output[i : i + chunk])
        col.drain()
    os.close(tw)
    os.close(ow)
    col.finish()
    log.close()
    return [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().split("\n") if x]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    messages=st.lists(st.text(min_size=0, max_size=300), min_size=1, max_size=8),
    micros=st.integers(min_value=0, max_value=2**52),
)
def test_frames_become_one_event_each_whatever_the_chunking(
    tmp_path_factory, messages: list[str], micros: int
) -> None:
    tmp = tmp_path_factory.mktemp("frames")
    data = b"".join(frame(m, micros + i) for i, m in enumerate(messages))
    events = collect(tmp, data, b"")
    assert [e["message"] for e in events] == messages
    assert [e["timestamp"] for e in events] == [(micros + i) // 1000 for i in range(len(messages))]
    assert all(e["logStream"] == "stream-1" and e["logGroup"] == "/aws/lambda/f" for e in events)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.text(
            alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)),
            max_size=80,
        ),
        max_size=10,
    )
)
def test_output_lines_become_one_event_per_line(tmp_path_factory, lines: list[str]) -> None:
    tmp = tmp_path_factory.mktemp("lines")
    text = "".join(line + "\n" for line in lines)
    events = collect(tmp, b"", text.encode("utf-8"))
    assert [e["message"] for e in events] == [line + "\n" for line in lines]


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(junk=st.binary(max_size=400))
def test_garbage_on_either_descriptor_never_raises_and_is_kept(
    tmp_path_factory, junk: bytes
) -> None:
    tmp = tmp_path_factory.mktemp("junk")
    events = collect(tmp, junk, junk)
    # Every byte of output ends up somewhere (invalid UTF-8 replaced), nothing raises.
    out_text = "".join(e["message"] for e in events)
    assert len(out_text) >= len(junk.decode("utf-8", "replace").replace("\n", "")) // 2


def test_multiline_error_frame_is_a_single_event(tmp_path: Path) -> None:
    tb = '[ERROR] ValueError: x\nTraceback (most recent call last):\n\u00a0\u00a0File "/var/task/app.py", line 3'
    events = collect(tmp_path, frame(tb, 1_700_000_000_123_456, ERROR_FRAME), b"a\nb")
    framed = [e for e in events if e["message"] == tb]
    assert len(framed) == 1 and framed[0]["timestamp"] == 1_700_000_000_123
    lines = [e["message"] for e in events if e["message"] != tb]
    assert lines == ["a\n", "b"]  # a partial last line is kept


def test_very_long_lines_are_split_at_the_event_limit(tmp_path: Path) -> None:
    line = b"y" * (_logs.MAX_LINE + 10) + b"\n"
    events = collect(tmp_path, b"", line, chunk=65536)
    assert [len(e["message"]) for e in events] == [_logs.MAX_LINE, 11]


def test_emfile_marks_are_noticed(tmp_path: Path) -> None:
    log = _logs.EventLog(tmp_path / "e.jsonl", "/aws/lambda/f")
    log.emit("s", "fine\n")
    assert not log.emfile_seen
    log.emit("s", "retry policy: ECONNRESET, ETIMEDOUT, EMFILE\n")  # words, not a failure
    assert log.emfile_seen and not log.emfile_strong
    log.emit("s", "OSError: [Errno 24] Too many open files: '/tmp/x'\n")
    assert log.emfile_seen and log.emfile_strong
    log.close()


def test_platform_lines_have_lambdas_shape() -> None:
    rid = "8f5c0bb5-0b4d-4c43-9b8e-4f4d1a3e0b9a"
    assert _logs.start_line(rid) == f"START RequestId: {rid} Version: $LATEST\n"
    assert _logs.end_line(rid) == f"END RequestId: {rid}\n"
    assert (
        _logs.report_line(rid, 1.234, 128, 40)
        == f"REPORT RequestId: {rid}\tDuration: 1.23 ms\tBilled Duration: 2 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 40 MB\t\n"
    )
    cold = _logs.report_line(rid, 10.0, 256, 50, init_duration_ms=112.456)
    assert cold.endswith("\tMax Memory Used: 50 MB\tInit Duration: 112.46 ms\t\n")
    assert "Billed Duration: 10 ms" in cold
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
        + rid
        + r" Task timed out after 30\.00 seconds\n",
        _logs.timeout_line(rid, 30.0, 1_700_000_000.5),
    )
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", _logs.stream_name())
