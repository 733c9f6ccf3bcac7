"""Node.js Lambda logs (aws-lambda-ric's own LogPatch.js output): read, and queried by request id."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fdscope.logs import ReadStats, read_events

NODE = Path(__file__).resolve().parent.parent / "fixtures" / "logs" / "node"
FIRST = "8f5a0c1e-3b7d-4c2a-9e61-0d4b5a6c7e8f"
SECOND = "c2d4e6f8-1a3b-4c5d-8e7f-9a0b1c2d3e4f"
FILES = ["text-stdout.log", "json-stdout.log", "cloudwatch-events.json"]


def _read(name: str) -> list[str]:
    st = ReadStats()
    events = list(read_events(NODE / name, stats=st))
    assert st.malformed_total == 0, st.malformed
    return [e.message for e in events]


@pytest.mark.parametrize("name", FILES)
def test_one_event_per_console_call(name: str) -> None:
    messages = _read(name)
    # init line, 2 x START/END/REPORT, 4 lines in the first invocation, 7 in the second
    assert len(messages) == 1 + 6 + 4 + 7
    multi = [m for m in messages if "multi-line" in m]
    assert len(multi) == 2
    for m in multi:
        if name.startswith("json"):  # the JSON document as the runtime wrote it
            assert json.loads(m)["message"] == "multi-line\nsecond line\n  third, indented"
        else:  # the newlines are back (on stdout the runtime wrote \r)
            assert "second line\n  third, indented" in m
    emfile = [m for m in messages if "EMFILE: too many open files, open '" in m]
    assert len(emfile) == 2


def test_text_line_timestamps_are_the_records_own() -> None:
    st = ReadStats()
    events = list(read_events(NODE / "text-stdout.log", stats=st))
    first = events[0]
    assert first.message.split("\t")[1] == "undefined"
    stamp = first.message.split("\t")[0]
    from fdscope.logs._read import parse_timestamp

    assert first.timestamp == parse_timestamp(stamp)


def _query(q: str, path: Path) -> list[dict[str, str]]:
    out = subprocess.run(
        [sys.executable, "-m", "fdscope", "query", "--json", q, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    rows: list[dict[str, str]] = json.loads(out.stdout)["results"]
    return rows


@pytest.mark.parametrize("name", FILES)
def test_query_by_request_id_returns_the_application_lines(name: str) -> None:
    rows = _query(f'fields @message | filter @requestId == "{SECOND}"', NODE / name)
    messages = [r["@message"] for r in rows]
    app = [m for m in messages if not m.startswith(("START", "END", "REPORT"))]
    platform = [m for m in messages if m.startswith(("START", "END", "REPORT"))]
    assert len(platform) == 3
    assert len(app) == 7, messages
    assert any("slow downstream: 1201 ms" in m for m in app)
    assert any("connect EMFILE" in m for m in app)
    assert not any(FIRST in m for m in messages)


def test_init_lines_have_no_request_id() -> None:
    rows = _query(
        "fields @message, @requestId | filter @message like /init: loading/",
        NODE / "text-stdout.log",
    )
    assert len(rows) == 1
    assert rows[0].get("@requestId") in (None, "")


def test_triage_counts_node_emfile_lines() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "fdscope", "triage", "--json", str(NODE / "cloudwatch-events.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode in (0, 1), out.stderr
    assert "EMFILE" in out.stdout or "emfile" in out.stdout.lower()
