"""The records the inventory returns: frozen, typed, ``None`` where unknown.

This file is the contract other packages code against (origins, doctor,
monitor, pytest plugin). Extend it with new optional fields at the end;
do not rename or remove fields.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

# Every kind a Handle can have.
FILE_KINDS = ("file", "dir", "chr", "blk", "fifo", "pipe")
SOCKET_KINDS = ("tcp", "tcp6", "udp", "udp6", "unix", "netlink", "socket")
ANON_KINDS = (
    "eventfd",
    "eventpoll",
    "timerfd",
    "signalfd",
    "inotify",
    "fanotify",
    "pidfd",
    "io_uring",
    "memfd",
    "bpf",
    "anon",  # another anon_inode:[...]; ``detail`` names it
)
KINDS = FILE_KINDS + SOCKET_KINDS + ANON_KINDS + ("unknown",)
NET_KINDS = ("tcp", "tcp6", "udp", "udp6")


# Handle is not slotted on purpose: the scanner builds thousands at a time by attaching a
# ready dict (see ``_from_dict``), about twenty times faster than the generated __init__.
@dataclass(frozen=True)
class Handle:
    """One open descriptor of one process."""

    fd: int
    kind: str  # one of KINDS
    target: str  # raw readlink of /proc/PID/fd/N ("socket:[123]", "/tmp/x (deleted)", ...)
    inode: int | None = None
    path: str | None = None  # file/dir/device path; unix socket path or "@abstract"; memfd name
    deleted: bool | None = None
    # From fdinfo (loaded on request, see snapshot(details=True)); None when not loaded.
    flags: int | None = None  # open flags (O_RDONLY, O_APPEND, ...), octal in fdinfo
    mode: str | None = None  # "r", "w", "rw" derived from flags
    pos: int | None = None
    # Sockets
    family: str | None = None  # "inet", "inet6", "unix", "netlink", or another family name
    type: str | None = None  # "stream", "dgram", "seqpacket", "raw"
    local: str | None = None  # "127.0.0.1:5432", "[::1]:80", unix path
    remote: str | None = None  # "127.0.0.1:5432"; unix: peer path/name where resolvable
    state: str | None = None  # TCP state name: "ESTABLISHED", "LISTEN", ...
    peer_fd: int | None = None  # pipe/unix/socketpair: fd of the same process holding the other end
    # Pipes
    pipe_end: str | None = None  # "read" or "write"
    detail: str | None = None  # anon inode name, netlink protocol, device numbers, ...

    @property
    def identity(self) -> tuple[object, ...]:
        """What makes two handles "the same" across snapshots (never the fd number)."""
        if self.kind in NET_KINDS:
            return (self.kind, self.inode, self.local, self.remote)
        if self.kind in ("file", "dir", "chr", "blk", "fifo", "memfd"):
            return (self.kind, self.inode, self.path, self.mode)
        return (self.kind, self.inode, self.path, self.pipe_end, self.detail)

    @property
    def endpoint(self) -> str | None:
        """The grouping key a person reads: remote address, else path, else None."""
        return self.remote or self.path or self.local

    def describe(self) -> str:
        """One short line: ``tcp 127.0.0.1:40000 -> 127.0.0.1:8080 ESTABLISHED``."""
        parts = [self.kind]
        if self.local or self.remote:
            parts.append(f"{self.local or '?'} -> {self.remote or '?'}")
        elif self.path:
            parts.append(self.path + (" (deleted)" if self.deleted else ""))
        elif self.detail:
            parts.append(self.detail)
        if self.state:
            parts.append(self.state)
        if self.pipe_end:
            parts.append(f"{self.pipe_end} end")
        return " ".join(parts)


_HANDLE_FIELDS = tuple(Handle.__dataclass_fields__)
_NEW = object.__new__
_SET = object.__setattr__


def _from_dict(values: dict) -> Handle:
    """A Handle from a dict holding exactly every field (the scanner's fast path)."""
    h = _NEW(Handle)
    _SET(h, "__dict__", values)
    return h


def _blank() -> dict:
    """A dict with every Handle field set to None, to fill and pass to ``_from_dict``."""
    return dict.fromkeys(_HANDLE_FIELDS)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one process holds open at one moment."""

    pid: int
    time: float  # time.time() when the scan started
    soft_limit: int | None
    hard_limit: int | None
    threads: int | None
    children: tuple[int, ...]
    handles: tuple[Handle, ...]
    platform: str = "linux"  # "linux" (/proc) or "psutil"

    @property
    def count(self) -> int:
        return len(self.handles)

    def by_kind(self) -> dict[str, int]:
        return dict(Counter(h.kind for h in self.handles))


@dataclass(frozen=True, slots=True)
class Diff:
    """Handles compared by identity, as multisets (an fd reused is a close and an open)."""

    opened: tuple[Handle, ...] = field(default_factory=tuple)
    closed: tuple[Handle, ...] = field(default_factory=tuple)

    @property
    def net(self) -> int:
        return len(self.opened) - len(self.closed)
