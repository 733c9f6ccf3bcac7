"""Linux backend: ``/proc/PID/fd``, ``/proc/PID/fdinfo`` and ``/proc/PID/net/*``.

No process is started and no descriptor is held between steps: every file this
module opens is closed before the next one is opened, so a scan needs exactly
one free descriptor (the reserve, when the caller is at EMFILE).
"""

from __future__ import annotations

import errno
import gc
import os
import resource
import time
from pathlib import Path
from stat import S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFMT, S_IFREG, S_IFSOCK

from fdscope.errors import AccessDenied, ProcessGone
from fdscope.handles import _net
from fdscope.handles._model import Snapshot, _blank, _from_dict

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
    """Map an OSError about a process to ProcessGone / AccessDenied (or return it).

    Gone only when the process is known to be gone (no /proc/PID/stat, a zombie, or
    ``kill(pid, 0)`` says no such process); a /proc that cannot be read is
    AccessDenied, never "gone"."""
    if isinstance(exc, PermissionError):
        if _state(pid, proc_root) == "gone":  # exited meanwhile (zombies deny some reads)
            return ProcessGone(pid)
        return AccessDenied(pid, f"access denied to process {pid}: {exc.strerror}")
    if isinstance(exc, (FileNotFoundError, ProcessLookupError, NotADirectoryError)) or (
        exc.errno == errno.ESRCH
    ):
        if str(proc_root) == "/proc" and _signalable(pid) == "denied":
            # it exists, /proc hides it from us (hidepid): not ours to read
            return AccessDenied(pid, f"access denied to process {pid}: /proc hides it")
        return ProcessGone(pid)
    return exc


def _signalable(pid: int) -> str:
    """``kill(pid, 0)``: "yes", "gone" or "denied" (exists, not ours)."""
    if pid <= 0:
        return "gone"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        return "denied"
    except OSError:
        return "gone"
    return "yes"


def _state(pid: int, proc_root: Path) -> str:
    """The state of ``pid``: alive, gone (no such process, or a zombie) or unknown
    (its stat cannot be read)."""
    try:
        text = _net.read_text(f"{proc_root}/{pid}/stat")
    except OSError:
        return "unknown"
    if text is None:
        return "gone"
    state = text[text.rfind(")") + 2 : text.rfind(")") + 3]
    return "gone" if state in ("Z", "X", "x") else "alive"


def alive(pid: int, proc_root: Path) -> bool:
    """True when /proc/PID exists and is not a zombie (or its stat cannot be read)."""
    return _state(pid, proc_root) != "gone"


def fd_count(pid: int, proc_root: Path = Path("/proc"), *, fast: bool = True) -> int:
    """Number of open descriptors: ``st_size`` of /proc/PID/fd (kernel >= 6.2), else a listing."""
    fddir = f"{proc_root}/{pid}/fd"
    try:
        if fast:
            size = os.stat(fddir).st_size
            if size > 0:
                return size
        n = len(os.listdir(fddir))
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            raise
        raise _fail(exc, pid, proc_root) from None
    if n == 0 and not alive(pid, proc_root):  # a zombie: exited, not yet reaped
        raise ProcessGone(pid)
    return n


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


def _fdinfo(path: str, dirfd: int | None = None) -> tuple[int | None, int | None, int | None]:
    """(pos, flags, ino) from one fdinfo file (its first lines); Nones when it vanished.

    ``path`` is relative to ``dirfd`` when that is given (one path walk less).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dirfd)
    except (FileNotFoundError, ProcessLookupError):
        return None, None, None
    try:
        head = os.read(fd, 512)
    except (FileNotFoundError, ProcessLookupError):
        return None, None, None
    finally:
        os.close(fd)
    pos = flags = ino = None
    for line in head.split(b"\n")[:5]:
        key, _, value = line.partition(b":")
        try:
            if key == b"pos":
                pos = int(value)
            elif key == b"flags":
                flags = int(value, 8)
            elif key == b"ino":
                ino = int(value)
        except ValueError:
            continue
    return pos, flags, ino


def _bracket(target: str) -> int | None:
    start = target.find("[")
    end = target.find("]", start)
    if start < 0 or end < 0:
        return None
    try:
        return int(target[start + 1 : end])
    except ValueError:
        return None


def _by_fd(row: dict) -> int:
    return row["fd"]


def _row(fd: int, kind: str, target: str, inode: int | None) -> dict:
    row = _blank()
    row["fd"] = fd
    row["kind"] = kind
    row["target"] = target
    row["inode"] = inode
    return row


def _file_row(fd: int, target: str, st: os.stat_result) -> dict | None:
    """Row of a descriptor whose link is a path; None for a socket (a reused number)."""
    fmt = S_IFMT(st.st_mode)
    if fmt == S_IFSOCK:
        return None
    deleted = target.endswith(_DELETED) and (st.st_nlink == 0 or fmt == S_IFDIR)
    path = target[: -len(_DELETED)] if deleted else target
    kind = _FILE_TYPES.get(fmt, "unknown")
    row = _row(fd, kind, target, st.st_ino)
    row["path"] = path
    row["deleted"] = deleted
    if kind == "file" and path.startswith("/memfd:"):
        row["kind"] = "memfd"
        row["detail"] = path[len("/memfd:") :]
    elif kind in ("chr", "blk"):
        row["detail"] = f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}"
    return row


def _relink(name: str, fddir: str, dirfd: int | None) -> str:
    """readlink again (to check a number was not reused meanwhile)."""
    return os.readlink(name, dir_fd=dirfd) if dirfd is not None else os.readlink(fddir + name)


def scan(
    pid: int, proc_root: Path = Path("/proc"), *, details: bool = False, skip: int | None = None
) -> Snapshot:
    """One snapshot of pid from /proc (see :func:`_scan`), the cyclic GC paused meanwhile:
    the scan makes thousands of acyclic records, which would trigger collections."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return _scan(pid, proc_root, details=details, skip=skip)
    finally:
        if paused:
            gc.enable()


def _scan(  # noqa: C901
    pid: int, proc_root: Path = Path("/proc"), *, details: bool = False, skip: int | None = None
) -> Snapshot:
    """One snapshot of pid from /proc. ``skip`` names a descriptor to leave out (the scanner's own).

    Each descriptor costs one readlink; files one stat more, anonymous inodes a stat and
    a second readlink; ``details`` adds an fdinfo read each, which gives position, flags,
    the open mode of files and the end of pipes.
    Sockets are resolved from the target's tables, each read once.
    """
    started = time.time()
    base = f"{proc_root}/{pid}"
    fddir = f"{base}/fd/"
    try:
        names = os.listdir(fddir)
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            raise
        raise _fail(exc, pid, proc_root) from None
    own = pid == os.getpid() and str(proc_root) == "/proc"
    try:
        dirfd: int | None = os.open(fddir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno not in (errno.EMFILE, errno.ENFILE):
            raise _fail(exc, pid, proc_root) from None
        dirfd = None  # no descriptor to spare: walk full paths
    rows: list[dict] = []
    sockets: dict[int, list[dict]] = {}
    pipes: dict[int, list[dict]] = {}
    vanished = 0
    readlink = os.readlink
    stat = os.stat
    blank = _blank()
    skip_fds = {skip, dirfd if own else None}
    try:
        for name in names:
            fd = int(name)
            if fd in skip_fds:
                continue
            try:
                target = (
                    readlink(name, dir_fd=dirfd) if dirfd is not None else readlink(fddir + name)
                )
                head = target[0]
                if head == "/":
                    st = stat(name, dir_fd=dirfd) if dirfd is not None else stat(fddir + name)
                    if (
                        st.st_mode & 0o170000 == S_IFREG
                        and not target.endswith(_DELETED)
                        and not target.startswith("/memfd:")
                    ):  # the common case, inline; the open mode comes with details
                        row = blank.copy()
                        row["fd"] = fd
                        row["kind"] = "file"
                        row["target"] = row["path"] = target
                        row["inode"] = st.st_ino
                        row["deleted"] = False
                    else:
                        maybe = _file_row(fd, target, st)
                        if maybe is None or (
                            maybe["kind"] in ("fifo", "unknown")
                            and _relink(name, fddir, dirfd) != target
                        ):
                            vanished += 1  # a pipe, socket or anon inode took the number
                            continue
                        row = maybe
                elif head == "s" and target.startswith("socket:["):
                    row = blank.copy()
                    row["fd"] = fd
                    row["kind"] = "socket"
                    row["target"] = target
                    row["inode"] = inode = int(target[8:-1])
                    if inode in sockets:
                        sockets[inode].append(row)
                    else:
                        sockets[inode] = [row]
                elif head == "p" and target.startswith("pipe:["):
                    # the end (read/write) comes with details, from fdinfo's flags
                    row = blank.copy()
                    row["fd"] = fd
                    row["kind"] = "pipe"
                    row["target"] = target
                    row["inode"] = inode = int(target[6:-1])
                    if inode in pipes:
                        pipes[inode].append(row)
                    else:
                        pipes[inode] = [row]
                elif target.startswith("anon_inode:"):
                    bare = target[len("anon_inode:") :].strip("[]")
                    kind = _ANON.get(bare) or ("bpf" if bare.startswith("bpf") else "anon")
                    st = stat(name, dir_fd=dirfd) if dirfd is not None else stat(fddir + name)
                    row = _row(fd, kind, target, st.st_ino)
                    row["detail"] = bare
                    if _relink(name, fddir, dirfd) != target:
                        vanished += 1
                        continue
                else:
                    # nsfs ("net:[4026531840]"), pidfs ("pidfd:[..]") and anything newer
                    kind = "pidfd" if target.startswith("pidfd:") else "unknown"
                    row = _row(fd, kind, target, _bracket(target))
                    row["detail"] = target
            except FileNotFoundError:
                vanished += 1
                continue
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    raise
                raise _fail(exc, pid, proc_root) from None
            rows.append(row)
    finally:
        if dirfd is not None:
            os.close(dirfd)

    if sockets:
        gone = _resolve_sockets(pid, proc_root, base, sockets)
        if gone:
            vanished += len(gone)
            rows = [r for r in rows if r["fd"] not in gone]
    if details:
        rows, gone_now = _add_fdinfo(base, rows)
        vanished += gone_now
    for group in pipes.values():
        if len(group) == 2:  # the usual pair: each holds the other end
            group[0]["peer_fd"], group[1]["peer_fd"] = group[1]["fd"], group[0]["fd"]
        elif len(group) > 2 and details:  # dups: the first descriptor of the other end
            for row in group:
                for other in group:
                    if other["pipe_end"] != row["pipe_end"]:
                        row["peer_fd"] = other["fd"]
                        break

    rows.sort(key=_by_fd)
    handles = tuple(map(_from_dict, rows))
    if (not rows or vanished) and not alive(pid, proc_root):
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


def _add_fdinfo(base: str, rows: list[dict]) -> tuple[list[dict], int]:
    """Position, flags, mode (and pipe end) from fdinfo; rows whose descriptor closed
    or changed meanwhile (another inode under the number) are left out."""
    infodir = f"{base}/fdinfo"
    try:
        dirfd: int | None = os.open(infodir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno not in (errno.EMFILE, errno.ENFILE):
            raise
        dirfd = None
    kept: list[dict] = []
    try:
        for row in rows:
            name = str(row["fd"])
            try:
                if dirfd is not None:
                    pos, flags, ino = _fdinfo(name, dirfd)
                else:
                    pos, flags, ino = _fdinfo(f"{infodir}/{name}")
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE) or dirfd is None:
                    raise
                os.close(dirfd)  # the last free descriptor: give it to the files
                dirfd = None
                pos, flags, ino = _fdinfo(f"{infodir}/{name}")
            if flags is None or (
                ino is not None and row["inode"] is not None and ino != row["inode"]
            ):
                continue
            row["pos"] = pos
            row["flags"] = flags
            if row["kind"] not in _NO_MODE:
                row["mode"] = mode = _ACCMODE.get(flags & 3)
                if row["kind"] == "pipe":
                    row["pipe_end"] = "read" if mode == "r" else "write" if mode == "w" else None
            kept.append(row)
    finally:
        if dirfd is not None:
            os.close(dirfd)
    return kept, len(rows) - len(kept)


# kinds whose open mode is not shown (it says nothing a person needs)
_NO_MODE = frozenset(("socket", "tcp", "tcp6", "udp", "udp6", "unix", "netlink"))


def _resolve_sockets(  # noqa: C901
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
        stype, path, state = unix[inode]
        for row in sockets[inode]:
            row["kind"] = "unix"
            row["family"] = "unix"
            row["type"] = stype
            row["path"] = row["local"] = path
            row["state"] = state
    rest = wanted - unix_mine
    same_ns = _net.same_netns(proc_root, pid)
    # sock_diag (binary, fast) works in our own namespace; the target's text tables
    # (/proc/PID/net/tcp...) in any, and for what sock_diag does not cover (raw, udplite)
    inet: dict[int, tuple] = (_net.inet_diag(rest) or {}) if rest and same_ns else {}
    if len(inet) < len(rest):
        inet.update(_net.inet_sockets(net_dir, rest - inet.keys()))
    if rest:
        for inode, (kind, family, stype, local, remote, state) in inet.items():
            for row in sockets[inode]:
                row["kind"] = kind
                row["family"] = family
                row["type"] = stype
                row["local"] = local
                row["remote"] = remote
                row["state"] = state
                if kind == "socket":
                    row["detail"] = "raw"
            rest.discard(inode)
    if rest:
        for inode, proto in _net.netlink_sockets(net_dir, rest).items():
            for row in sockets[inode]:
                row["kind"] = row["family"] = "netlink"
                row["type"] = "raw"
                row["detail"] = proto
            rest.discard(inode)
    if rest:
        for inode in _net.packet_sockets(net_dir, rest):
            for row in sockets[inode]:
                row["family"] = "packet"
                row["detail"] = "PACKET"
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
                row["kind"], row["family"], row["type"] = known
            elif label == "NETLINK":  # not bound yet, so not in the netlink table
                row["kind"] = row["family"] = "netlink"
                row["type"] = "raw"
            elif label and label.startswith("UNIX"):  # e.g. a table of another namespace
                row["kind"] = row["family"] = "unix"
                row["type"] = label[5:].lower() or None
            else:
                row["family"] = label.lower() if label else None
                row["detail"] = label
    if unix_mine and same_ns:
        peers = _net.unix_peers()
        by_inode = {inode: group[0]["fd"] for inode, group in sockets.items()}
        for inode in unix_mine:
            peer = peers.get(inode)
            if not peer:
                continue
            peer_path = unix.get(peer, (None, None, None))[1]
            for row in sockets[inode]:
                if peer in by_inode:
                    row["peer_fd"] = by_inode[peer]
                row["remote"] = peer_path
                if row["detail"] is None:
                    row["detail"] = f"peer inode {peer}"
    return gone
