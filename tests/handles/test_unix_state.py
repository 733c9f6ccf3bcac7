"""UNIX sockets: LISTEN state and peers as the kernel tells them (checked against lsof and
ss), and paths that differ only by a generated part grouped as one pattern."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fdscope import handles
from fdscope.handles._group import generalize

LSOF = shutil.which("lsof")
SS = shutil.which("ss")
NODE = shutil.which("node")


@pytest.fixture
def unix_set(tmp_path: Path) -> Iterator[dict[str, socket.socket]]:
    """A listening server, a client and the connection it accepted, and a socketpair."""
    path = str(tmp_path / f"server-{uuid.uuid4().hex[:10]}.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    accepted, _ = server.accept()
    left, right = socket.socketpair()
    socks = {
        "server": server,
        "client": client,
        "accepted": accepted,
        "left": left,
        "right": right,
    }
    yield socks
    for s in socks.values():
        s.close()


def _by_fd() -> dict[int, handles.Handle]:
    return {h.fd: h for h in handles.snapshot(os.getpid()).handles}


def test_listen_state_and_peers(unix_set: dict[str, socket.socket]) -> None:
    hs = _by_fd()
    server, client, accepted = (hs[unix_set[k].fileno()] for k in ("server", "client", "accepted"))
    left, right = hs[unix_set["left"].fileno()], hs[unix_set["right"].fileno()]
    path = unix_set["server"].getsockname()
    assert server.state == "LISTEN" and server.path == path and server.remote is None
    # the client is unnamed: its peer (the accepted socket) carries the server's path
    assert client.state == "CONNECTED" and client.remote == path
    assert client.peer_fd == accepted.fd and accepted.peer_fd == client.fd
    assert accepted.state == "CONNECTED" and accepted.path == path
    assert left.peer_fd == right.fd and right.peer_fd == left.fd
    assert left.state == right.state == "CONNECTED"
    assert "LISTEN" in server.describe()


@pytest.mark.skipif(LSOF is None, reason="lsof is not installed")
def test_states_agree_with_lsof(unix_set: dict[str, socket.socket]) -> None:
    out = subprocess.run(
        [LSOF or "lsof", "-nP", "-a", "-p", str(os.getpid()), "-U"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    lsof_state = {}
    for line in out.splitlines()[1:]:
        m = re.search(r"\s(\d+)u\s+unix\s.*\((LISTEN|CONNECTED|UNCONNECTED)\)", line)
        if m:
            lsof_state[int(m.group(1))] = m.group(2)
    hs = _by_fd()
    for s in unix_set.values():
        fd = s.fileno()
        if fd in lsof_state:  # lsof 4.95+ prints the state
            assert hs[fd].state == lsof_state[fd], (fd, hs[fd], lsof_state[fd])
    if not lsof_state:
        pytest.skip("this lsof prints no UNIX socket state")


@pytest.mark.skipif(SS is None, reason="ss is not installed")
def test_states_and_peers_agree_with_ss(unix_set: dict[str, socket.socket]) -> None:
    out = subprocess.run([SS or "ss", "-xanp"], capture_output=True, text=True, timeout=60).stdout
    mine = f"pid={os.getpid()},fd="
    rows = {}
    for line in out.splitlines():
        if mine not in line:
            continue
        parts = line.split()
        fd = int(re.search(r"pid=\d+,fd=(\d+)", line).group(1))  # type: ignore[union-attr]
        rows[fd] = (parts[1], int(parts[5]), int(parts[7]))  # state, inode, peer inode
    hs = _by_fd()
    by_inode = {h.inode: h for h in hs.values()}
    names = {"LISTEN": "LISTEN", "ESTAB": "CONNECTED", "UNCONN": "UNCONNECTED"}
    for s in unix_set.values():
        state, inode, peer = rows[s.fileno()]
        h = hs[s.fileno()]
        assert h.inode == inode
        assert h.state == names[state]
        if peer:
            assert h.peer_fd == by_inode[peer].fd


def test_generalize() -> None:
    assert generalize("/tmp/server-k3j9x2a1ok.sock") == "/tmp/server-*.sock"
    assert generalize("/tmp/server-12345.sock") == "/tmp/server-*.sock"
    assert generalize(f"/tmp/{uuid.uuid4()}.json") == "/tmp/*.json"
    assert generalize("/tmp/tmpk3j9x2a1/data") == "/tmp/tmpk3j9x2a1/data"  # only the last part
    assert generalize("/var/task/app.py") == "/var/task/app.py"
    assert generalize("/etc/ssl/certs/ca-certificates.crt") == "/etc/ssl/certs/ca-certificates.crt"


def test_watch_groups_generated_socket_paths(tmp_path: Path) -> None:
    socks = []
    try:
        for _ in range(4):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(str(tmp_path / f"server-{uuid.uuid4().hex[:11]}.sock"))
            s.listen()
            socks.append(s)
        hs = handles.snapshot(os.getpid()).handles
        exact = [g for g in handles.group(hs) if g.kind == "unix" and "server-" in g.endpoint]
        pattern = [
            g
            for g in handles.group(hs, patterns=True)
            if g.kind == "unix" and "server-" in g.endpoint
        ]
        assert len(exact) == 4
        assert [(g.endpoint, g.count) for g in pattern] == [(f"{tmp_path}/server-*.sock", 4)]
    finally:
        for s in socks:
            s.close()


@pytest.mark.skipif(NODE is None or SS is None, reason="node or ss is not installed")
def test_node_unix_server_listen_state_as_ss_shows(tmp_path: Path) -> None:
    path = tmp_path / f"server-{uuid.uuid4().hex[:10]}.sock"
    script = textwrap.dedent(f"""\
        const net = require('net');
        const server = net.createServer((s) => {{}});
        server.listen({str(path)!r}, () => {{
          net.connect({str(path)!r}, () => console.log('ready'));
        }});
        process.stdin.on('data', () => process.exit(0));
        """)
    proc = subprocess.Popen(
        [NODE or "node", "-e", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.05)
        snap = handles.snapshot(proc.pid)
        unix = [h for h in snap.handles if h.kind == "unix" and (h.path or h.remote) == str(path)]
        states = sorted(h.state or "" for h in unix)
        assert states == ["CONNECTED", "CONNECTED", "LISTEN"], unix
        out = subprocess.run(
            [SS or "ss", "-xanp"], capture_output=True, text=True, timeout=60
        ).stdout
        ss_states = sorted(
            line.split()[1]
            for line in out.splitlines()
            if f"pid={proc.pid}," in line and str(path) in line
        )
        assert ss_states == ["ESTAB", "LISTEN"]  # ss names the path on the server's two ends
    finally:
        proc.kill()
        proc.wait(10)
