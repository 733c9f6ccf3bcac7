"""The smaller points of issue 15 item 6 (track's exit code, PIDs that are no
process, an unreadable /proc, async handlers under @monitor): one test each."""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fdscope.monitor import Config, monitor


def fdscope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fdscope", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_track_exits_128_plus_the_signal_for_a_killed_program() -> None:
    # was 247 (256 - 9) for SIGKILL; a shell says 137
    res = fdscope("track", "--", sys.executable, "-c", "import os; os.kill(os.getpid(), 9)")
    assert res.returncode == 137
    assert "killed by SIGKILL" in res.stderr


def test_track_keeps_a_normal_exit_code() -> None:
    assert fdscope("track", "--", sys.executable, "-c", "raise SystemExit(3)").returncode == 3


@pytest.mark.parametrize("pid", ["0", "-1"])
def test_pid_zero_or_below_is_a_usage_error(pid: str) -> None:
    for command in ("handles", "watch"):
        res = fdscope(command, "--", pid) if pid.startswith("-") else fdscope(command, pid)
        assert res.returncode == 2
        assert f"invalid PID: {pid} is not a process id" in res.stderr
        assert "is gone" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_a_zombie_is_a_usage_error_naming_its_parent() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # exited, not reaped: a zombie
            stat = Path(f"/proc/{child.pid}/stat").read_text()
            if stat[stat.rfind(")") + 2] == "Z":
                break
            time.sleep(0.01)
        for command in ("handles", "watch"):
            res = fdscope(command, str(child.pid))
            assert res.returncode == 2
            assert f"process {child.pid} is a zombie" in res.stderr
            assert f"parent (pid {os.getpid()})" in res.stderr
    finally:
        child.wait()


_UNREADABLE = r"""
import os, sys
from pathlib import Path
from fdscope import handles as H
root = Path(sys.argv[1])
os.setgid(65534); os.setuid(65534)  # not root: permissions apply
out = []
for call in (lambda: H.snapshot(4242, proc_root=root), lambda: H.snapshot(4242, proc_root=root, details=True)):
    try:
        call()
        out.append("no error")
    except Exception as exc:
        out.append(type(exc).__name__)
print(" ".join(out))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
@pytest.mark.parametrize("unreadable", ["the whole tree", "the process's files"])
def test_an_unreadable_proc_is_access_denied_not_process_gone(
    tmp_path: Path, unreadable: str
) -> None:
    root = tmp_path / "proc"
    (root / "4242" / "fd").mkdir(parents=True)
    (root / "4242" / "stat").write_text("4242 (app) S 1 1 1\n")
    tmp_path.chmod(0o755)
    if unreadable == "the whole tree":
        root.chmod(0o000)
    else:
        root.chmod(0o755)
        (root / "4242").chmod(0o755)
        (root / "4242" / "fd").chmod(0o000)
        (root / "4242" / "stat").chmod(0o000)
    src = Path(__file__).resolve().parents[2] / "src"
    res = subprocess.run(
        [sys.executable, "-c", _UNREADABLE, str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=str(src)),
    )
    root.chmod(0o755)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["AccessDenied", "AccessDenied"]


def test_a_process_that_is_gone_is_still_process_gone(tmp_path: Path) -> None:
    from fdscope import handles as H

    root = tmp_path / "proc"
    root.mkdir()
    with pytest.raises(H.ProcessGone):
        H.snapshot(4242, proc_root=root)


class _Ctx:
    aws_request_id = "req-1"
    function_name = "fn"


def test_monitor_keeps_an_async_handler_a_coroutine_function_and_measures_it_whole(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    held: list[object] = []

    async def handler(event: dict, context: object) -> dict:
        await asyncio.sleep(0.05)
        held.append(open(os.devnull))  # noqa: SIM115  (one descriptor kept, after the await)
        return {"n": event["n"]}

    wrapped = monitor(handler, config=Config(function_name="orders", scan="always"), stream=out)
    assert inspect.iscoroutinefunction(wrapped)
    assert wrapped.__name__ == "handler" and wrapped.monitor is not None
    results = [asyncio.run(wrapped({"n": i}, _Ctx())) for i in range(3)]
    assert results == [{"n": 0}, {"n": 1}, {"n": 2}]
    recs = [json.loads(x) for x in out.getvalue().splitlines() if x.strip()]
    assert len(recs) == 3
    # measured to the end of the coroutine: the sleep and the descriptor opened after it
    assert all(r["duration"] >= 45 for r in recs), [r["duration"] for r in recs]
    assert [r["fd_opened"] for r in recs] == [1, 1, 1]
    for f in held:
        f.close()  # type: ignore[attr-defined]


def test_monitor_passes_an_async_handlers_exception_and_measures_it() -> None:
    out = io.StringIO()

    async def handler(event: dict, context: object) -> None:
        await asyncio.sleep(0)
        raise ValueError("boom")

    wrapped = monitor(handler, config=Config(function_name="orders"), stream=out)
    with pytest.raises(ValueError, match="boom"):
        asyncio.run(wrapped({}, _Ctx()))
    recs = [json.loads(x) for x in out.getvalue().splitlines() if x.strip()]
    assert len(recs) == 1


def test_monitor_switched_off_keeps_an_async_handler_async() -> None:
    async def handler(event: dict, context: object) -> int:
        return 7

    wrapped = monitor(handler, config=Config(function_name="orders", enabled=False))
    assert inspect.iscoroutinefunction(wrapped) and wrapped.monitor is None
    assert asyncio.run(wrapped({}, _Ctx())) == 7
