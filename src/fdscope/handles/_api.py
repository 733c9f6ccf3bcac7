"""The public functions: pick the backend, keep the reserve descriptor, map errors."""

from __future__ import annotations

import errno
import os
import sys
import threading
from dataclasses import replace
from pathlib import Path

from fdscope.errors import HandlesError
from fdscope.handles import _diff, _linux, _net
from fdscope.handles._model import Diff, Handle, Snapshot

PROC = Path("/proc")

# "linux" reads /proc; "psutil" is the fallback. FDSCOPE_HANDLES_BACKEND=psutil forces it.
_BACKEND = os.environ.get("FDSCOPE_HANDLES_BACKEND") or (
    "linux" if sys.platform.startswith("linux") and os.path.isdir("/proc/self/fd") else "psutil"
)

_lock = threading.Lock()
_reserve_fd: int | None = None
_reserve_handle: Handle | None = None
_NO_FD = (errno.EMFILE, errno.ENFILE)


def backend() -> str:
    """The backend in use: ``"linux"`` or ``"psutil"``."""
    return _BACKEND


def reserve_fd() -> int | None:
    """The descriptor :func:`prepare` holds in reserve (``None`` when none is held).

    It is fdscope's own, not the program's: reports list it apart.
    """
    return _reserve_fd


def _use_linux(proc_root: Path) -> bool:
    return _BACKEND == "linux" or proc_root != PROC


def prepare() -> None:
    """Get ready for EMFILE: import what the scan needs and hold one reserve descriptor.

    Idempotent and cheap after the first call. A snapshot or count of the own process
    that finds no free descriptor closes the reserve, scans, and opens it again.
    Raises OSError only if no descriptor is free at the first call.
    """
    global _reserve_fd, _reserve_handle
    if _reserve_fd is not None:
        return
    with _lock:
        if _reserve_fd is not None:
            return
        if _BACKEND == "psutil":
            from fdscope.handles import _psutil

            _psutil._psutil()
            return
        fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        # the reserve as an outside snapshot shows it, to list it while it is released
        link = f"/proc/self/fd/{fd}"
        try:
            st = os.stat(link)
            target = os.readlink(link)
        except BaseException:
            os.close(fd)  # never leak the reserve when preparing fails
            raise
        try:
            pos, flags, _ino = _linux._fdinfo(f"/proc/self/fdinfo/{fd}")
        except OSError:  # reading fdinfo needs a second descriptor: without one, unknown
            pos, flags = None, None
        _reserve_handle = Handle(
            fd=fd,
            kind="chr",
            target=target,
            inode=st.st_ino,
            path=os.devnull,
            deleted=False,
            flags=flags,
            mode="r",
            pos=pos,
            detail=f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}",
        )
        _reserve_fd = fd
        # warm what the EMFILE path touches (lazy imports, first-call caches); with
        # no descriptor to spare the warm-up waits for a later call
        try:
            _net.format_ipv6(bytes(16))
            _linux.alive(os.getpid(), PROC)
        except OSError:
            pass


def _with_reserve(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Run fn; if it finds no free descriptor, release the reserve for the time of one retry."""
    global _reserve_fd
    try:
        return fn(*args, **kwargs), False
    except OSError as exc:
        if exc.errno not in _NO_FD:
            raise
        with _lock:
            if _reserve_fd is None:
                raise HandlesError(f"no free descriptor to scan with: {exc}") from exc
            fd = _reserve_fd
            os.close(fd)
            _reserve_fd = None
            try:
                return fn(*args, **kwargs), True
            except OSError as exc2:
                if exc2.errno in _NO_FD:
                    raise HandlesError("no free descriptor to scan with") from exc2
                raise
            finally:
                # usually the same number again; never dup2 onto the old one, which another
                # thread may own by now
                try:
                    _reserve_fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    _reserve_fd = None  # a later call to prepare() tries again


def snapshot(pid: int | None = None, *, details: bool = False, proc_root: Path = PROC) -> Snapshot:
    """Everything ``pid`` (default: this process) holds open, one record per descriptor.

    ``details=True`` also reads ``fdinfo`` (position and open flags) for every descriptor.
    Raises ProcessGone (the process exited) or AccessDenied (no permission); a
    descriptor closed during the scan is left out.
    """
    own = pid is None or pid == os.getpid()
    if pid is None:
        pid = os.getpid()
    if not _use_linux(proc_root):
        from fdscope.handles import _psutil

        return _psutil.scan(pid, details=details)
    if own and proc_root == PROC:
        prepare()
        snap, released = _with_reserve(_linux.scan, pid, proc_root, details=details)
        reserve = _reserve_handle
        if released and reserve is not None and _reserve_fd is not None:
            if not details:
                reserve = replace(reserve, flags=None, mode=None, pos=None)
            reserve = replace(reserve, fd=_reserve_fd)
            handles = tuple(sorted(snap.handles + (reserve,), key=lambda h: h.fd))
            return Snapshot(
                pid=snap.pid,
                time=snap.time,
                soft_limit=snap.soft_limit,
                hard_limit=snap.hard_limit,
                threads=snap.threads,
                children=snap.children,
                handles=handles,
                platform=snap.platform,
            )
        return snap
    return _linux.scan(pid, proc_root, details=details)


def count(pid: int | None = None, tree: bool = False, *, proc_root: Path = PROC) -> int:
    """Open descriptors of ``pid`` (default: this process); ``tree=True`` adds its descendants.

    O(1) on Linux >= 6.2 (the size of /proc/PID/fd), a directory listing before.
    Raises ProcessGone / AccessDenied for ``pid`` itself; descendants that exit
    meanwhile are skipped.
    """
    if pid is None:
        pid = os.getpid()
    if not _use_linux(proc_root):
        from fdscope.handles import _psutil

        total = _psutil.fd_count(pid)
        if tree:
            for child in _psutil.descendants(pid):
                try:
                    total += _psutil.fd_count(child)
                except HandlesError:
                    pass
        return total
    if pid == os.getpid() and proc_root == PROC:
        prepare()
        total, released = _with_reserve(_count_linux, pid, tree, proc_root)
        return total + 1 if released and _reserve_fd is not None else total  # the reserve
    return _count_linux(pid, tree, proc_root)


def _count_linux(pid: int, tree: bool, proc_root: Path) -> int:
    total = _linux.fd_count(pid, proc_root)
    if tree:
        for child in _linux.descendants(pid, proc_root):
            try:
                total += _linux.fd_count(child, proc_root)
            except HandlesError:
                pass
    return total


def descendants(pid: int | None = None, *, proc_root: Path = PROC) -> list[int]:
    """Pids of every descendant of ``pid`` (children, their children, ...), breadth first."""
    if pid is None:
        pid = os.getpid()
    if not _use_linux(proc_root):
        from fdscope.handles import _psutil

        return _psutil.descendants(pid)
    if pid == os.getpid() and proc_root == PROC:
        prepare()
        return _with_reserve(_linux.descendants, pid, proc_root)[0]
    return _linux.descendants(pid, proc_root)


def diff(before: Snapshot, after: Snapshot) -> Diff:
    """Handles opened and closed between two snapshots, by identity (see Diff)."""
    return _diff.diff(before, after)
