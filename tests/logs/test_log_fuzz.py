"""Garbage is counted, never raised; what a writer writes, the reader reads back."""

from __future__ import annotations

import gzip
import json
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fdscope.logs import LogEvent, ReadStats, parse_timestamp, read_events, read_lines

LOGS = Path(__file__).resolve().parent.parent / "fixtures" / "logs"
FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# lines that look like the formats, to steer the fuzzer into the interesting branches
PREFIXES = st.sampled_from(
    [
        "",
        "{",
        "[",
        '{"events": [',
        '{"timestamp": ',
        "[INFO]\t",
        "[ERROR]\t2026-11-28T02:03:56.123Z\t",
        "[ERROR] ",
        "START RequestId: ",
        "REPORT RequestId: ",
        "Traceback (most recent call last):",
        "  File ",
        "2026-11-28T02:03:56.123Z ",
        "2026-11-28T02:03:56.123000+00:00 ",
        "2026-13-45T99:99:99Z ",
        "28 Nov 2026 02:03:56,123 [",
        "\x1b[32m",
        '{"_aws": {"Timestamp": ',
    ]
)
LINES = st.lists(st.builds(lambda p, t: p + t, PREFIXES, st.text(max_size=40)), max_size=30)


def _check(events: list[LogEvent], stats: ReadStats) -> None:
    assert stats.events == len(events)
    for e in events:
        assert isinstance(e.timestamp, int)
        assert isinstance(e.message, str)
        assert isinstance(e.logStream, str)
        assert e.ingestionTime is None or isinstance(e.ingestionTime, int)


@FUZZ
@given(LINES)
def test_read_lines_never_raises(lines: list[str]) -> None:
    stats = ReadStats()
    events = list(read_lines(lines, log_stream="s", stats=stats, default_timestamp=7))
    _check(events, stats)
    # nothing is lost silently: every non-blank line is in an event or counted
    assert stats.events + stats.malformed_total <= sum(1 for line in lines if line.strip())


@FUZZ
@given(st.binary(max_size=400), st.sampled_from(["x.log", "x.json", "x.jsonl", "x.log.gz"]))
@example(b'{"events": [{"timestamp": 1, "message": "a"}, {"timest', "x.json")
@example(b"\x1f\x8b\x08\x00garbage", "x.log.gz")
@example(b'[{"@timestamp": "2026-11-28 02:03:56.123", "@message": "m"}, 3]', "x.json")
def test_read_events_on_random_bytes_never_raises(data: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.write_bytes(data)
        stats = ReadStats()
        events = list(read_events(p, stats=stats))
    _check(events, stats)
    assert stats.files == 1


@FUZZ
@given(
    st.lists(
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
            lambda c: (
                st.lists(c, max_size=3)
                | st.dictionaries(
                    st.sampled_from(["timestamp", "message", "logStream", "events", "x"]),
                    c,
                    max_size=4,
                )
            ),
            max_leaves=8,
        ),
        max_size=10,
    )
)
def test_json_lines_of_anything_are_events_or_counted(values: list[object]) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "e.jsonl"
        p.write_text("".join(json.dumps(v) + "\n" for v in values))
        stats = ReadStats()
        events = list(read_events(p, stats=stats))
    _check(events, stats)

    def empty(v: object) -> bool:  # `[]` and `{"events": []}` hold nothing to count
        return v == [] or (isinstance(v, dict) and v.get("events") == [] and "message" not in v)

    assert stats.events + stats.malformed_total >= sum(1 for v in values if not empty(v))


FIXTURE_FILES = sorted(
    p
    for p in LOGS.rglob("*")
    if p.is_file() and p.suffix in (".log", ".json", ".jsonl", ".txt") and "generate" not in p.parts
)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(FIXTURE_FILES), st.floats(0, 1), st.binary(max_size=8))
def test_cut_and_corrupted_fixtures_never_raise(path: Path, where: float, junk: bytes) -> None:
    data = path.read_bytes()
    cut = int(len(data) * where)
    full = list(read_events(path))
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / path.name
        p.write_bytes(data[:cut] + junk)
        stats = ReadStats()
        events = list(read_events(p, stats=stats))
    _check(events, stats)
    assert len(events) <= len(full) + 1 + junk.count(b"\n")


def test_truncated_export_document_is_salvaged() -> None:
    path = LOGS / "cloudwatch" / "filter-log-events.json"
    full = list(read_events(path))
    data = path.read_bytes()
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "cut.json"
        p.write_bytes(data[: len(data) // 2])
        stats = ReadStats()
        events = list(read_events(p, stats=stats))
    assert stats.malformed["truncated-json"] == 1
    assert 0 < len(events) < len(full)
    assert events == full[: len(events)]


def test_truncated_gzip_is_counted() -> None:
    data = (LOGS / "gz" / "lambda-runtime-env-a.log.gz").read_bytes()
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "cut.log.gz"
        p.write_bytes(data[: len(data) // 2])
        stats = ReadStats()
        list(read_events(p, stats=stats))
    assert stats.malformed["truncated-gzip"] == 1 and stats.events > 0  # what it held is read


def test_binary_file_is_skipped_and_counted(tmp_path: Path) -> None:
    (tmp_path / "core").write_bytes(b"\x7fELF\x00\x00\x01")
    stats = ReadStats()
    assert list(read_events(tmp_path / "core", stats=stats)) == []
    assert stats.malformed["binary-file"] == 1


STREAMS = st.builds(
    lambda d, h: d.strftime("%Y/%m/%d/[$LATEST]") + h,
    st.dates(),
    st.text("0123456789abcdef", min_size=32, max_size=32),
)
TIMES = st.integers(0, 4_102_444_800_000)  # 1970 .. 2100
SINGLE = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=60
).filter(lambda s: s.strip() == s and s[:1].isalpha())


@FUZZ
@given(st.lists(st.tuples(TIMES, STREAMS, SINGLE), min_size=1, max_size=20))
def test_tail_detailed_roundtrip(rows: list[tuple[int, str, str]]) -> None:
    # aws-cli v2 DetailedLogEventsFormatter: isoformat() in UTC, stream, message
    lines = [
        f"{datetime.fromtimestamp(t / 1000, timezone.utc).isoformat()} {s} {m}" for t, s, m in rows
    ]
    events = list(read_lines(lines, log_stream="unused"))
    assert [(e.timestamp, e.logStream, e.message) for e in events] == rows


@FUZZ
@given(
    st.lists(
        st.builds(
            LogEvent,
            TIMES,
            st.text(min_size=1, max_size=80),
            st.text(max_size=20),
            st.text(max_size=20),
            st.none() | TIMES,
        ),
        max_size=20,
    )
)
def test_jsonl_roundtrip(events: list[LogEvent]) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "events.jsonl.gz"
        with gzip.open(p, "wt", encoding="utf-8") as f:
            for e in events:
                f.write(json.dumps(e.to_dict()) + "\n")
        back = list(read_events(p, log_group="default"))
    assert [(e.timestamp, e.message, e.ingestionTime) for e in back] == [
        (e.timestamp, e.message, e.ingestionTime) for e in events
    ]
    assert [b.logStream for b in back] == [e.logStream or "events.jsonl" for e in events]
    assert [b.logGroup for b in back] == [e.logGroup or "default" for e in events]


@FUZZ
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2999, 1, 1)))
def test_parse_timestamp_agrees_with_datetime(dt: datetime) -> None:
    dt = dt.replace(tzinfo=timezone.utc)
    expected = int(dt.replace(microsecond=0).timestamp()) * 1000 + dt.microsecond // 1000
    assert parse_timestamp(dt.isoformat()) == expected  # aws logs tail
    assert parse_timestamp(dt.strftime("%Y-%m-%d %H:%M:%S,%f")[:-3] + "+0000") == expected
    assert parse_timestamp(dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z") == expected
