"""Inputs that cannot abort a command (issue 15 item 2): every reader skips and counts what it
cannot read, by file and by line, and goes on; nothing readable is lost; what was skipped is
said once on stderr, naming the files, and is in the JSON output (triage, query, metrics,
alarm). docs/reliability.md."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fdscope.logs import ReadStats, read_events

T0 = 1_772_330_400_000  # 2026-03-01T02:00:00Z


def _emfile_line(i: int, salt: str = "") -> str:
    return (
        f"[ERROR]\t2026-03-01T02:00:{i % 60:02d}.000Z\treq-{i}\t"
        f"OSError: [Errno 24] Too many open files: '/tmp/{salt}{i}'\n"
    )


class _Result:
    def __init__(self, p: subprocess.CompletedProcess[str]) -> None:
        self.exit_code, self.stdout, self.stderr = p.returncode, p.stdout, p.stderr
        self.output = p.stdout + p.stderr
        self.exception = None


def _run(*args: str) -> _Result:
    """The real command line (its exit codes and stderr as a user sees them)."""
    p = subprocess.run(
        [sys.executable, "-m", "fdscope", *args], capture_output=True, text=True, timeout=300
    )
    return _Result(p)


def test_a_copytruncate_log_with_nul_padding_is_read_past_the_padding(tmp_path: Path) -> None:
    # was: the whole file skipped as binary, "EMFILE: none found", exit 0
    log = tmp_path / "app.log"
    log.write_bytes(b"\x00" * 8192 + "".join(_emfile_line(i) for i in range(20)).encode())
    r = _run("triage", str(log))
    assert r.exit_code == 1, r.output
    assert "EMFILE: 20 event(s)" in r.stdout
    assert "none found" not in r.stdout
    assert "nul-run 1" in r.stderr and str(log) in r.stderr
    doc = json.loads(_run("triage", "--json", str(log)).stdout)
    assert doc["emfile"] == 20
    assert doc["skipped"] == {"nul-run": 1}
    assert doc["skipped_files"] == {str(log): {"nul-run": 1}}


def test_nul_runs_inside_a_file_drop_the_bytes_not_the_lines(tmp_path: Path) -> None:
    log = tmp_path / "mid.log"
    lines = [_emfile_line(i).encode() for i in range(10)]
    lines[4] = b"\x00\x00\x00" + lines[4]
    log.write_bytes(b"".join(lines))
    stats = ReadStats()
    events = list(read_events(log, stats=stats))
    assert len(events) == 10 and all("\x00" not in e.message for e in events)
    assert stats.malformed == {"nul-run": 1}
    assert stats.by_file == {str(log): {"nul-run": 1}}


def test_a_real_binary_file_is_still_skipped_and_named(tmp_path: Path) -> None:
    core = tmp_path / "core"
    core.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(1, 32)) * 8)
    stats = ReadStats()
    assert list(read_events(core, stats=stats)) == []
    assert stats.by_file == {str(core): {"nul-run": 1, "binary-file": 1}}


def _big_line_file(path: Path, size: int) -> None:
    with path.open("w") as f:
        for i in range(100):
            if i == 50:
                big = {"timestamp": T0 + 50_500, "message": "x" * size, "logStreamName": "s1"}
                f.write(json.dumps(big) + "\n")
            ev = {
                "timestamp": T0 + i * 1000,
                "message": _emfile_line(i).strip(),
                "logStreamName": "s1",
            }
            f.write(json.dumps(ev) + "\n")


def test_a_line_over_duckdbs_object_size_hides_nothing(tmp_path: Path) -> None:
    # was: "the query failed in DuckDB: maximum_object_size of 16777216 bytes exceeded", exit 2
    p = tmp_path / "events.jsonl"
    _big_line_file(p, 40 * 1024 * 1024)
    r = _run("query", "filter @message like /Errno 24/ | stats count(*) as n", str(p), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["results"] == [{"n": "100"}]
    r = _run("triage", "--json", str(p))
    assert r.exit_code == 1, r.output
    assert json.loads(r.stdout)["emfile"] == 100
    big = json.loads(
        _run(
            "query", "filter strlen(@message) > 1000 | stats count(*) as n", str(p), "--json"
        ).stdout
    )
    assert big["results"] == [{"n": "1"}]  # the big line itself is read, not dropped


def test_a_truncated_gzip_gives_what_it_holds_and_says_where_it_stopped(tmp_path: Path) -> None:
    # was: bad-gzip, 0 events: the readable part (here about 27 KB) lost
    rng = random.Random(7)
    data = "".join(_emfile_line(i, f"{rng.getrandbits(64):x}-") for i in range(400)).encode()
    gz = gzip.compress(data)
    p = tmp_path / "app.log.gz"
    p.write_bytes(gz[: len(gz) * 2 // 3])
    # what the whole stream up to the cut decompresses to: the reference
    d = __import__("zlib").decompressobj(wbits=31)
    held = d.decompress(gz[: len(gz) * 2 // 3])
    complete = held.count(b"\n")
    stats = ReadStats()
    events = list(read_events(p, stats=stats))
    assert len(events) >= complete > 200  # every complete line, maybe the cut one too
    assert stats.malformed["truncated-gzip"] == 1
    assert str(p) in stats.stopped and f"read {len(held)} bytes" in stats.stopped[str(p)]
    r = _run("triage", str(p))
    assert r.exit_code == 1 and f"EMFILE: {len(events)} event(s)" in r.stdout
    assert "truncated compressed data" in r.stderr and str(p) in r.stderr
    assert json.loads(_run("triage", "--json", str(p)).stdout)["stopped"][str(p)].startswith(
        "truncated compressed data"
    )


def test_a_truncated_jsonl_gz_is_read_in_python_when_duckdb_refuses_it(tmp_path: Path) -> None:
    rng = random.Random(3)
    lines = [
        json.dumps(
            {
                "timestamp": T0 + i,
                "message": f"Errno 24 {rng.getrandbits(64):x}",
                "logStreamName": "s",
            }
        )
        for i in range(400)
    ]
    gz = gzip.compress(("\n".join(lines) + "\n").encode())
    p = tmp_path / "events.jsonl.gz"
    p.write_bytes(gz[: len(gz) * 2 // 3])
    r = _run("query", "stats count(*) as n", str(p), "--json")
    assert r.exit_code == 0, r.output
    assert int(json.loads(r.stdout)["results"][0]["n"]) > 200
    assert "truncated compressed data" in r.stderr and str(p) in r.stderr


def _emf(ts: int, value: float, unit: str = "Count") -> str:
    return json.dumps(
        {
            "_aws": {
                "Timestamp": ts,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "fdscope",
                        "Dimensions": [["function"]],
                        "Metrics": [{"Name": "fd_use", "Unit": unit}],
                    }
                ],
            },
            "function": "f",
            "fd_use": value,
        }
    )


@pytest.fixture
def emf_past_9999(tmp_path: Path) -> Path:
    p = tmp_path / "emf.log"
    p.write_text(
        "".join(_emf(T0 + i * 60_000, i) + "\n" for i in range(30))
        + _emf(300_000_000_000_000, 5)
        + "\n"
    )
    return p


@pytest.mark.parametrize(
    "args",
    [
        ["metrics"],
        ["metrics", "--metric", "fd_use"],
        ["alarm", "--threshold", "3"],
        ["plot", "--terminal"],
        ["metrics", "--metric", "fd_use", "--engine", "duckdb"],
        ["alarm", "--threshold", "3", "--engine", "duckdb"],
    ],
    ids=lambda a: " ".join(a),
)
def test_an_emf_timestamp_past_9999_is_counted_and_named_not_a_traceback(
    emf_past_9999: Path, args: list[str]
) -> None:
    # was: ValueError: year 11476 is out of range (metrics, plot) / MemoryError (alarm)
    r = _run(args[0], str(emf_past_9999), *args[1:])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.output
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    assert "outside the years 1-9999" in r.stderr
    assert str(emf_past_9999) in r.stderr or "duckdb" in args


_PAST_9999 = "_aws.Timestamp (outside the years 1-9999)"
_JSON_COMMANDS = [
    (["metrics"], "Metrics"),
    (["metrics", "--metric", "fd_use"], "Datapoints"),
    (["metrics", "--metric", "fd_use", "--engine", "duckdb"], "Datapoints"),
    (["alarm", "--threshold", "3"], "Evaluations"),
    (["alarm", "--threshold", "3", "--engine", "duckdb"], "Evaluations"),
    (["alarm", "--sweep", "--thresholds", "3,10"], "Sweep"),
]
_JSON_IDS = [" ".join(args) for args, _ in _JSON_COMMANDS]


@pytest.mark.parametrize(("args", "key"), _JSON_COMMANDS, ids=_JSON_IDS)
def test_the_json_of_metrics_and_alarm_says_what_was_skipped(
    emf_past_9999: Path, args: list[str], key: str
) -> None:
    # issue 15: "is in the JSON output" - by reason and by file, not only on stderr
    r = _run(args[0], str(emf_past_9999), *args[1:], "--output", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc[key], doc  # the rows are there beside it
    assert doc["skipped"] == {_PAST_9999: 1}
    assert doc["skipped_files"] == {str(emf_past_9999): {_PAST_9999: 1}}
    assert doc["stopped"] == {}


@pytest.mark.parametrize(("args", "key"), _JSON_COMMANDS, ids=_JSON_IDS)
def test_the_json_of_metrics_and_alarm_has_its_shape_when_nothing_was_skipped(
    tmp_path: Path, args: list[str], key: str
) -> None:
    p = tmp_path / "emf.log"
    p.write_text("".join(_emf(T0 + i * 60_000, i) + "\n" for i in range(30)))
    r = _run(args[0], str(p), *args[1:], "--output", "json")
    assert r.exit_code == 0 and "skipped" not in r.stderr, r.output  # (--sweep: a caveat)
    doc = json.loads(r.stdout)
    assert doc[key]
    assert {k: doc[k] for k in ("skipped", "skipped_files", "stopped")} == {
        "skipped": {},
        "skipped_files": {},
        "stopped": {},
    }
    assert set(doc) == {key, "skipped", "skipped_files", "stopped"} | (
        {"Label"} if key == "Datapoints" else set()
    )


def test_the_json_of_query_says_what_was_skipped_and_where_a_gzip_stopped(
    tmp_path: Path,
) -> None:
    padded = tmp_path / "app.log"
    padded.write_bytes(b"\x00" * 4096 + "".join(_emfile_line(i) for i in range(20)).encode())
    rng = random.Random(11)
    data = "".join(_emfile_line(i, f"{rng.getrandbits(64):x}-") for i in range(300)).encode()
    gz = gzip.compress(data)
    cut = tmp_path / "old.log.gz"
    cut.write_bytes(gz[: len(gz) // 2])
    in_gz = len(list(read_events(cut)))
    q = "filter @message like /Errno 24/ | stats count(*) as n"
    r = _run("query", q, str(padded), str(cut), "--output", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["status"] == "Complete"
    assert doc["results"] == [{"n": str(20 + in_gz)}]
    stats = doc["statistics"]
    assert stats["skipped"] == {"nul-run": 1, "truncated-gzip": 1}
    assert stats["skippedFiles"] == {
        str(padded): {"nul-run": 1},
        str(cut): {"truncated-gzip": 1},
    }
    assert list(stats["stopped"]) == [str(cut)]
    assert stats["stopped"][str(cut)].startswith("truncated compressed data")
    assert stats["badUtf8"] == 0
    # jsonl stays one row per line: what was skipped is on stderr there
    r = _run("query", q, str(padded), str(cut), "--output", "jsonl")
    assert [json.loads(line) for line in r.stdout.splitlines()] == [{"n": str(20 + in_gz)}]
    assert "nul-run 1" in r.stderr and str(cut) in r.stderr


def test_the_json_of_query_has_its_shape_when_nothing_was_skipped(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(_emfile_line(i) for i in range(5)))
    r = _run("query", "stats count(*) as n", str(log), "--json")
    assert r.exit_code == 0 and r.stderr == "", r.output
    doc = json.loads(r.stdout)
    assert set(doc) == {"results", "statistics", "status"}  # get-query-results' keys
    assert doc["results"] == [{"n": "5"}] and doc["status"] == "Complete"
    stats = doc["statistics"]
    assert {k: stats[k] for k in ("skipped", "skippedFiles", "stopped", "badUtf8")} == {
        "skipped": {},
        "skippedFiles": {},
        "stopped": {},
        "badUtf8": 0,
    }
    assert stats["recordsMatched"] == 1


def test_emf_timestamps_in_seconds_are_counted_not_read_as_1970(tmp_path: Path) -> None:
    p = tmp_path / "emf.log"
    p.write_text("".join(_emf(T0 // 1000 + i * 60, i) + "\n" for i in range(30)))
    r = _run("metrics", str(p), "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["Metrics"] == []  # no series in January 1970
    assert "seconds, not milliseconds) 30" in r.stderr and str(p) in r.stderr
    r = _run("metrics", str(p), "--metric", "fd_use", "--engine", "duckdb", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["Datapoints"] == []
    assert "seconds, not milliseconds) 30" in r.stderr


def test_metrics_with_mixed_units_are_not_merged_silently(tmp_path: Path) -> None:
    p = tmp_path / "emf.log"
    p.write_text(
        "".join(_emf(T0 + i * 60_000, i, "Count" if i % 2 else "Percent") + "\n" for i in range(30))
    )
    r = _run("metrics", str(p), "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["Metrics"]
    assert rows[0]["unit"] == "Percent+Count"
    assert "was sent with 2 units (Percent 15, Count 15)" in r.stderr


def test_a_query_error_does_not_echo_an_80_kb_query() -> None:
    q = "filter @message like /" + "a" * 80_000 + "/ | stats count(*) by zzz(x)"
    r = _run("query", q, str(Path(__file__)))
    assert r.exit_code == 2
    assert "column 80" in r.output and "unknown function 'zzz'" in r.output
    assert len(r.output) < 1000


def test_a_duckdb_error_names_the_command_it_came_from(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(_emfile_line(1))
    r = _run(
        "query", "fields @message | fields 9999999999 * 9999999999 * 9999999999 as x", str(log)
    )
    assert r.exit_code == 2
    assert "at step 2 of the plan (fields: x)" in r.output and "Overflow" in r.output


# ---- fuzz: untrusted bytes never raise, and a NUL run never hides the lines after it


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2000), st.integers(0, 4096))
def test_the_reader_never_raises_on_bytes(
    tmp_path_factory: pytest.TempPathFactory, junk: bytes, nul: int
) -> None:
    d = tmp_path_factory.mktemp("fuzz")
    for name, data in (
        ("a.log", junk),
        ("b.jsonl", junk),
        ("c.log.gz", gzip.compress(junk)[: max(1, len(junk) // 2)]),
    ):
        p = d / name
        p.write_bytes(b"\x00" * nul + data)
        stats = ReadStats()
        for ev in read_events(p, stats=stats):
            assert "\x00" not in ev.message
        assert set(stats.by_file) <= {str(p)}


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5000), st.lists(st.integers(0, 59), min_size=1, max_size=30))
def test_nul_padding_never_hides_an_emfile_line(
    tmp_path_factory: pytest.TempPathFactory, pad: int, secs: list[int]
) -> None:
    p = tmp_path_factory.mktemp("pad") / "app.log"
    p.write_bytes(b"\x00" * pad + "".join(_emfile_line(s) for s in secs).encode())
    events = list(read_events(p))
    assert sum("Errno 24" in e.message for e in events) == len(secs)


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.integers(-(10**20), 10**20), st.floats(allow_nan=True, allow_infinity=True)))
def test_any_emf_timestamp_is_read_or_counted(ts: float) -> None:
    from fdscope.emf import ParseStats, parse_message

    stats = ParseStats()
    try:
        doc = _emf(ts, 1)  # type: ignore[arg-type]
    except ValueError:
        return
    points = parse_message(doc, stats)
    assert len(points) + stats.emf_parsing_errors + stats.emf_validation_errors == 1
    for dp in points:
        assert -62_135_596_800_000 <= dp.timestamp <= 253_402_300_799_999
