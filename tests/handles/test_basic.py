"""snapshot/count/diff/descendants on this process and on a child, against what the test opened."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys

import pytest

from fdscope import handles
from fdscope.errors import AccessDenied, ProcessGone


def _by_fd(snap: handles.Snapshot) -> dict[int, handles.Handle]:
    return {h.fd: h for h in snap.handles}


def test_public_surface_is_sorted_and_complete() -> None:
    assert handles.__all__ == sorted(handles.__all__, key=lambda n: (not n.isupper(), n))
    for name in ("snapshot", "count", "diff", "descendants", "prepare", "Snapshot", "Handle"):
        assert name in handles.__all__
        assert getattr(handles, name) is not None


def test_snapshot_of_self_knows_files_pipes_and_sockets(tmp_path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("hello world")
    f = open(path, "rb", buffering=0)  # noqa: SIM115
    f.read(5)
    r, w = os.pipe()
    a, b = socket.socketpair()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    cli = socket.create_connection(srv.getsockname())
    acc, _ = srv.accept()
    try:
        snap = handles.snapshot(details=True)
        got = _by_fd(snap)
        assert snap.pid == os.getpid()
        assert snap.soft_limit == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        h = got[f.fileno()]
        assert (h.kind, h.path, h.mode, h.pos, h.deleted) == ("file", str(path), "r", 5, False)
        assert h.inode == os.fstat(f.fileno()).st_ino
        assert got[r].kind == got[w].kind == "pipe"
        assert (got[r].pipe_end, got[w].pipe_end) == ("read", "write")
        assert (got[r].peer_fd, got[w].peer_fd) == (w, r)
        assert got[a.fileno()].kind == "unix" and got[a.fileno()].peer_fd == b.fileno()
        assert got[a.fileno()].type == "stream"
        host, port = srv.getsockname()
        assert got[srv.fileno()].state == "LISTEN"
        assert got[srv.fileno()].local == f"{host}:{port}"
        c = got[cli.fileno()]
        assert (c.kind, c.remote, c.state) == ("tcp", f"{host}:{port}", "ESTABLISHED")
        assert c.local == "{}:{}".format(*cli.getsockname())
        assert got[acc.fileno()].remote == c.local
        assert handles.count() >= len(snap.handles) - 1
    finally:
        for s in (f, a, b, srv, cli, acc):
            s.close()
        os.close(r)
        os.close(w)


def test_count_matches_listing_on_fast_and_fallback_path() -> None:
    from fdscope.handles import _linux

    # count() of the own process first keeps a reserve descriptor (prepare()): take it now,
    # or the first count() in a fresh process is one more than the reads before it
    handles.prepare()
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(50)]
    try:
        fast = _linux.fd_count(os.getpid())
        slow = _linux.fd_count(os.getpid(), fast=False)
        # the fallback's own listing descriptor is counted by it
        assert slow - 1 <= fast <= slow
        assert fast >= 50
        assert handles.count() == fast
    finally:
        for fd in fds:
            os.close(fd)


def test_diff_is_a_multiset_by_identity(tmp_path) -> None:
    path = tmp_path / "x"
    path.write_text("x")
    before = handles.snapshot()
    f1 = open(path)  # noqa: SIM115
    f2 = open(path)  # noqa: SIM115  -- the same file twice is two handles
    sock = socket.socket()
    mid = handles.snapshot()
    d = handles.diff(before, mid)
    assert sorted(h.fd for h in d.opened) == sorted([f1.fileno(), f2.fileno(), sock.fileno()])
    assert d.closed == () and d.net == 3
    # a number closed and reopened by something else is a close and an open
    num = sock.fileno()
    sock.close()
    r, w = os.pipe()
    assert num in (r, w)
    after = handles.snapshot()
    d2 = handles.diff(mid, after)
    assert {h.kind for h in d2.closed} == {"tcp"}
    assert sorted(h.kind for h in d2.opened) == ["pipe", "pipe"]
    f1.close()
    f2.close()
    os.close(r)
    os.close(w)
    assert handles.diff(before, handles.snapshot()).net == 0


def test_child_process_tree_counts_and_descendants() -> None:
    code = (
        "import os, subprocess, sys, time\n"
        "fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(30)]\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'],"
        " stdin=subprocess.DEVNULL)\n"
        "print(p.pid, flush=True); time.sleep(30)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )
    try:
        grandchild = int(proc.stdout.readline())
        assert handles.descendants(proc.pid) == [grandchild]
        snap = handles.snapshot(proc.pid)
        assert snap.children == (grandchild,)
        assert snap.count >= 33
        own = handles.count(proc.pid)
        assert own == snap.count
        assert handles.count(proc.pid, tree=True) == own + handles.count(grandchild)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    with pytest.raises(ProcessGone) as info:
        handles.snapshot(proc.pid)
    assert info.value.pid == proc.pid
    with pytest.raises(ProcessGone):
        handles.count(proc.pid)


def test_access_denied_names_the_pid() -> None:
    # a forked child that drops to an unprivileged user may not read pid 1's descriptors
    r, w = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.close(r)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setresgid(65534, 65534, 65534)
                os.setresuid(65534, 65534, 65534)
            try:
                handles.snapshot(1)
            except AccessDenied as exc:
                os.write(w, f"denied {exc.pid}".encode())
                code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as pipe:
        said = pipe.read()
    _, status = os.waitpid(child, 0)
    assert said == "denied 1"
    assert os.waitstatus_to_exitcode(status) == 0


def test_open_mode_counts_in_a_diff_of_detailed_snapshots(tmp_path) -> None:
    path = tmp_path / "m"
    path.write_text("m")
    fd = os.open(path, os.O_RDONLY)
    before = handles.snapshot(details=True)
    os.close(fd)
    fd2 = os.open(path, os.O_WRONLY)  # same file, same number, another mode
    after = handles.snapshot(details=True)
    try:
        assert fd2 == fd
        d = handles.diff(before, after)
        assert [(h.fd, h.mode) for h in d.closed] == [(fd, "r")]
        assert [(h.fd, h.mode) for h in d.opened] == [(fd, "w")]
        # without details the mode is unknown: the same file under the same number
        assert handles.diff(handles.snapshot(), after).net == 0
        assert handles.diff(handles.snapshot(), after).opened == ()
    finally:
        os.close(fd2)


def test_descendants_without_children_files_scan_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kernels without CONFIG_PROC_CHILDREN: the /proc/*/stat scan finds the same tree."""
    from fdscope.handles import _linux

    code = (
        "import subprocess, sys\n"
        "k = subprocess.Popen([sys.executable, '-c', 'import sys; sys.stdin.read()'],"
        " stdin=subprocess.PIPE)\n"
        "print(k.pid, flush=True); sys.stdin.read(); k.stdin.close(); k.wait()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        kid = int(proc.stdout.readline())
        with_files = handles.descendants(proc.pid)
        monkeypatch.setitem(_linux._HAS_CHILDREN_FILE, "/proc", False)
        assert handles.descendants(proc.pid) == with_files == [kid]
        assert _linux.children(proc.pid) == [kid]
    finally:
        proc.stdin.close()
        proc.wait(10)
        proc.stdout.close()
