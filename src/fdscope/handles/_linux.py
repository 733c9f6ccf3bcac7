"""Linux backend: ``/proc/PID/fd``, ``/proc/PID/fdinfo`` and ``/proc/PID/net/*``.

No process is started and no descriptor is held between steps: every file this
module opens is closed before the next one is opened, so a scan needs exactly
one free descriptor (the reserve, when the caller is at EMFILE).
"""

from __future__ import annotations

import errno
import os
import resource
import time
from pathlib import Path
from stat import S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFMT, S_IFREG, S_IFSOCK

from fdscope.errors import AccessDenied, ProcessGone
from fdscope.handles import _net
from fdscope.handles._model import Handle, Snapshot

_ANON = {
    "eventfd": "eventfd",
    "eventpoll": "eventpoll",
    "timerfd": "timerfd",
    "signalfd": "signalfd",
    "inotify": "inotify",
    "fanotify": "fanotify",
    "pidfd": "pidfd",
    "io_uring": "io_uring",
}
_FILE_TYPES = {S_IFREG: "file", S_IFDIR: "dir", S_IFCHR: "chr", S_IFBLK: "blk", S_IFIFO: "fifo"}
_LINK_MODES = {0o500: "r", 0o300: "w", 0o700: "rw"}
_DELETED = " (deleted)"
# system.sockprotoname of sockets that are in no table yet -> (kind, family, type)
_PROTO_NAMES = {
    "TCP": ("tcp", "inet", "stream"),
    "TCPv6": ("tcp6", "inet6", "stream"),
    "UDP": ("udp", "inet", "dgram"),
    "UDPv6": ("udp6", "inet6", "dgram"),
    "UDP-Lite": ("udp", "inet", "dgram"),
    "UDPLITEv6": ("udp6", "inet6", "dgram"),
    "MPTCP": ("tcp", "inet", "stream"),
    "MPTCPv6": ("tcp6", "inet6", "stream"),
}
_ACCMODE = {0: "r", 1: "w", 2: "rw"}


def _fail(exc: OSError, pid: int, proc_root: Path) -> Exception:
    """Map an OSError about a process to ProcessGone / AccessDenied (or return it)."""
    if isinstance(exc, PermissionError):
        return AccessDenied(pid, f"access denied to process {pid}: {exc.strerror}")
    if isinstance(exc, (FileNotFoundError, ProcessLookupError, NotADirectoryError)) or (
        exc.errno == errno.ESRCH
    ):
        return ProcessGone(pid)
    return exc


def alive(pid: int, proc_root: Path) -> bool:
    """True when /proc/PID exists and is not a zombie."""
    text = _net.read_text(f"{proc_root}/{pid}/stat")
    if text is None:
        return False
    state = text[text.rfind(")") + 2 : text.rfind(")") + 3]
    return state not in ("Z", "X", "x")


def fd_count(pid: int, proc_root: Path = Path("/proc"), *, fast: bool = True) -> int:
    """Number of open descriptors: ``st_size`` of /proc/PID/fd (kernel >= 6.2), else a listing."""
    fddir = f"{proc_root}/{pid}/fd"
    try:
        if fast:
            size = os.stat(fddir).st_size
            if size > 0:
                return size
        return len(os.listdir(fddir))
    except OSError as exc:
        raise _fail(exc, pid, proc_root) from None


def _ppid_map(proc_root: Path) -> dict[int, list[int]]:
    """parent pid -> child pids, from /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for name in os.listdir(proc_root):
        if not name.isdigit():
            continue
        text = _net.read_text(f"{proc_root}/{name}/stat")
        if not text:
            continue
        rest = text[text.rfind(")") + 2 :].split(None, 2)
        if len(rest) < 2:
            continue
        children.setdefault(int(rest[1]), []).append(int(name))
    return children


def _children_files(pid: int, proc_root: Path) -> list[int] | None:
    """Direct children from /proc/PID/task/*/children, or None without CONFIG_PROC_CHILDREN."""
    try:
        tids = os.listdir(f"{proc_root}/{pid}/task")
    except OSError as exc:
        raise _fail(exc, pid, proc_root) from None
    out: list[int] = []
    for tid in tids:
        text = _net.read_text(f"{proc_root}/{pid}/task/{tid}/children")
        if text is None:
            return None
        out.extend(int(x) for x in text.split())
    return out


_HAS_CHILDREN_FILE: dict[str, bool] = {}


def children(pid: int, proc_root: Path = Path("/proc")) -> list[int]:
    """Direct children of pid (sorted)."""
    key = str(proc_root)
    if _HAS_CHILDREN_FILE.get(key, True):
        found = _children_files(pid, proc_root)
        if found is not None:
            return sorted(found)
        _HAS_CHILDREN_FILE[key] = False
    return sorted(_ppid_map(proc_root).get(pid, []))


def descendants(pid: int, proc_root: Path = Path("/proc")) -> list[int]:
    """Every descendant of pid, breadth first."""
    key = str(proc_root)
    out: list[int] = []
    if _HAS_CHILDREN_FILE.get(key, True):
        first = _children_files(pid, proc_root)
        if first is not None:
            queue = list(first)
            while queue:
                child = queue.pop(0)
                out.append(child)
                try:
                    more = _children_files(child, proc_root)
                except (ProcessGone, AccessDenied):
                    continue
                queue.extend(more or ())
            return out
        _HAS_CHILDREN_FILE[key] = False
    tree = _ppid_map(proc_root)
    queue = list(tree.get(pid, []))
    seen = {pid}
    while queue:
        child = queue.pop(0)
        if child in seen:
            continue
        seen.add(child)
        out.append(child)
        queue.extend(tree.get(child, []))
    return out


def _limits(pid: int, proc_root: Path) -> tuple[int | None, int | None]:
    if str(proc_root) == "/proc":
        try:
            if pid == os.getpid():
                soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            else:
                soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
            inf = resource.RLIM_INFINITY
            return (None if soft == inf else soft, None if hard == inf else hard)
        except (OSError, ValueError):
            pass
    text = _net.read_text(f"{proc_root}/{pid}/limits")
    for line in (text or "").splitlines():
        if line.startswith("Max open files"):
            parts = line[len("Max open files") :].split()
            vals = [None if p == "unlimited" else int(p) for p in parts[:2]]
            return vals[0], vals[1]
    return None, None


def _threads(pid: int, proc_root: Path) -> int | None:
    try:
        nlink = os.stat(f"{proc_root}/{pid}/task").st_nlink
    except OSError:
        return None
    if nlink > 2:
        return nlink - 2
    text = _net.read_text(f"{proc_root}/{pid}/status") or ""
    for line in text.splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return None


def _fdinfo(path: str) -> tuple[int | None, int | None]:
    """(pos, flags) from one fdinfo file; (None, None) when it vanished."""
    text = _net.read_text(path)
    if text is None:
        return None, None
    pos = flags = None
    for line in text.splitlines():
        if line.startswith("pos:"):
            pos = int(line[4:])
        elif line.startswith("flags:"):
            flags = int(line[6:], 8)
            break
    return pos, flags


def _bracket(target: str) -> int | None:
    start = target.find("[")
    end = target.find("]", start)
    if start < 0 or end < 0:
        return None
    try:
        return int(target[start + 1 : end])
    except ValueError:
        return None


def _describe(fd: int, link: str, target: str) -> dict | None:
    """The row for one descriptor from its link target (plus stat/lstat where needed).

    ``_checked`` is set when the row came from the target alone (nothing to re-check).
    None when the link target and the stat disagree on what it is (a reused number).
    """
    row: dict = {"fd": fd, "target": target}
    if target.startswith("socket:["):
        row.update(kind="socket", inode=_bracket(target), _checked=True)
    elif target.startswith("pipe:["):
        mode = _LINK_MODES.get(os.lstat(link).st_mode & 0o700)
        end = "read" if mode == "r" else "write" if mode == "w" else None
        row.update(kind="pipe", inode=_bracket(target), pipe_end=end, mode=mode)
    elif target.startswith("/"):
        st = os.stat(link)
        fmt = S_IFMT(st.st_mode)
        if fmt == S_IFSOCK:
            return None
        deleted = target.endswith(_DELETED) and (st.st_nlink == 0 or fmt == S_IFDIR)
        path = target[: -len(_DELETED)] if deleted else target
        kind = _FILE_TYPES.get(fmt, "unknown")
        if kind == "file" and path.startswith("/memfd:"):
            kind = "memfd"
            row["detail"] = path[len("/memfd:") :]
        elif kind in ("chr", "blk"):
            row["detail"] = f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}"
        mode = _LINK_MODES.get(os.lstat(link).st_mode & 0o700)
        row.update(kind=kind, inode=st.st_ino, path=path, deleted=deleted, mode=mode)
    elif target.startswith("anon_inode:"):
        bare = target[len("anon_inode:") :].strip("[]")
        kind = _ANON.get(bare)
        if kind is None:
            kind = "bpf" if bare.startswith("bpf") else "anon"
        row.update(kind=kind, inode=os.stat(link).st_ino, detail=bare)
    else:
        # nsfs ("net:[4026531840]"), pidfs ("pidfd:[..]") and anything newer
        prefix = target.split(":", 1)[0]
        kind = "pidfd" if prefix == "pidfd" else "unknown"
        row.update(kind=kind, inode=_bracket(target), detail=target, _checked=True)
    return row


def scan(
    pid: int, proc_root: Path = Path("/proc"), *, details: bool = False, skip: int | None = None
) -> Snapshot:
    """One snapshot of pid from /proc. ``skip`` names a descriptor to leave out (the scanner's own)."""
    started = time.time()
    base = f"{proc_root}/{pid}"
    fddir = f"{base}/fd/"
    try:
        names = os.listdir(fddir)
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            raise
        raise _fail(exc, pid, proc_root) from None

    readlink = os.readlink
    rows: list[dict] = []
    sockets: dict[int, list[dict]] = {}
    pipes: dict[int, list[dict]] = {}
    vanished = 0
    for name in names:
        fd = int(name)
        if fd == skip:
            continue
        link = fddir + name
        for _attempt in range(3):
            try:
                target = readlink(link)
                row = _describe(fd, link, target)
                # stat/lstat may have met a successor under the same number: check
                if row is None or row.get("_checked") or readlink(link) == target:
                    break
            except FileNotFoundError:
                row = None
                break
            except OSError as exc:
                raise _fail(exc, pid, proc_root) from None
        else:
            row = None  # reused three times in a row while we looked: leave it out
        if row is None:
            vanished += 1
            continue
        row.pop("_checked", None)
        kind = row["kind"]
        if kind == "socket":
            sockets.setdefault(row["inode"] or -1, []).append(row)
        elif kind == "pipe":
            pipes.setdefault(row["inode"] or -1, []).append(row)
        rows.append(row)

    if sockets:
        gone = _resolve_sockets(pid, proc_root, base, sockets)
        if gone:
            vanished += len(gone)
            rows = [r for r in rows if r["fd"] not in gone]
    for group in pipes.values():
        if len(group) > 1:
            for row in group:
                other = next(
                    (r for r in group if r is not row and r.get("pipe_end") != row.get("pipe_end")),
                    None,
                )
                if other is not None:
                    row["peer_fd"] = other["fd"]
    if details:
        infodir = f"{base}/fdinfo/"
        for row in rows:
            pos, flags = _fdinfo(infodir + str(row["fd"]))
            row["pos"] = pos
            row["flags"] = flags
            if flags is not None and row.get("mode") is None and row["kind"] in ("file", "dir"):
                row["mode"] = _ACCMODE.get(flags & 3)

    rows.sort(key=lambda r: r["fd"])
    handles = tuple(Handle(**row) for row in rows)
    if not rows and not alive(pid, proc_root):
        raise ProcessGone(pid)
    if vanished and not alive(pid, proc_root):
        raise ProcessGone(pid)
    soft, hard = _limits(pid, proc_root)
    try:
        kids = tuple(children(pid, proc_root))
    except (ProcessGone, AccessDenied):
        kids = ()
    return Snapshot(
        pid=pid,
        time=started,
        soft_limit=soft,
        hard_limit=hard,
        threads=_threads(pid, proc_root),
        children=kids,
        handles=handles,
        platform="linux",
    )


def _resolve_sockets(
    pid: int, proc_root: Path, base: str, sockets: dict[int, list[dict]]
) -> set[int]:
    """Fill family/type/endpoints/state/peers of socket rows from the target's net tables.

    Returns the descriptors found closed meanwhile (to leave out).
    """
    net_dir = f"{base}/net"
    wanted = set(sockets)
    unix = _net.unix_sockets(net_dir, wanted)
    unix_mine = wanted & unix.keys()
    for inode in unix_mine:
        stype, path = unix[inode]
        for row in sockets[inode]:
            row.update(kind="unix", family="unix", type=stype, path=path, local=path)
    rest = wanted - unix_mine
    if rest:
        for inode, (kind, family, stype, local, remote, state) in _net.inet_sockets(
            net_dir, rest
        ).items():
            for row in sockets[inode]:
                row.update(
                    kind=kind, family=family, type=stype, local=local, remote=remote, state=state
                )
                if kind == "socket":
                    row["detail"] = "raw"
            rest.discard(inode)
    if rest:
        for inode, proto in _net.netlink_sockets(net_dir, rest).items():
            for row in sockets[inode]:
                row.update(kind="netlink", family="netlink", type="raw", detail=proto)
            rest.discard(inode)
    if rest:
        for inode in _net.packet_sockets(net_dir, rest):
            for row in sockets[inode]:
                row.update(family="packet", detail="PACKET")
            rest.discard(inode)
    gone: set[int] = set()
    for inode in rest:  # in no table: ask the socket its protocol name
        for row in sockets[inode]:
            link = f"{base}/fd/{row['fd']}"
            try:
                name = os.getxattr(link, "system.sockprotoname")
                label: str | None = name.rstrip(b"\0").decode("ascii", "replace")
            except OSError:
                label = None
            try:
                same = os.readlink(link) == row["target"]
            except OSError:
                same = False
            if not same:  # closed during the scan (and the number perhaps reused)
                gone.add(row["fd"])
                continue
            known = _PROTO_NAMES.get(label or "")
            if known is not None:  # an inet socket not bound or connected yet
                kind, family, stype = known
                row.update(kind=kind, family=family, type=stype)
            elif label == "NETLINK":  # not bound yet, so not in the netlink table
                row.update(kind="netlink", family="netlink", type="raw")
            elif label and label.startswith("UNIX"):  # e.g. a table of another namespace
                row.update(kind="unix", family="unix", type=label[5:].lower() or None)
            else:
                row.update(family=label.lower() if label else None, detail=label)
    if unix_mine and _net.same_netns(proc_root, pid):
        peers = _net.unix_peers()
        by_inode = {inode: rows[0]["fd"] for inode, rows in sockets.items()}
        for inode in unix_mine:
            peer = peers.get(inode)
            if not peer:
                continue
            peer_path = unix.get(peer, (None, None))[1]
            for row in sockets[inode]:
                if peer in by_inode:
                    row["peer_fd"] = by_inode[peer]
                row["remote"] = peer_path
                if row.get("detail") is None:
                    row["detail"] = f"peer inode {peer}"
    return gone
