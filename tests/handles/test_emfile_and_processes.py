"""The inventory starts no process, and works inside a process that hit EMFILE."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

from fdscope import handles

NO_PROCESS = textwrap.dedent(
    """
    import json, sys
    from fdscope import handles
    events = []
    def hook(event, args):
        if event in ("subprocess.Popen", "os.posix_spawn", "os.fork", "os.forkpty", "os.exec",
                     "os.spawn", "os.system", "os.startfile", "pty.spawn"):
            events.append(event)
    sys.addaudithook(hook)
    pid = int(sys.argv[1])
    handles.prepare()
    handles.snapshot(pid, details=True)
    handles.snapshot(details=True)
    handles.count(pid, tree=True)
    handles.count(tree=True)
    handles.descendants(pid)
    handles.diff(handles.snapshot(pid), handles.snapshot(pid))
    during = list(events)
    import subprocess
    subprocess.run([sys.executable, "-c", "pass"], check=True)  # the hook does see processes
    print(json.dumps({"during": during, "after": events[len(during):]}))
    """
)


def test_snapshot_starts_no_process(holder: dict[str, Any]) -> None:
    out = subprocess.run(
        [sys.executable, "-c", NO_PROCESS, str(holder["pid"])],
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(out.stdout)
    assert seen["during"] == []
    assert "subprocess.Popen" in seen["after"]


EMFILE = textwrap.dedent(
    """
    import json, os, resource, socket, sys
    from fdscope import handles
    handles.prepare()
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    keep = [socket.socketpair(), os.pipe(), socket.socket()]
    keep[2].bind(("127.0.0.1", 0)); keep[2].listen()
    fds = []
    while True:
        try:
            fds.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as exc:
            assert exc.errno == 24, exc
            break
    snap = handles.snapshot(details=True)
    n = handles.count()
    n_tree = handles.count(tree=True)
    kids = handles.descendants()
    try:
        os.open(os.devnull, os.O_RDONLY)
        still_full = False
    except OSError:
        still_full = True
    rows = [[h.fd, h.kind, h.inode, h.path, h.local, h.remote, h.state, h.pipe_end] for h in snap.handles]
    print(json.dumps({"limits": [snap.soft_limit, snap.hard_limit], "count": n, "count_tree": n_tree, "kids": kids,
                      "still_full": still_full, "handles": rows}), flush=True)
    sys.stdin.read()
    """
)


def test_snapshot_of_itself_at_emfile_matches_an_outside_snapshot() -> None:
    limit = 1024
    proc = subprocess.Popen(
        [sys.executable, "-c", EMFILE, str(limit)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        inside = json.loads(line)
        outside = handles.snapshot(proc.pid, details=True)  # the child waits on stdin
    finally:
        proc.stdin.close()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    assert inside["limits"] == [limit, limit]
    assert inside["still_full"] is True
    assert len(inside["handles"]) == limit == outside.count
    assert inside["count"] == inside["count_tree"] == limit
    assert inside["kids"] == []
    theirs = [
        [h.fd, h.kind, h.inode, h.path, h.local, h.remote, h.state, h.pipe_end]
        for h in outside.handles
    ]
    assert inside["handles"] == theirs
    kinds = {row[1] for row in inside["handles"]}
    assert {"unix", "pipe", "tcp", "chr"} <= kinds


PREPARE_WITH_ONE_FREE = r"""
import os, resource, sys
from fdscope import handles
from fdscope.handles import _api
n = len(os.listdir("/proc/self/fd")) - 1
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 1, hard))
before = n
try:
    handles.prepare()
    ok = _api._reserve_fd is not None
except OSError:
    ok = False
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 8, hard))
print(ok, len(os.listdir("/proc/self/fd")) - 1 - before)
"""


def test_prepare_needs_one_free_descriptor_and_leaks_none() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PREPARE_WITH_ONE_FREE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    ok, added = out.stdout.split()
    assert ok == "True" and added == "1"  # the reserve, and nothing else
