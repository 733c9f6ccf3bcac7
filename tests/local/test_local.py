"""LocalLambda end to end: real awslambdaric, real Runtime API, outside samples."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from fdscope.local import LocalLambda, _procs, run
from fdscope.logs import read_events
from tests.helpers.local_lambda import BASIC, assert_nothing_left, handler, messages, read_jsonl

SAMPLE_FIELDS = {
    "invocation",
    "stream",
    "request_id",
    "start",
    "end",
    "duration_ms",
    "status",
    "fd_count",
    "by_kind",
    "threads",
    "rss_bytes",
    "fd_limit",
}


def test_warm_environment_is_reused_and_the_run_directory_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with LocalLambda(handler("ok"), out_dir=out, timeout_s=10) as fn:
        samples = [fn.invoke({"n": i}) for i in range(5)]
        pid = fn.pid
    assert [s.status for s in samples] == ["ok"] * 5
    assert [s.cold_start for s in samples] == [True, False, False, False, False]
    assert samples[0].init_duration_ms is not None and samples[0].init_duration_ms > 0
    assert all(s.init_duration_ms is None for s in samples[1:])
    assert {s.pid for s in samples} == {pid}  # imported once, one process
    assert len({s.stream for s in samples}) == 1
    assert len({s.request_id for s in samples}) == 5
    assert all(s.fd_count is not None and s.fd_count > 3 for s in samples)
    assert all(sum(s.by_kind.values()) == s.fd_count for s in samples)

    rows = read_jsonl(out / "samples.jsonl")
    assert [r["invocation"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(set(r) >= SAMPLE_FIELDS for r in rows)
    assert rows[0]["fd_limit"] == 1024
    meta = json.loads((out / "run.json").read_text())
    assert meta["schema"] == "fdscope.run/1"
    assert meta["invocations"] == 5 and meta["finished"] and meta["started"]
    assert meta["event"] == {"n": 0}
    assert (out / "origins.jsonl").exists()

    msgs = messages(out)
    for s in samples:
        assert f"START RequestId: {s.request_id} Version: $LATEST\n" in msgs
        assert f"END RequestId: {s.request_id}\n" in msgs
        assert f"hello from {s.request_id}\n" in msgs
        start = msgs.index(f"START RequestId: {s.request_id} Version: $LATEST\n")
        end = msgs.index(f"END RequestId: {s.request_id}\n")
        inside = msgs[start + 1 : end]
        assert any(m.startswith("[INFO]\t") and s.request_id in m for m in inside)
        assert msgs[end + 1].startswith(f"REPORT RequestId: {s.request_id}\tDuration: ")
    reports = [m for m in msgs if m.startswith("REPORT")]
    assert "\tInit Duration: " in reports[0]
    assert all("Init Duration" not in r for r in reports[1:])
    assert all("\tMemory Size: 128 MB\t" in r and r.endswith("\t\n") for r in reports)
    assert msgs.index("init: module imported\n") < msgs.index(msgs[0]) + 3  # init output first
    assert_nothing_left(fn)


def test_log_events_read_back_with_the_log_readers(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with LocalLambda(handler("boom"), out_dir=out, timeout_s=10, function_name="reader") as fn:
        a = fn.invoke()
        b = fn.invoke()
    events = list(read_events(out / "events.jsonl"))
    assert {e.logStream for e in events} == {a.stream}
    assert {e.logGroup for e in events} == {"/aws/lambda/reader"}
    tracebacks = [e for e in events if "Traceback (most recent call last)" in e.message]
    assert len(tracebacks) == 2  # one event per error, the whole traceback in it
    for ev, s in zip(tracebacks, (a, b), strict=True):
        assert ev.message.startswith("[ERROR] ValueError: boom\nsecond line\nTraceback")
        assert 'basic.py", line' in ev.message
        assert ev.timestamp >= s.start - 5
    assert a.status == b.status == "error"
    assert a.error_type == "ValueError" and a.error_message == "boom\nsecond line"
    # the platform lines carry each invocation's request id, in order
    starts = [e.message.split()[2] for e in events if e.message.startswith("START RequestId: ")]
    ends = [e.message.split()[2] for e in events if e.message.startswith("END RequestId: ")]
    reports = [e.message.split()[2] for e in events if e.message.startswith("REPORT RequestId: ")]
    assert starts == ends == reports == [a.request_id, b.request_id]
    assert_nothing_left(fn)


def test_timeout_ends_the_environment_and_the_next_is_a_cold_start(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with LocalLambda(handler("maybe_hang"), out_dir=out, timeout_s=0.5) as fn:
        first = fn.invoke({})
        hung = fn.invoke({"hang": True})
        after = fn.invoke({})
    assert [first.status, hung.status, after.status] == ["ok", "timeout", "ok"]
    assert first.stream == hung.stream != after.stream
    assert [first.cold_start, hung.cold_start, after.cold_start] == [True, False, True]
    assert hung.fd_count is not None  # sampled before the environment was killed
    assert hung.duration_ms == pytest.approx(500.0)
    msgs = messages(out)
    line = [m for m in msgs if "Task timed out" in m]
    assert line == [line[0]] and line[0].endswith(
        f"{hung.request_id} Task timed out after 0.50 seconds\n"
    )
    report = next(m for m in msgs if m.startswith(f"REPORT RequestId: {hung.request_id}"))
    assert "Duration: 500.00 ms" in report and "Status: timeout" in report
    report3 = next(m for m in msgs if m.startswith(f"REPORT RequestId: {after.request_id}"))
    assert "Init Duration" in report3
    assert sum(m.startswith("INIT_START") for m in msgs) == 2
    assert len(fn.history) == 2
    assert_nothing_left(fn)


def test_init_has_its_own_limit_longer_than_the_function_timeout(tmp_path: Path) -> None:
    out = tmp_path / "run"
    slow = BASIC.parent / "slow_init.py"
    with LocalLambda(f"{slow}:handler", out_dir=out, timeout_s=0.3) as fn:
        s = fn.invoke()
    assert s.status == "ok" and s.cold_start
    assert s.init_duration_ms is not None and s.init_duration_ms >= 800
    assert s.duration_ms < 300
    assert_nothing_left(fn)


@pytest.mark.parametrize(
    ("name", "how"),
    [
        ("crash", "exit status 3"),  # sys.exit(3) in the handler
        ("abort", "signal: aborted (core dumped)"),  # os.abort()
    ],
)
def test_runtime_exit_is_recorded_and_restarts(tmp_path: Path, name: str, how: str) -> None:
    out = tmp_path / "run"
    with LocalLambda(handler(name), out_dir=out, timeout_s=10) as fn:
        samples = [fn.invoke() for _ in range(2)]
    assert [s.status for s in samples] == ["crash", "crash"]
    assert all(s.cold_start for s in samples)
    assert samples[0].stream != samples[1].stream
    assert all(s.error_type == "Runtime.ExitError" for s in samples)
    msgs = messages(out)
    for s in samples:
        assert (
            f"RequestId: {s.request_id} Error: Runtime exited with error: {how}\nRuntime.ExitError\n"
            in msgs
        )
    assert_nothing_left(fn)


@pytest.mark.parametrize("monitor", [False, True], ids=["bare", "monitored"])
@pytest.mark.parametrize(
    ("module", "error_type", "text"),
    [
        ("init_fail.py:handler", "RuntimeError", "cannot start: missing configuration"),
        (
            "missing_dep.py:handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'missing_dep': No module named",
        ),
        (
            "bad_syntax.py:handler",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'bad_syntax'",
        ),
        (
            "dynamic.py:nope",
            "Runtime.HandlerNotFound",
            "Handler 'nope' missing on module 'dynamic'",
        ),
    ],
)
def test_init_error_is_recorded_for_each_invocation(
    tmp_path: Path, module: str, error_type: str, text: str, monitor: bool
) -> None:
    # With the monitor (fdscope's exec wrapper in front), the error reads as without it:
    # the user's module is named, not fdscope's entry module.
    out = tmp_path / "run"
    spec = f"{BASIC.parent / module}"
    if module.startswith("bad_syntax"):  # written here: a file that does not parse upsets ruff
        (tmp_path / "bad_syntax.py").write_text("def handler(event, context)\n    return 1\n")
        spec = f"{tmp_path / module}"
    if module.startswith("dynamic"):  # names made at run time: only the runtime can tell
        (tmp_path / "dynamic.py").write_text("globals()['handler'] = lambda event, context: 1\n")
        spec = f"{tmp_path / module}"
    with LocalLambda(spec, out_dir=out, timeout_s=10, monitor=monitor) as fn:
        samples = [fn.invoke() for _ in range(2)]
    assert [s.status for s in samples] == ["error", "error"]
    assert all(s.cold_start and s.error_type == error_type for s in samples)
    assert all(text in (s.error_message or "") for s in samples)
    assert samples[0].stream != samples[1].stream
    msgs = messages(out)
    assert sum(m.startswith("INIT_REPORT Init Duration: ") for m in msgs) == 2
    assert any(m.startswith(f"[ERROR] {error_type}") for m in msgs)
    for s in samples:
        assert f"START RequestId: {s.request_id} Version: $LATEST\n" in msgs
        assert any(
            m.startswith(f"REPORT RequestId: {s.request_id}") and "Status: error" in m for m in msgs
        )
    assert_nothing_left(fn)


def test_megabytes_of_output_do_not_block_the_function(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with LocalLambda(handler("flood"), out_dir=out, timeout_s=20) as fn:
        s = fn.invoke({"kib": 3072})  # 3 MiB, far beyond a pipe's buffer
    assert s.status == "ok"
    lines = [m for m in messages(out) if m == "x" * 1023 + "\n"]
    assert len(lines) == 3072
    assert_nothing_left(fn)


def test_a_setsid_grandchild_does_not_outlive_the_run(tmp_path: Path) -> None:
    with LocalLambda(handler("grandchild"), out_dir=tmp_path / "run", timeout_s=10) as fn:
        s = fn.invoke()
        assert s.status == "ok"
        token = fn.history[0].token
        runtime_sid = os.getsid(fn.pid or 0)

        def strays() -> list[int]:
            out = []
            for p in _procs.with_token(token):
                try:
                    if os.getsid(p) != runtime_sid:
                        out.append(p)
                except ProcessLookupError:
                    pass
            return out

        deadline = time.monotonic() + 5
        while not strays() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert strays(), "the grandchild should be running, in its own session"
    assert_nothing_left(fn)


def test_environment_variables_limits_and_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEYSHOULDNOTPASS")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    monkeypatch.setenv("AWS_PROFILE", "production")
    keys = [
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "LAMBDA_TASK_ROOT",
        "_HANDLER",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "MY_SETTING",
        "AWS_ENDPOINT_URL",
        "_LAMBDA_TELEMETRY_LOG_FD",
        "FDSCOPE_REPORT_FD",
    ]
    out = tmp_path / "run"
    with LocalLambda(
        handler("env"),
        out_dir=out,
        memory_mb=256,
        env={"MY_SETTING": "42"},
        aws_endpoint="http://127.0.0.1:5000",
        function_name="orders-api",
    ) as fn:
        s = fn.invoke({"keys": keys})
        seen = json.loads(fn.last_response or b"{}")
    assert s.status == "ok"
    assert seen["AWS_LAMBDA_FUNCTION_NAME"] == "orders-api"
    assert seen["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert seen["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert seen["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/orders-api"
    assert seen["AWS_LAMBDA_LOG_STREAM_NAME"] == s.stream
    assert seen["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert seen["AWS_EXECUTION_ENV"].startswith("AWS_Lambda_python3.")
    assert seen["LAMBDA_TASK_ROOT"] == str(BASIC.parent)
    assert seen["_HANDLER"] == "basic.env"
    assert seen["MY_SETTING"] == "42"
    assert seen["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert seen["AWS_ACCESS_KEY_ID"] == "testing"  # dummy keys for the local endpoint only
    assert seen["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert seen["AWS_PROFILE"] is None
    assert seen["_LAMBDA_TELEMETRY_LOG_FD"] is None  # the runtime consumed it
    assert seen["FDSCOPE_REPORT_FD"] is not None
    assert_nothing_left(fn)


def test_no_credentials_without_an_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEYSHOULDNOTPASS")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "real-token")
    keys = ["AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "AWS_SHARED_CREDENTIALS_FILE"]
    with LocalLambda(handler("env"), out_dir=tmp_path / "run") as fn:
        fn.invoke({"keys": keys})
        seen = json.loads(fn.last_response or b"{}")
        fn.close()
    assert seen["AWS_ACCESS_KEY_ID"] is None and seen["AWS_SESSION_TOKEN"] is None
    assert not Path(seen["AWS_SHARED_CREDENTIALS_FILE"]).exists()  # ~/.aws is not read
    assert_nothing_left(fn)


def test_limits_private_tmp_session_and_stdin(tmp_path: Path) -> None:
    with LocalLambda(handler("limits"), out_dir=tmp_path / "run", fd_limit=512) as fn:
        s = fn.invoke()
        seen = json.loads(fn.last_response or b"{}")
        tmp_during = Path(seen["tmp"]).is_dir()
    assert s.status == "ok" and s.fd_limit == 512
    assert seen["nofile"] == [512, 512]
    assert tmp_during and seen["tmp"] != "/tmp" and seen["tmp"] == fn.history[0].tmp
    assert seen["cwd"] == str(BASIC.parent)
    assert seen["stdin"] == "/dev/null"
    assert seen["sid_is_pid"] is True  # its own session
    assert_nothing_left(fn)


def test_network_is_refused_beyond_loopback_unless_allowed(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        # the host's loopback is reachable through an endpoint (forwarded into the
        # sandbox's network namespace); 192.0.2.1 is refused before any packet
        endpoint = f"http://127.0.0.1:{port}"
        with LocalLambda(handler("connect"), out_dir=tmp_path / "a", aws_endpoint=endpoint) as fn:
            fn.invoke({"host": "192.0.2.1", "port": 9})  # TEST-NET-1: never routed
            refused = json.loads(fn.last_response or b"null")
            fn.invoke({"host": "127.0.0.1", "port": port})
            local = json.loads(fn.last_response or b"null")
        with LocalLambda(handler("connect"), out_dir=tmp_path / "b", allow_network=True) as fn2:
            # 0.0.0.0 is not loopback to the guard, but the kernel delivers it locally:
            # no packet leaves the machine
            fn2.invoke({"host": "0.0.0.0", "port": port})
            allowed = json.loads(fn2.last_response or b"null")
    finally:
        server.close()
    assert refused.startswith("PermissionError") and "--allow-network" in refused
    assert local == "connected"
    assert allowed == "connected"
    assert_nothing_left(fn)
    assert_nothing_left(fn2)


def test_leak_is_counted_from_outside_one_per_invocation(tmp_path: Path) -> None:
    result = run(handler("leak_pipes"), 20, out_dir=tmp_path / "run")
    counts = result.fd_counts
    assert all(c is not None for c in counts)
    assert [b - a for a, b in zip(counts[:-1], counts[1:], strict=True)] == [
        2
    ] * 19  # two ends of a pipe
    assert result.samples[-1].by_kind["pipe"] - result.samples[0].by_kind["pipe"] == 38
    assert result.statuses() == {"ok": 20} and result.cold_starts == 1
    assert result.run["invocations"] == 20


def test_reaching_the_limit_is_emfile_and_the_counts_stop_at_it(tmp_path: Path) -> None:
    result = run(handler("leak_pipes"), 40, out_dir=tmp_path / "run", fd_limit=48)
    statuses = [s.status for s in result.samples]
    first = statuses.index("emfile")
    assert all(st == "ok" for st in statuses[:first])
    assert set(statuses[first:]) == {"emfile"}
    assert max(c for c in result.fd_counts if c is not None) <= 48
    assert result.samples[first].error_message == "[Errno 24] Too many open files"
    assert any("Too many open files" in m for m in messages(tmp_path / "run"))


def test_freeze_stops_background_threads_between_invocations(tmp_path: Path) -> None:
    def ticks_while_idle(freeze: bool) -> tuple[int, str | None]:
        with LocalLambda(
            handler("background"), out_dir=tmp_path / f"f{freeze}", freeze=freeze
        ) as fn:
            fn.invoke()
            idle_from = time.monotonic()  # invoke() returns after the freeze
            state = _procs.state(fn.pid or 0)
            time.sleep(0.3)
            idle_to = time.monotonic()  # the thaw comes inside the next invoke()
            fn.invoke()
            ticks = json.loads(fn.last_response or b"[]")
        assert_nothing_left(fn)
        return sum(1 for t in ticks if idle_from < t < idle_to), state

    frozen, state = ticks_while_idle(True)
    running, state_running = ticks_while_idle(False)
    assert state == "T" and state_running != "T"
    assert frozen == 0
    assert running >= 10  # about 60 at one tick per 5 ms; the machine may be busy


def test_gc_between_frees_cycles_that_otherwise_pile_up(tmp_path: Path) -> None:
    plain = run(handler("cycle"), 12, out_dir=tmp_path / "plain")
    collected = run(handler("cycle"), 12, out_dir=tmp_path / "gc", gc_between=True)
    p, c = plain.fd_counts, collected.fd_counts
    assert p[-1] - p[0] >= 5  # the cyclic gc rarely runs in so few invocations
    assert len(set(c)) == 1  # collected after every invocation: flat


def test_exec_wrapper_gets_the_runtime_command(tmp_path: Path) -> None:
    wrapper = tmp_path / "wrapper.sh"
    wrapper.write_text('#!/bin/sh\nexport WRAPPED="$# $(basename "$2")"\nexec "$@"\n')
    wrapper.chmod(0o755)
    with LocalLambda(
        handler("env"), out_dir=tmp_path / "run", env={"AWS_LAMBDA_EXEC_WRAPPER": str(wrapper)}
    ) as fn:
        s = fn.invoke({"keys": ["WRAPPED"]})
        seen = json.loads(fn.last_response or b"{}")
    assert s.status == "ok"
    assert seen["WRAPPED"] == "3 bootstrap.py"  # python, bootstrap.py, handler
    assert_nothing_left(fn)


def test_bundled_events_reach_the_handler_unchanged(tmp_path: Path) -> None:
    from fdscope.local import EVENT_TYPES, sample_event

    with LocalLambda(handler("echo"), out_dir=tmp_path / "run", function_name="echoer") as fn:
        for kind in EVENT_TYPES:
            ev = sample_event(kind)
            assert fn.invoke(ev).status == "ok"
            back = json.loads(fn.last_response or b"{}")
            assert back["event"] == ev
            assert back["function"] == "echoer"
            assert back["arn"].endswith(":function:echoer")
    assert_nothing_left(fn)


def test_close_kills_a_hanging_invocation_leftover(tmp_path: Path) -> None:
    fn = LocalLambda(handler("background"), out_dir=tmp_path / "run")
    with fn:
        fn.invoke()
        pid = fn.pid
        assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)
    assert_nothing_left(fn)
