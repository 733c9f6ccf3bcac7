"""A process that holds one descriptor of every kind fdscope knows, and says what it opened.

Run as ``python holder.py DIR``: creates everything (failing loudly when a kind
cannot be created), prints one JSON line ``{"pid", "fds": {fd: facts}}`` with what
the process itself knows about each descriptor, then waits until stdin closes.
Kinds needing root (fanotify, bpf, AF_PACKET, block device node) need root.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import select
import socket
import stat
import sys

_SYSCALLS = {  # io_uring_setup, bpf, userfaultfd
    "x86_64": (425, 321, 323),
    "aarch64": (425, 280, 282),
}


def main(tmp: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    facts: dict[int, dict] = {}
    keep: list[object] = []

    def need(fd: int, what: str) -> int:
        if fd < 0:
            raise SystemExit(f"cannot create {what}: errno {ctypes.get_errno()}")
        return fd

    # regular file, read-write, positioned
    path = os.path.join(tmp, "regular.txt")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.write(fd, b"0123456789")
    os.lseek(fd, 4, os.SEEK_SET)
    facts[fd] = {"kind": "file", "path": path, "mode": "rw", "pos": 4, "deleted": False}
    # append-only file
    path2 = os.path.join(tmp, "append.log")
    fd = os.open(path2, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    facts[fd] = {"kind": "file", "path": path2, "mode": "w", "flags_has": os.O_APPEND}
    # deleted file
    path3 = os.path.join(tmp, "gone.txt")
    fd = os.open(path3, os.O_RDONLY | os.O_CREAT, 0o600)
    os.unlink(path3)
    facts[fd] = {"kind": "file", "path": path3, "mode": "r", "deleted": True}
    # directory
    fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
    facts[fd] = {"kind": "dir", "path": tmp}
    # character device
    fd = os.open("/dev/null", os.O_WRONLY)
    facts[fd] = {"kind": "chr", "path": "/dev/null", "mode": "w"}
    # block device: a node made here for the first block device the kernel has
    majmin = sorted(os.listdir("/sys/dev/block"))[0]
    major, minor = (int(x) for x in majmin.split(":"))
    blk = os.path.join(tmp, "blockdev")
    os.mknod(blk, stat.S_IFBLK | 0o600, os.makedev(major, minor))
    fd = os.open(blk, os.O_RDONLY)
    facts[fd] = {"kind": "blk", "path": blk, "detail": f"{major},{minor}"}
    # named pipe
    fifo = os.path.join(tmp, "named.fifo")
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    facts[fd] = {"kind": "fifo", "path": fifo, "mode": "rw"}
    # pipe
    r, w = os.pipe()
    ino = os.fstat(r).st_ino
    facts[r] = {"kind": "pipe", "inode": ino, "pipe_end": "read", "peer_fd": w}
    facts[w] = {"kind": "pipe", "inode": ino, "pipe_end": "write", "peer_fd": r}

    def inet(kind: str, family: int, stype: int, host: str) -> None:
        fmt = (
            (lambda a: f"[{a[0]}]:{a[1]}")
            if family == socket.AF_INET6
            else (lambda a: f"{a[0]}:{a[1]}")
        )
        if stype == socket.SOCK_STREAM:
            srv = socket.socket(family, stype)
            srv.bind((host, 0))
            srv.listen()
            cli = socket.socket(family, stype)
            cli.connect(srv.getsockname())
            acc, _ = srv.accept()
            keep.extend([srv, cli, acc])
            facts[srv.fileno()] = {
                "kind": kind,
                "local": fmt(srv.getsockname()),
                "remote": None,
                "state": "LISTEN",
            }
            facts[cli.fileno()] = {
                "kind": kind,
                "local": fmt(cli.getsockname()),
                "remote": fmt(srv.getsockname()),
                "state": "ESTABLISHED",
            }
            facts[acc.fileno()] = {
                "kind": kind,
                "local": fmt(acc.getsockname()),
                "remote": fmt(cli.getsockname()),
                "state": "ESTABLISHED",
            }
        else:
            bound = socket.socket(family, stype)
            bound.bind((host, 0))
            conn = socket.socket(family, stype)
            conn.connect(bound.getsockname())
            keep.extend([bound, conn])
            facts[bound.fileno()] = {
                "kind": kind,
                "local": fmt(bound.getsockname()),
                "remote": None,
            }
            facts[conn.fileno()] = {
                "kind": kind,
                "local": fmt(conn.getsockname()),
                "remote": fmt(bound.getsockname()),
            }

    inet("tcp", socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1")
    inet("tcp6", socket.AF_INET6, socket.SOCK_STREAM, "::1")
    inet("udp", socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1")
    inet("udp6", socket.AF_INET6, socket.SOCK_DGRAM, "::1")

    # UNIX: socketpairs of each type, a path server with a client, an abstract name
    for stype, name in (
        (socket.SOCK_STREAM, "stream"),
        (socket.SOCK_DGRAM, "dgram"),
        (socket.SOCK_SEQPACKET, "seqpacket"),
    ):
        a, b = socket.socketpair(socket.AF_UNIX, stype)
        keep.extend([a, b])
        facts[a.fileno()] = {"kind": "unix", "type": name, "peer_fd": b.fileno()}
        facts[b.fileno()] = {"kind": "unix", "type": name, "peer_fd": a.fileno()}
    upath = os.path.join(tmp, "server.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(upath)
    srv.listen()
    cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    cli.connect(upath)
    acc, _ = srv.accept()
    keep.extend([srv, cli, acc])
    facts[srv.fileno()] = {"kind": "unix", "type": "stream", "path": upath}
    facts[cli.fileno()] = {
        "kind": "unix",
        "type": "stream",
        "remote": upath,
        "peer_fd": acc.fileno(),
    }
    facts[acc.fileno()] = {"kind": "unix", "type": "stream", "path": upath, "peer_fd": cli.fileno()}
    abstract = f"fdscope-test-{os.getpid()}"
    ab = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ab.bind("\0" + abstract)
    keep.append(ab)
    facts[ab.fileno()] = {"kind": "unix", "type": "dgram", "path": "@" + abstract}
    # netlink, and another family (AF_PACKET, root)
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    keep.append(nl)
    nl.bind((0, 0))
    facts[nl.fileno()] = {"kind": "netlink", "detail": "route"}
    unbound = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)
    keep.append(unbound)
    facts[unbound.fileno()] = {"kind": "netlink", "detail": None}
    pk = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)
    keep.append(pk)
    facts[pk.fileno()] = {"kind": "socket", "family": "packet"}

    # anonymous inodes
    facts[os.eventfd(0)] = {"kind": "eventfd"}
    ep = select.epoll()
    keep.append(ep)
    facts[ep.fileno()] = {"kind": "eventpoll"}
    facts[need(libc.timerfd_create(1, 0), "timerfd")] = {"kind": "timerfd"}
    mask = ctypes.create_string_buffer(128)
    facts[need(libc.signalfd(-1, mask, 0), "signalfd")] = {"kind": "signalfd"}
    facts[need(libc.inotify_init1(0), "inotify")] = {"kind": "inotify"}
    facts[need(libc.fanotify_init(0, os.O_RDONLY), "fanotify")] = {"kind": "fanotify"}
    facts[os.pidfd_open(os.getpid())] = {"kind": "pidfd"}
    io_uring, bpf, userfaultfd = _SYSCALLS[platform.machine()]
    params = ctypes.create_string_buffer(120)
    facts[need(libc.syscall(io_uring, 4, params), "io_uring")] = {"kind": "io_uring"}
    attr = ctypes.create_string_buffer(
        (2).to_bytes(4, sys.byteorder)
        + (4).to_bytes(4, sys.byteorder) * 2
        + (1).to_bytes(4, sys.byteorder)
        + bytes(112)
    )
    facts[need(libc.syscall(bpf, 0, attr, 128), "bpf map")] = {"kind": "bpf", "detail": "bpf-map"}
    facts[need(libc.syscall(userfaultfd, os.O_CLOEXEC), "userfaultfd")] = {
        "kind": "anon",
        "detail": "userfaultfd",
    }
    mfd = os.memfd_create("fdscope-memfd")
    facts[mfd] = {"kind": "memfd", "path": "/memfd:fdscope-memfd", "deleted": True}
    # a namespace file: a kind fdscope does not name
    facts[os.open("/proc/self/ns/net", os.O_RDONLY)] = {"kind": "unknown"}

    for fd, f in facts.items():
        if f["kind"] not in ("unknown",) and "inode" not in f:
            f["inode"] = os.fstat(fd).st_ino
    print(json.dumps({"pid": os.getpid(), "fds": facts}), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main(sys.argv[1])
