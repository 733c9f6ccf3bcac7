"""UNIX socket files an environment's processes listen on, found and removed.

A library may bind a socket file at a hard-coded path outside the private
``/tmp`` (aws-serverless-express: ``/tmp/server-<random>.sock``). The file
stays when its process is killed; the environment notes the paths while its
processes live (``/proc/PID/fd`` socket inodes matched in ``/proc/net/unix``)
and removes those still there, and still sockets, when it ends. Linux only;
elsewhere nothing is found.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable


def listening_paths(pids: Iterable[int], proc_root: str = "/proc") -> set[str]:
    """Absolute filesystem paths of the UNIX sockets the processes ``pids`` hold.

    The namespace's socket table is read first: with no socket bound to a path (the
    common case between invocations of a clean function) the processes' descriptors
    are not walked at all, which keeps this per-invocation check cheap."""
    by_inode: dict[str, str] = {}
    try:
        with open(f"{proc_root}/net/unix", encoding="utf-8", errors="replace") as fh:
            next(fh, None)  # header
            for line in fh:
                parts = line.split(None, 7)
                if len(parts) == 8 and parts[7].startswith("/"):
                    by_inode[parts[6]] = parts[7].rstrip("\n")
    except OSError:
        return set()
    if not by_inode:
        return set()
    out: set[str] = set()
    for pid in pids:
        fd_dir = f"{proc_root}/{pid}/fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        for name in names:
            try:
                link = os.readlink(f"{fd_dir}/{name}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in by_inode:
                out.add(by_inode[link[8:-1]])
    return out


def remove(paths: Iterable[str]) -> list[str]:
    """Unlink each path that is still a socket file; returns the ones removed."""
    removed = []
    for path in sorted(paths):
        try:
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                continue
        except OSError:
            continue
        with contextlib.suppress(OSError):
            os.unlink(path)
            removed.append(path)
    return removed
