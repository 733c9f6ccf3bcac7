"""``new_connections``: every TCP connection this process made during the invocation (item 7).

Counted on every invocation (not by the descriptor listing), including connections
closed before the invocation ended, per process; absent where it cannot be measured.
Servers are real, on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator

import pytest

from fdscope.monitor import _connections
from tests.monitor.conftest import Ctx, lines


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    srv = socket.create_server(("127.0.0.1", 0), backlog=512)
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.close()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield srv.getsockname()
    finally:
        stop.set()
        t.join(5)
        srv.close()


def test_counted_on_every_invocation_including_connections_closed_before_the_end(
    make_monitor, server
) -> None:
    mon, out, _ = make_monitor(scan="never")  # no descriptor listing at all

    def per_call(event: dict, context: Ctx) -> None:
        for _ in range(event["n"]):
            with socket.create_connection(server):  # opened and closed within the call
                pass

    for n in (1, 3, 0, 2):
        mon.call(per_call, {"n": n}, Ctx())
    recs = lines(out)
    assert [r["new_connections"] for r in recs] == [1, 3, 0, 2]
    assert not any("fd_opened" in r for r in recs)  # the listing never ran


def test_every_record_has_it_with_the_default_scan(make_monitor, server) -> None:
    mon, out, _ = make_monitor()  # auto: lists descriptors on some invocations only

    def one(event: dict, context: Ctx) -> None:
        socket.create_connection(server).close()

    for _ in range(20):
        mon.call(one, {}, Ctx())
    assert [r.get("new_connections") for r in lines(out)] == [1] * 20


def test_clients_that_connect_through_python_sockets(make_monitor, server) -> None:
    import asyncio
    import http.client
    import ssl  # noqa: F401  (SSLSocket calls the same methods)

    mon, out, _ = make_monitor(scan="never")

    def clients(event: dict, context: Ctx) -> None:
        c = http.client.HTTPConnection(*server, timeout=5)
        c.connect()
        c.close()
        s = socket.socket()
        assert s.connect_ex(server) == 0
        s.close()

        async def aio() -> None:
            _, w = await asyncio.open_connection(*server)
            w.close()

        asyncio.run(aio())
        refused = socket.socket()
        port = socket.create_server(("127.0.0.1", 0))
        addr = port.getsockname()
        port.close()
        assert refused.connect_ex(addr) != 0  # refused: no connection made
        refused.close()
        a, b = socket.socketpair()  # UNIX sockets: not a connection to a service
        a.close()
        b.close()

    mon.call(clients, {}, Ctx())
    assert lines(out)[0]["new_connections"] == 3


def test_another_process_connecting_at_the_same_time_changes_nothing(make_monitor, server) -> None:
    mon, out, _ = make_monitor(scan="always")
    code = textwrap.dedent(
        f"""
        import socket, sys
        sys.stdout.write("go\\n"); sys.stdout.flush()
        for _ in range(200):
            socket.create_connection({server!r}).close()
        """
    )

    def busy_neighbour(event: dict, context: Ctx) -> None:
        kid = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert kid.stdout is not None and kid.stdout.readline() == "go\n"
        socket.create_connection(server).close()
        assert kid.wait(60) == 0  # its 200 connections happened during this invocation

    mon.call(busy_neighbour, {}, Ctx())
    mon.call(busy_neighbour, {}, Ctx())
    assert [r["new_connections"] for r in lines(out)] == [1, 1]


def test_a_c_library_connection_still_open_is_added_on_listing_invocations(
    make_monitor, server
) -> None:
    import ctypes
    import struct

    libc = ctypes.CDLL(None, use_errno=True)
    kept: list[int] = []

    def c_connect(event: dict, context: Ctx) -> None:
        # what libpq or gRPC's core do: socket(2) and connect(2) from C, no Python socket
        fd = libc.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
        host, port = server
        addr = struct.pack("!HH4s8x", socket.AF_INET, port, socket.inet_aton(host))
        addr = struct.pack("=H", socket.AF_INET) + addr[2:]  # sa_family in host order
        assert libc.connect(fd, addr, len(addr)) == 0, ctypes.get_errno()
        kept.append(fd)

    try:
        listing, out, _ = make_monitor(scan="always")
        listing.call(c_connect, {}, Ctx())
        blind, out2, _ = make_monitor(scan="never")
        blind.call(c_connect, {}, Ctx())
        assert lines(out)[0]["new_connections"] == 1  # seen by the listing, not the counter
        assert lines(out2)[0]["new_connections"] == 0  # the documented blind spot
    finally:
        for fd in kept:
            os.close(fd)


def test_absent_when_it_cannot_be_measured(make_monitor, server, monkeypatch) -> None:
    monkeypatch.setattr(_connections, "install", lambda: False)
    mon, out, _ = make_monitor(scan="always")
    mon.call(lambda e, c: socket.create_connection(server).close(), {}, Ctx())
    rec = lines(out)[0]
    assert "new_connections" not in rec and "fd_opened" in rec  # no false 0


def test_socket_imported_during_an_invocation(server) -> None:
    """No socket module at the start: nothing Python could connect; imported during the
    invocation: that invocation's member is absent, the next ones are counted."""
    script = textwrap.dedent(
        f"""
        import io, json, sys
        from fdscope.monitor import Config, Monitor
        before = "socket" in sys.modules
        out = io.StringIO()
        mon = Monitor(Config(scan="never"), stream=out)
        mon.call(lambda e, c: None, {{}}, None)
        def connect(e, c):
            import socket
            socket.create_connection({server!r}).close()
        mon.call(connect, {{}}, None)
        mon.call(connect, {{}}, None)
        recs = [json.loads(x) for x in out.getvalue().splitlines()]
        print(json.dumps([before, [r.get("new_connections") for r in recs]]))
        """
    )
    res = subprocess.run(
        [sys.executable, "-I", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=True,
    )
    before, got = json.loads(res.stdout.strip().splitlines()[-1])
    assert before is False  # importing the monitor does not import socket
    assert got == [0, None, 1]


def test_uninstall_restores_the_methods() -> None:
    assert _connections.install()
    assert socket.socket.connect.__name__ == "connect"
    _connections.uninstall()
    assert not _connections.active()
    assert socket.socket.connect is socket.socket.__mro__[1].connect
    assert _connections.install() and _connections.active()
