"""Finding and killing every process of an environment, setsid grandchildren included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from fdscope.local import _procs

SCRIPT = r"""
import os, sys, time
if os.fork() == 0:            # child
    if os.fork() == 0:        # grandchild: leaves the session and the group
        os.setsid()
        time.sleep(600)
        os._exit(0)
    os._exit(0)
print("ready", flush=True)
time.sleep(600)
"""


def _spawn(token: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, **{_procs.TOKEN_VAR: token})
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        env=env,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    return proc


def _wait_for_setsid(token: str, sid: int) -> list[int]:
    """Token holders once one of them runs in another session (the grandchild) and the
    middle child that forked it has exited (until then the grandchild is still its child,
    inside the process tree)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = _procs.with_token(token)
        try:
            alive = [p for p in found if _procs._alive(p)]
            if any(os.getsid(p) != sid for p in alive) and len(alive) == 2:
                return found
        except ProcessLookupError:
            pass
        time.sleep(0.01)
    return _procs.with_token(token)


def test_token_finds_a_grandchild_outside_the_session_and_kill_gets_it() -> None:
    token = uuid.uuid4().hex
    proc = _spawn(token)
    try:
        found = _wait_for_setsid(token, os.getsid(proc.pid))
        assert proc.pid in found
        (stray,) = [p for p in found if _procs._alive(p) and os.getsid(p) != os.getsid(proc.pid)]
        assert stray not in _procs.tree(proc.pid)  # killpg and the process tree miss it
        assert _procs.kill_environment(proc.pid, token) == []
        proc.wait(5)
        assert [p for p in _procs.with_token(token) if _procs._alive(p)] == []
    finally:
        _procs.kill_environment(proc.pid, token)
        proc.wait(5)
        if proc.stdout:
            proc.stdout.close()


def test_freeze_and_thaw_stop_and_continue_the_tree() -> None:
    token = uuid.uuid4().hex
    proc = _spawn(token)
    try:
        _procs.freeze(proc.pid)
        with open(f"/proc/{proc.pid}/stat") as fh:
            assert fh.read().rsplit(")", 1)[1].split()[0] == "T"
        _procs.thaw(proc.pid)
        time.sleep(0.05)
        with open(f"/proc/{proc.pid}/stat") as fh:
            assert fh.read().rsplit(")", 1)[1].split()[0] != "T"
    finally:
        _procs.kill_environment(proc.pid, token)
        proc.wait(5)
        if proc.stdout:
            proc.stdout.close()


def test_memory_of_live_and_gone_processes() -> None:
    rss, peak = _procs.memory([os.getpid()])
    assert rss is not None and peak is not None and 0 < rss <= peak
    assert _procs.memory([2**22 + 12345]) == (None, None)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (0, "exit status 0"),
        (3, "exit status 3"),
        (-signal.SIGABRT, "signal: aborted (core dumped)"),
        (-signal.SIGKILL, "signal: killed"),
        (-signal.SIGSEGV, "signal: segmentation fault (core dumped)"),
        (-signal.SIGUSR1, "signal: SIGUSR1"),
    ],
)
def test_exit_descriptions_use_lambdas_words(code: int, words: str) -> None:
    assert _procs.exit_description(code) == words
