"""triage on short logs: the fd_use trend of a short fast leak, EMFILE at INIT, loose markers.

Each case is a small raw Lambda stdout log written here, in the shape awslambdaric prints.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from click.testing import CliRunner

from fdscope.cli import cli
from fdscope.insights.triage import classify, triage

T0 = 1795838400000  # 2026-11-28T04:00:00Z, ms


def _iso(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _rid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012x}"


def invocation(
    n: int,
    *,
    cold: bool = False,
    fd_use: float | None = None,
    info: str = "handled",
    lines: tuple[str, ...] = (),
    status: str = "",
) -> list[str]:
    """One invocation, ``n`` seconds after T0: START, the EMF record, an INFO line, END, REPORT."""
    t, rid = T0 + n * 1000, _rid(n)
    out = []
    if cold:
        out.append("INIT_START Runtime Version: python:3.12.v40\tRuntime Version ARN: arn:x")
    out.append(f"START RequestId: {rid} Version: $LATEST")
    if fd_use is not None:
        emf = {
            "_aws": {
                "Timestamp": t + 2,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "fdscope",
                        "Dimensions": [["function_name"]],
                        "Metrics": [{"Name": "fd_use", "Unit": "Count"}],
                    }
                ],
            },
            "function_name": "orders",
            "fd_use": fd_use,
            "fd_max": 1024,
        }
        out.append(json.dumps(emf))
    out.append(f"[INFO]\t{_iso(t + 3)}\t{rid}\t{info}")
    out.extend(lines)
    out.append(f"END RequestId: {rid}")
    report = (
        f"REPORT RequestId: {rid}\tDuration: 5.00 ms\tBilled Duration: 5 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 60 MB"
    )
    if cold:
        report += "\tInit Duration: 150.00 ms"
    out.append(report + status)
    return out


EMFILE_LINE = (
    "[ERROR] OSError: [Errno 24] Too many open files: '/tmp/cache.json'"
    '\rTraceback (most recent call last):\r  File "/var/task/app.py", line 9, in handler'
)


def _write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _stream(tmp_path: Path, name: str, lines: list[str]):  # type: ignore[no-untyped-def]
    got = triage(_write(tmp_path, name, lines))
    (s,) = got.streams
    return got, s


# ---- 4. the fd_use trend of a short, steep leak --------------------------------------------


def test_a_short_steep_rise_before_the_failure_is_rising_not_flat(tmp_path: Path) -> None:
    lines = invocation(1, cold=True, fd_use=100)
    for i, fd in enumerate((250, 400, 550), start=2):
        lines += invocation(i, fd_use=fd)
    lines += invocation(5, lines=(EMFILE_LINE,))
    # the environment restarts: its records start low again and must not enter the trend
    lines += invocation(6, cold=True, fd_use=20)
    lines += invocation(7, fd_use=20)
    got, s = _stream(tmp_path, "fast.log", lines)
    t = s.fd_trend
    assert t is not None
    assert t["shape"] == "rising" and t["leaking"]
    assert t["points"] == 4 and t["before_failure"]
    assert t["rate"] == 150
    assert (t["first"], t["last"]) == (100, 550)
    assert t["invocations_to_limit"] == 4  # (1024 - 550) / 150, rounded up
    text = got.text()
    assert "fd_use 100 -> 550 over 4 record(s) before the first failure: +150.0/invocation " in text
    assert "(rising)" in text and "(flat)" not in text


def test_too_few_records_before_the_failure_say_so(tmp_path: Path) -> None:
    # one record before a timeout, then a restart: the records after it are not the trend
    lines = invocation(1, cold=True, fd_use=30)
    lines += invocation(
        2, lines=(f"{_iso(T0 + 2004)} {_rid(2)} Task timed out after 3.00 seconds",)
    )
    lines += invocation(3, cold=True, fd_use=30)
    lines += invocation(4, fd_use=30)
    got, s = _stream(tmp_path, "slow.log", lines)
    t = s.fd_trend
    assert t is not None and t["points"] == 1 and t["shape"] == "too few points"
    assert not t["leaking"]
    assert "fd_use 30 -> 30 over 1 record(s) before the first failure: too few points" in got.text()


def test_a_short_series_that_does_not_move_is_flat_and_a_bumpy_one_is_too_short(
    tmp_path: Path,
) -> None:
    lines = invocation(1, cold=True, fd_use=40)
    lines += invocation(2, fd_use=40) + invocation(3, fd_use=41)
    _, s = _stream(tmp_path, "steady.log", lines)
    assert s.fd_trend is not None and s.fd_trend["shape"] == "flat"
    lines = invocation(1, cold=True, fd_use=40)
    lines += invocation(2, fd_use=300) + invocation(3, fd_use=120) + invocation(4, fd_use=500)
    _, s = _stream(tmp_path, "bumpy.log", lines)
    assert s.fd_trend is not None and s.fd_trend["shape"] == "too few points"


# ---- 5. EMFILE during INIT ------------------------------------------------------------------


def test_emfile_at_init_is_the_first_failure(tmp_path: Path) -> None:
    rid = _rid(1)
    lines = [
        "INIT_START Runtime Version: python:3.12.v40\tRuntime Version ARN: arn:x",
        "[ERROR] OSError: [Errno 24] Too many open files: '/opt/model.bin'\rTraceback (most "
        'recent call last):\r  File "/var/task/app.py", line 3, in <module>',
        "INIT_REPORT Init Duration: 250.12 ms\tPhase: init\tStatus: error\tError Type: x",
        f"START RequestId: {rid} Version: $LATEST",
        f"RequestId: {rid} Error: Runtime exited with error: exit status 1",
        "Runtime.ExitError",
        f"END RequestId: {rid}",
        f"REPORT RequestId: {rid}\tDuration: 300.00 ms\tBilled Duration: 300 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 40 MB\tStatus: error\tError Type: Runtime.ExitError",
    ]
    got, s = _stream(tmp_path, "initfail.log", lines)
    assert s.cold_starts == 1 and s.invocations == 1 and len(s.lives) == 1
    first = s.lives[0].first_failure
    assert first is not None
    assert (first.kind, first.at_init, first.invocation) == ("emfile", True, 1)
    assert "errno-24" in first.disguises
    assert s.crashes == 1  # the crash that followed is still counted
    assert "cold start -> first failure at init: emfile (errno-24" in got.text()
    assert got.to_dict()["streams"][0]["lives"][0]["first_failure"]["at_init"] is True


# ---- 6. loose markers, ENFILE, sqlite -----------------------------------------------------


def test_a_bare_emfile_in_an_info_line_is_not_a_failure(tmp_path: Path) -> None:
    lines = invocation(1, cold=True, info="retry policy: on EMFILE back off")
    lines += invocation(2, info="config: max_fds=1024 # Too many open files means raise it")
    path = _write(tmp_path, "clean.log", lines)
    got = triage(path)
    assert got.emfile == 0 and not got.failing_streams
    assert CliRunner().invoke(cli, ["triage", str(path)]).exit_code == 0


def test_loose_markers_count_in_a_failing_invocation_and_strong_ones_anywhere(
    tmp_path: Path,
) -> None:
    timeout = f"{_iso(T0 + 1004)} {_rid(1)} Task timed out after 3.00 seconds"
    lines = invocation(1, cold=True, info="backing off after EMFILE", lines=(timeout,))
    # an OSError's own text, even logged at INFO, is a real failure
    lines += invocation(2, info="cache miss: [Errno 24] Too many open files: '/tmp/c'")
    # any marker in an error line (Node's shape)
    lines += invocation(3, lines=(f"{_iso(T0 + 3004)}\t{_rid(3)}\tERROR\tsocket: EMFILE",))
    _, s = _stream(tmp_path, "mixed.log", lines)
    assert (s.emfile, s.timeouts) == (3, 1)
    assert s.disguises == {"emfile": 2, "errno-24": 1, "too-many-open-files": 1}
    first = s.lives[0].first_failure
    assert first is not None and (first.kind, first.invocation) == ("emfile", 1)


def test_enfile_is_its_own_disguise() -> None:
    msg = "[ERROR] OSError: [Errno 23] Too many open files in system: '/tmp/x'"
    assert classify(msg) == ["enfile"]
    assert set(classify("OSError: [Errno 24] Too many open files")) == {
        "errno-24",
        "too-many-open-files",
    }


def test_enfile_in_a_log_is_reported_as_enfile(tmp_path: Path) -> None:
    line = "[ERROR] OSError: [Errno 23] Too many open files in system: '/tmp/x'\rTraceback (m"
    lines = invocation(1, cold=True, lines=(line,))
    got, s = _stream(tmp_path, "enfile.log", lines)
    assert s.disguises == {"enfile": 1}
    assert got.disguises == {"enfile": 1}
    assert "enfile" in got.text()


def test_sqlite_cannot_open_counts_only_in_a_failing_invocation(tmp_path: Path) -> None:
    logged = (
        f"[ERROR]\t{_iso(T0 + 1004)}\t{_rid(1)}\tsqlite: unable to open database file, retrying"
    )
    unhandled = (
        "[ERROR] OperationalError: unable to open database file\rTraceback (most recent call "
        'last):\r  File "/var/task/app.py", line 20, in handler'
    )
    lines = invocation(1, cold=True, lines=(logged,)) + invocation(2, lines=(unhandled,))
    _, s = _stream(tmp_path, "sqlite.log", lines)
    assert s.disguises == {"sqlite-cantopen": 1}
    first = s.lives[0].first_failure
    assert first is not None and first.invocation == 2


def test_triage_says_what_it_skipped(tmp_path) -> None:
    # a malformed line is counted and skipped, never fatal, and the user is told
    from click.testing import CliRunner

    from fdscope.cli import cli
    from fdscope.insights import triage as tri

    log = tmp_path / "t.jsonl"
    log.write_text(
        '{"timestamp": 1704067200000, "message": "START RequestId: 1 Version: $LATEST", '
        '"logStream": "s"}\nnot json at all\n'
        '{"timestamp": 1704067200001, "message": "[ERROR] OSError: [Errno 24] Too many open '
        'files", "logStream": "s"}\n'
    )
    result = tri.triage([log])
    assert result.skipped == {"bad-json": 1} and result.emfile == 1
    assert result.to_dict()["skipped"] == {"bad-json": 1}
    run = CliRunner().invoke(cli, ["triage", str(log)])
    assert run.exit_code == 1  # a failing stream
    assert "skipped 1 malformed line(s) (bad-json 1)" in run.output  # stderr, mixed in
