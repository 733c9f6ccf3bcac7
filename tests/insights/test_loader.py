"""The engine's loader gives the same events as fdscope.logs.read_events on every log fixture."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from fdscope.insights import execute
from fdscope.insights._loader import fast_eligible
from fdscope.logs import read_events

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "logs"
SOURCES = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix not in (".py", ".md"))
ALL = "fields @timestamp, @message, @logStream, @log, @ingestionTime | sort @timestamp asc"


def _engine_events(src: Path) -> list[tuple]:
    r = execute(
        "fields toMillis(@timestamp) as t, @message, @logStream, @log | sort @timestamp asc",
        [src],
        default_limit=None,
    )
    return [(int(row["t"]), row["@message"], row["@logStream"], row["@log"]) for row in r.rows]


def _reader_events(src: Path) -> list[tuple]:
    evs = [(e.timestamp, e.message, e.logStream, e.logGroup) for e in read_events(src)]
    return sorted(evs, key=lambda e: e[0])  # stable: file order within a timestamp, like the engine


@pytest.mark.parametrize(
    "src", SOURCES + [FIXTURES], ids=lambda p: str(p.relative_to(FIXTURES.parent))
)
def test_same_events_as_read_events(src: Path) -> None:
    assert _engine_events(src) == _reader_events(src)


def test_fast_path_jsonl_and_gz_match_the_reader(tmp_path: Path) -> None:
    # JSON lines of CloudWatch events (what a run directory and `logs pull` hold) are read by
    # DuckDB itself; convert every fixture to that form, plain and gzipped, and compare.
    events = [e.to_dict() for e in read_events(FIXTURES)]
    events[0]["ingestionTime"] = events[0]["timestamp"] + 5
    events[1].pop("logStream")  # falls back to the file's name, as the reader does
    plain = tmp_path / "events.jsonl"
    plain.write_text("".join(json.dumps(e) + "\n" for e in events))
    gz = tmp_path / "copy.jsonl.gz"
    with gzip.open(gz, "wt") as f:
        f.write(plain.read_text())
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(plain, run / "events.jsonl")
    (run / "run.json").write_text("{}")
    for src in (plain, gz, run):
        if src.is_file():
            assert fast_eligible(src)
        assert _engine_events(src) == _reader_events(src)
    r = execute(
        "filter ispresent(@ingestionTime) | fields toMillis(@ingestionTime) as i",
        [plain],
        default_limit=None,
    )
    want = sorted(str(e["ingestionTime"]) for e in events if e.get("ingestionTime") is not None)
    assert sorted(row["i"] for row in r.rows) == want


def test_missing_source_raises(tmp_path: Path) -> None:
    from fdscope.errors import LogReadError

    with pytest.raises(LogReadError):
        execute(ALL, [tmp_path / "nope.log"])


def test_python_read_events_cross_chunks_in_order_and_keep_any_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Text logs go through the Python reader and reach DuckDB in column chunks; a chunk
    # boundary must lose, reorder or alter nothing, whatever the message holds.
    from fdscope.insights import _loader

    monkeypatch.setattr(_loader._PyEvents, "CHUNK", 3)
    odd = ["tab\there", 'quote " and \\ backslash', "é ü 日本 🙂", "[1, 2]", "{not json", "null"]
    lines = [
        f"2024-01-01T00:00:{i:02d}.000Z {'s1' if i % 2 else 's2'} {odd[i % len(odd)]} #{i}"
        for i in range(20)
    ]
    log = tmp_path / "tail.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert _engine_events(log) == _reader_events(log)
    assert len(_engine_events(log)) == 20
    # a lone surrogate from a JSON escape cannot be UTF-8: it arrives replaced, the rest intact
    doc = tmp_path / "export.json"
    doc.write_text(
        json.dumps(
            {
                "events": [
                    {"timestamp": 1704067200000 + i, "message": f"m{i} \ud800 x"} for i in range(7)
                ]
            }
        )
    )
    got = [m for _, m, _, _ in _engine_events(doc)]
    assert got == [f"m{i} ? x" for i in range(7)]


APP_LINE = {"timestamp": 1795834800123, "level": "ERROR", "message": "db down"}
EVENT_LINE = {"timestamp": 1795834800000, "message": "an event", "logStreamName": "s"}


@pytest.mark.parametrize(
    "name, lines",
    [
        # an application's JSON log lines (a timestamp, a message and more): not events
        ("app.jsonl", [APP_LINE, {**APP_LINE, "level": "INFO"}]),
        ("app.log", [APP_LINE]),
        # a file of events: every object with a timestamp and a message is one
        ("events.jsonl", [EVENT_LINE, APP_LINE]),
    ],
)
def test_app_json_lines_same_on_both_paths_and_fields_discoverable(
    tmp_path: Path, name: str, lines: list[dict]
) -> None:
    p = tmp_path / name
    p.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert fast_eligible(p) == (name == "events.jsonl")
    assert _engine_events(p) == _reader_events(p)
    levels = [r["level"] for r in execute("fields level | sort @timestamp asc", [p]).rows]
    assert levels == ([None, None] if name == "events.jsonl" else [x["level"] for x in lines])


def test_malformed_lines_of_a_fast_file_are_skipped_and_counted_as_the_reader_does(
    tmp_path: Path,
) -> None:
    from fdscope.logs import ReadStats

    p = tmp_path / "events.jsonl"
    p.write_text(
        json.dumps(EVENT_LINE)
        + "\n"
        + '{"timestamp": 17958\nnot json at all\n\n{"foo": "bar"}\n'
        + json.dumps({**EVENT_LINE, "timestamp": 1e300})
        + "\n"
        + json.dumps({**EVENT_LINE, "message": "two"})
        + "\n"
    )
    assert fast_eligible(p)
    assert _engine_events(p) == _reader_events(p)
    st = ReadStats()
    list(read_events(p, stats=st))
    r = execute("stats count(*) as n", [p])
    assert r.rows == [{"n": "2"}]
    assert (
        r.statistics["skipped"]
        == dict(st.malformed)
        == {
            "bad-json": 2,
            "not-an-event": 1,
            "bad-timestamp": 1,  # past the year 9999
        }
    )


def test_byte_order_marks_and_utf16_same_on_both_paths(tmp_path: Path) -> None:
    body = "".join(json.dumps({**EVENT_LINE, "message": f"m{i}"}) + "\n" for i in range(3))
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + body.encode())
    u16 = tmp_path / "u16.json"
    u16.write_bytes(json.dumps({"events": [EVENT_LINE] * 2}, indent=2).encode("utf-16"))
    for p, n in ((bom, 3), (u16, 2)):
        assert _engine_events(p) == _reader_events(p)
        assert len(_engine_events(p)) == n
