"""Processes of one environment: find them all, freeze, thaw, kill, measure.

A runtime may fork, and a grandchild may ``setsid`` away from the process
group. Every process of an environment inherits the environment variable
``FDSCOPE_ENV_TOKEN`` (a random value per environment), so scanning
``/proc/*/environ`` finds them all, whatever their parent or session.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

TOKEN_VAR = "FDSCOPE_ENV_TOKEN"


# pid -> (st_nlink of /proc/PID/task, thread ids, uses left): listing task/ costs about
# a tenth of a millisecond on every invocation; its link count says when threads came
# or went, and the listing is redone every _TASK_REUSE uses anyway (a thread replaced
# by another keeps the count)
_TASKS: dict[int, tuple[int, list[str], int]] = {}
_TASK_REUSE = 16


def _thread_ids(pid: int, base: str) -> list[str]:
    nlink = os.stat(base).st_nlink
    cached = _TASKS.get(pid)
    if cached is not None and cached[0] == nlink and cached[2] > 0:
        _TASKS[pid] = (nlink, cached[1], cached[2] - 1)
        return cached[1]
    tids = os.listdir(base)
    if len(_TASKS) > 4096:
        _TASKS.clear()
    _TASKS[pid] = (nlink, tids, _TASK_REUSE)
    return tids


def _read_children(path: str) -> list[int]:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = b""
        while chunk := os.read(fd, 65536):
            data += chunk
    finally:
        os.close(fd)
    return [int(x) for x in data.split()]


def children_of(pid: int, proc_root: Path = Path("/proc")) -> list[int]:
    """Direct children of ``pid`` (all its threads'); empty when it is gone."""
    out: list[int] = []
    base = f"{proc_root}/{pid}/task"
    try:
        tasks = _thread_ids(pid, base)
    except OSError:
        return out
    for tid in tasks:
        try:
            out.extend(_read_children(f"{base}/{tid}/children"))
        except FileNotFoundError:
            _TASKS.pop(pid, None)  # a thread ended: list again next time
        except OSError:
            continue
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants, parents first (a snapshot; races are normal)."""
    seen = [pid]
    i = 0
    while i < len(seen):
        for child in children_of(seen[i]):
            if child not in seen:
                seen.append(child)
        i += 1
    return seen


def with_token(token: str, proc_root: Path = Path("/proc")) -> list[int]:
    """Every process whose environment holds ``FDSCOPE_ENV_TOKEN=token``."""
    needle = f"{TOKEN_VAR}={token}".encode() + b"\0"
    me = os.getpid()
    found = []
    for name in os.listdir(proc_root):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            data = (proc_root / name / "environ").read_bytes()
        except OSError:
            continue
        if needle in data or data.endswith(needle[:-1]):
            found.append(int(name))
    return found


def signal_all(pids: list[int], sig: int) -> None:
    """Send ``sig`` to each pid, ignoring the ones already gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def kill_environment(pid: int | None, token: str, *, wait_s: float = 10.0) -> list[int]:
    """SIGKILL the runtime, its process group and every process with ``token``.

    Repeats until none is left (a process may fork while we look, and one with
    many threads takes a while to die on a busy machine), for at most
    ``wait_s``; returns the pids that survived (empty when all are gone).
    """
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    left: list[int] = []
    deadline = time.monotonic() + wait_s
    pause = 0.005
    while True:
        left = sorted((set(with_token(token)) | set(tree(pid) if pid else [])) - {os.getpid()})
        left = [p for p in left if _alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        signal_all(left, signal.SIGCONT)
        signal_all(left, signal.SIGKILL)
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    return state(pid) not in (None, "Z", "X")


def freeze(pid: int, *, wait_s: float = 1.0) -> None:
    """SIGSTOP the runtime's process group and tree (Lambda freezes between invocations).

    Waits (up to ``wait_s``) until the runtime process is really stopped, as
    Lambda's freezer is synchronous.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGSTOP)
    signal_all(tree(pid), signal.SIGSTOP)
    deadline = time.monotonic() + wait_s
    while state(pid) not in ("T", "t", "Z", "X", None) and time.monotonic() < deadline:
        time.sleep(0.0005)


def state(pid: int) -> str | None:
    """The one-letter state of ``pid`` from /proc/PID/stat (``None`` when gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3].decode()


def thaw(pid: int) -> None:
    """SIGCONT what :func:`freeze` stopped."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGCONT)
    signal_all(tree(pid), signal.SIGCONT)


def memory(pids: list[int]) -> tuple[int | None, int | None]:
    """``(rss_bytes, peak_rss_bytes)`` summed over ``pids`` from /proc/PID/status."""
    rss, peak, _ = status(pids)
    return rss, peak


def status(pids: list[int]) -> tuple[int | None, int | None, int | None]:
    """``(rss_bytes, peak_rss_bytes, threads)`` summed over ``pids`` (``None`` when all gone)."""
    rss = peak = threads = 0
    seen = False
    for pid in pids:
        try:
            fd = os.open(f"/proc/{pid}/status", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            data = os.read(fd, 1 << 16)
        except OSError:
            continue
        finally:
            os.close(fd)
        values = [_field(data, key) for key in (b"\nVmRSS:", b"\nVmHWM:", b"\nThreads:")]
        if values[0] is not None:
            seen = True
        rss += (values[0] or 0) * 1024
        peak += (values[1] or 0) * 1024
        threads += values[2] or 0
    return (rss, peak, threads) if seen else (None, None, None)


def _field(data: bytes, key: bytes) -> int | None:
    """The first number after ``key`` in a /proc status text (``None`` when absent)."""
    at = data.find(key)
    if at < 0:
        return None
    end = data.find(b"\n", at + 1)
    parts = data[at + len(key) : end if end > 0 else None].split()
    return int(parts[0]) if parts and parts[0].isdigit() else None


def exit_description(returncode: int) -> str:
    """Lambda's words for how a runtime ended: ``exit status 1``, ``signal: aborted``."""
    if returncode >= 0:
        return f"exit status {returncode}"
    sig = -returncode
    names: dict[int, str] = {
        signal.SIGABRT: "signal: aborted (core dumped)",
        signal.SIGKILL: "signal: killed",
        signal.SIGSEGV: "signal: segmentation fault (core dumped)",
        signal.SIGTERM: "signal: terminated",
    }
    if sig in names:
        return names[sig]
    try:
        return f"signal: {signal.Signals(sig).name}"
    except ValueError:
        return f"signal: {sig}"
