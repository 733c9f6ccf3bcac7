"""The reader: JSON app-log lines versus event objects, byte-order marks, UTF-16 exports."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from fdscope.logs import ReadStats, is_event_object, read_events

T0 = 1_795_834_800_123
APP = {"timestamp": T0, "level": "ERROR", "message": "db down"}
EVENTS = [
    {"timestamp": T0 + i, "message": f"m{i}", "logStreamName": "s", "eventId": str(i)}
    for i in range(3)
]


def test_event_object_has_only_event_keys() -> None:
    assert is_event_object({"timestamp": 1, "message": "x"})
    assert is_event_object({**EVENTS[0], "ingestionTime": 5, "logGroupName": "/g"})
    assert not is_event_object(APP)  # an application's JSON log line
    assert not is_event_object({"timestamp": "1", "message": "x"})
    assert not is_event_object([EVENTS[0]])


@pytest.mark.parametrize("name", ["app.log", "app.jsonl", "app.ndjson.gz"])
def test_json_app_log_with_timestamp_and_message_keeps_the_whole_line(
    tmp_path: Path, name: str
) -> None:
    # JSON.stringify({timestamp: Date.now(), level, message}): a log line, not an event, so
    # its other fields (level) stay discoverable from @message
    lines = [json.dumps(APP), json.dumps({**APP, "timestamp": T0 + 1, "level": "INFO"})]
    p = tmp_path / name
    data = ("\n".join(lines) + "\n").encode()
    p.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    st = ReadStats()
    evs = list(read_events(p, stats=st))
    assert [e.message for e in evs] == lines
    assert [e.timestamp for e in evs] == [T0, T0 + 1]
    assert st.formats["json-log"] == 2 and st.malformed_total == 0


def test_in_a_file_of_events_every_object_with_timestamp_and_message_is_an_event(
    tmp_path: Path,
) -> None:
    # decided by the first line, as the DuckDB fast path decides (tests/insights/test_loader.py)
    p = tmp_path / "events.jsonl"
    p.write_text(json.dumps(EVENTS[0]) + "\n" + json.dumps(APP) + "\n")
    assert [e.message for e in read_events(p)] == ["m0", "db down"]


BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize(
    "name, body",
    [
        # Windows PowerShell 5 `Out-File -Encoding utf8` / Notepad: a pretty export document
        ("export.json", json.dumps({"events": EVENTS}, indent=4).encode()),
        ("events.jsonl", "".join(json.dumps(e) + "\n" for e in EVENTS).encode()),
        (
            "stdout.log",
            "".join(f"2026-11-28T08:00:00.00{i}Z m{i}\n" for i in range(3)).encode(),
        ),
    ],
)
def test_utf8_byte_order_mark_is_ignored(tmp_path: Path, name: str, body: bytes) -> None:
    plain, marked = tmp_path / ("plain-" + name), tmp_path / ("bom-" + name)
    plain.write_bytes(body)
    marked.write_bytes(BOM + body)
    st = ReadStats()
    got = [(e.timestamp, e.message) for e in read_events(marked, stats=st)]
    assert got == [(e.timestamp, e.message) for e in read_events(plain)]
    assert [m for _, m in got] == ["m0", "m1", "m2"] and st.malformed_total == 0


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_export_is_decoded(tmp_path: Path, encoding: str) -> None:
    # Windows PowerShell 5.1: `aws logs filter-log-events ... > out.json` writes UTF-16 LE + BOM
    text = json.dumps({"events": EVENTS}, indent=2).replace("\n", "\r\n")
    p = tmp_path / "out.json"
    p.write_bytes(
        text.encode(encoding) if encoding == "utf-16" else b"\xfe\xff" + text.encode(encoding)
    )
    st = ReadStats()
    assert [e.message for e in read_events(p, stats=st)] == ["m0", "m1", "m2"]
    assert st.malformed_total == 0 and st.bad_utf8 == 0
