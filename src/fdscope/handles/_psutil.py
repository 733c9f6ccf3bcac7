"""Fallback backend on psutil (macOS, BSD, Windows): files and inet/unix sockets only.

Fields psutil cannot know stay ``None``; descriptors psutil does not list are
missing from ``handles`` (``count()`` still counts them where psutil can).
"""

from __future__ import annotations

import os
import time
from typing import Any

from fdscope.errors import AccessDenied, HandlesError, ProcessGone
from fdscope.handles._model import Handle, Snapshot


def _psutil() -> Any:
    try:
        import psutil
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise HandlesError(
            "no /proc here: the fallback needs psutil (pip install 'fdscope[psutil]')"
        ) from exc
    return psutil


def _call(pid: int, fn: Any, *args: Any) -> Any:
    psutil = _psutil()
    try:
        return fn(*args)
    except psutil.NoSuchProcess:
        raise ProcessGone(pid) from None
    except psutil.ZombieProcess:
        raise ProcessGone(pid) from None
    except psutil.AccessDenied:
        raise AccessDenied(pid) from None


def _proc(pid: int) -> Any:
    psutil = _psutil()
    return _call(pid, psutil.Process, pid)


_MODES = {"r": "r", "w": "w", "a": "w", "r+": "rw", "a+": "rw", "w+": "rw"}


def _addr(a: Any, v6: bool) -> str | None:
    if not a:
        return None
    if isinstance(a, str):
        return a or None
    host, port = a[0], a[1]
    return f"[{host}]:{port}" if v6 else f"{host}:{port}"


def scan(pid: int, *, details: bool = False) -> Snapshot:
    """Snapshot through psutil: open_files() + net_connections('all')."""
    psutil = _psutil()
    import socket

    started = time.time()
    proc = _proc(pid)
    handles: dict[int, Handle] = {}
    for f in _call(pid, proc.open_files):
        if f.fd < 0:
            continue
        mode = getattr(f, "mode", None)
        handles[f.fd] = Handle(
            fd=f.fd,
            kind="file",
            target=f.path,
            path=f.path,
            flags=getattr(f, "flags", None),
            mode=_MODES.get(mode) if mode else None,
            pos=getattr(f, "position", None),
        )
    conns = getattr(proc, "net_connections", None) or proc.connections
    for c in _call(pid, conns, "all"):
        if c.fd < 0:
            continue
        if c.family == socket.AF_UNIX:
            kind, family = "unix", "unix"
        elif c.family == socket.AF_INET6:
            kind, family = ("tcp6" if c.type == socket.SOCK_STREAM else "udp6"), "inet6"
        elif c.family == socket.AF_INET:
            kind, family = ("tcp" if c.type == socket.SOCK_STREAM else "udp"), "inet"
        else:
            kind, family = "socket", None
        v6 = c.family == getattr(socket, "AF_INET6", -1)
        stype = {socket.SOCK_STREAM: "stream", socket.SOCK_DGRAM: "dgram"}.get(c.type)
        if c.type == getattr(socket, "SOCK_SEQPACKET", -1):
            stype = "seqpacket"
        status = c.status if kind in ("tcp", "tcp6") and c.status != psutil.CONN_NONE else None
        local = _addr(c.laddr, v6)
        handles[c.fd] = Handle(
            fd=c.fd,
            kind=kind,
            target=f"socket:{kind}",
            path=local if kind == "unix" else None,
            family=family,
            type=stype,
            local=local,
            remote=_addr(c.raddr, v6),
            state=status,
        )
    soft = hard = None
    if hasattr(proc, "rlimit") and hasattr(psutil, "RLIMIT_NOFILE"):
        try:
            soft, hard = proc.rlimit(psutil.RLIMIT_NOFILE)
        except (psutil.Error, OSError):
            pass
    if soft is None and pid == os.getpid():
        try:
            import resource

            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        except (ImportError, OSError, ValueError):
            pass
    threads = _call(pid, proc.num_threads)
    kids = tuple(sorted(c.pid for c in _call(pid, proc.children)))
    return Snapshot(
        pid=pid,
        time=started,
        soft_limit=soft,
        hard_limit=hard,
        threads=threads,
        children=kids,
        handles=tuple(handles[fd] for fd in sorted(handles)),
        platform="psutil",
    )


def fd_count(pid: int) -> int:
    """Open descriptors (handles on Windows) through psutil."""
    proc = _proc(pid)
    fn = getattr(proc, "num_fds", None) or proc.num_handles
    return int(_call(pid, fn))


def descendants(pid: int) -> list[int]:
    proc = _proc(pid)
    return [c.pid for c in _call(pid, proc.children, True)]
