"""One handle of every kind, each made at a known line: the report names that file and line."""

from __future__ import annotations

import asyncio
import io
import mmap
import os
import select
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from origins_helpers import groups_at, line_of

from fdscope import origins

HERE = __file__


def _close(obj: Any) -> None:
    if isinstance(obj, int):
        try:
            os.close(obj)
        except OSError:
            pass
    elif isinstance(obj, subprocess.Popen):
        obj.kill()
        obj.stdout.close()
        obj.wait()
    elif isinstance(obj, threading.Event):
        obj.set()
    elif isinstance(obj, asyncio.AbstractEventLoop) or hasattr(obj, "close"):
        obj.close()


# Each maker creates one handle at the line marked with its name, and returns what to close.
def make_open(tmp: Path) -> list[Any]:
    return [open(tmp / "a.txt", "w")]  # open


def make_io_open(tmp: Path) -> list[Any]:
    return [io.open(tmp / "b.txt", "w")]  # io_open  # noqa: UP020


def make_os_open(tmp: Path) -> list[Any]:
    return [os.open(tmp / "c.txt", os.O_CREAT | os.O_WRONLY)]  # os_open


def make_socket(tmp: Path) -> list[Any]:
    return [socket.socket(socket.AF_INET, socket.SOCK_STREAM)]  # socket


def make_socketpair(tmp: Path) -> list[Any]:
    return list(socket.socketpair())  # socketpair


def make_accept(tmp: Path) -> list[Any]:
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    conn, _ = server.accept()  # accept
    return [conn, client, server]


def make_create_connection(tmp: Path) -> list[Any]:
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())  # create_connection
    return [client, server]


def make_fromfd(tmp: Path) -> list[Any]:
    a = socket.socket()
    b = socket.fromfd(a.fileno(), socket.AF_INET, socket.SOCK_STREAM)  # fromfd
    return [b, a]


def make_sock_dup(tmp: Path) -> list[Any]:
    a = socket.socket()
    b = a.dup()  # sock_dup
    return [b, a]


def make_pipe(tmp: Path) -> list[Any]:
    return list(os.pipe())  # pipe


def make_pipe2(tmp: Path) -> list[Any]:
    return list(os.pipe2(os.O_CLOEXEC))  # pipe2


def make_popen(tmp: Path) -> list[Any]:
    # The child must outlive the report (a child that exits is no longer an open handle), so it
    # sleeps, for a bounded time, until _close kills it.
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], stdout=subprocess.PIPE)  # popen  # fmt: skip
    return [proc]


def make_dup(tmp: Path) -> list[Any]:
    f = open(tmp / "d.txt", "w")  # noqa: SIM115
    return [os.dup(f.fileno()), f]  # dup


def make_dup2(tmp: Path) -> list[Any]:
    f = open(tmp / "e.txt", "w")  # noqa: SIM115
    target = os.open(os.devnull, os.O_RDONLY)
    return [os.dup2(f.fileno(), target), f]  # dup2


def make_epoll(tmp: Path) -> list[Any]:
    return [select.epoll()]  # epoll


def make_eventfd(tmp: Path) -> list[Any]:
    return [os.eventfd(0)]  # eventfd


def make_memfd(tmp: Path) -> list[Any]:
    return [os.memfd_create("fdscope-test")]  # memfd


def make_mmap(tmp: Path) -> list[Any]:
    path = tmp / "m.bin"
    path.write_bytes(b"x" * 4096)
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, 4096)  # mmap
    os.close(fd)
    return [m]


def make_mkstemp(tmp: Path) -> list[Any]:
    fd, _name = tempfile.mkstemp(dir=tmp)  # mkstemp
    return [fd]


def make_temporaryfile(tmp: Path) -> list[Any]:
    return [tempfile.TemporaryFile(dir=tmp)]  # temporaryfile


def make_namedtemporaryfile(tmp: Path) -> list[Any]:
    return [tempfile.NamedTemporaryFile(dir=tmp)]  # namedtemporaryfile


def make_sqlite(tmp: Path) -> list[Any]:
    return [sqlite3.connect(tmp / "db.sqlite")]  # sqlite


def make_event_loop(tmp: Path) -> list[Any]:
    return [asyncio.new_event_loop()]  # event_loop


def make_thread(tmp: Path) -> list[Any]:
    done = threading.Event()
    thread = threading.Thread(target=done.wait, name="fdscope-test-thread", daemon=True)
    thread.start()  # thread
    return [done]


# name -> (maker, the kinds its group may have, the call the site names)
CASES: dict[str, tuple[Callable[[Path], list[Any]], set[str], str | None]] = {
    "open": (make_open, {"file"}, "open"),
    "io_open": (make_io_open, {"file"}, "open"),
    "os_open": (make_os_open, {"file"}, "os.open"),
    "socket": (make_socket, {"tcp", "socket"}, "socket.socket"),
    "socketpair": (make_socketpair, {"unix"}, "socket.socketpair"),
    "accept": (make_accept, {"tcp"}, "socket.socket.accept"),
    "create_connection": (make_create_connection, {"tcp"}, "socket.create_connection"),
    "fromfd": (make_fromfd, {"tcp", "socket"}, "socket.fromfd"),
    "sock_dup": (make_sock_dup, {"tcp", "socket"}, "socket.socket.dup"),
    "pipe": (make_pipe, {"pipe"}, "os.pipe"),
    "pipe2": (make_pipe2, {"pipe"}, "os.pipe2"),
    "popen": (make_popen, {"pipe", "process"}, "subprocess.Popen"),
    "dup": (make_dup, {"file"}, "os.dup"),
    "dup2": (make_dup2, {"file"}, "os.dup2"),
    "epoll": (make_epoll, {"eventpoll"}, "select.epoll"),
    "eventfd": (make_eventfd, {"eventfd"}, "os.eventfd"),
    "memfd": (make_memfd, {"memfd", "file"}, "os.memfd_create"),
    "mmap": (make_mmap, {"file"}, "mmap.mmap"),
    "mkstemp": (make_mkstemp, {"file"}, "tempfile.mkstemp"),
    "temporaryfile": (make_temporaryfile, {"file"}, "tempfile.TemporaryFile"),
    "namedtemporaryfile": (make_namedtemporaryfile, {"file"}, "tempfile.NamedTemporaryFile"),
    "sqlite": (make_sqlite, {"file"}, "sqlite3.connect"),
    "event_loop": (make_event_loop, {"eventpoll", "unix"}, "asyncio.new_event_loop"),
    "thread": (make_thread, {"thread"}, "threading.Thread.start"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_report_names_the_line_of_each_kind(tracking: None, tmp_path: Path, name: str) -> None:
    maker, kinds, call = CASES[name]
    line = line_of(HERE, name)
    keep = maker(tmp_path)
    try:
        rep = origins.report()
        here = groups_at(rep, HERE, line)
        assert here, f"nothing at line {line}:\n{rep.text()}"
        assert {g.kind for g in here} <= kinds | {"unknown"}, rep.text()
        assert {g.kind for g in here} & kinds, rep.text()
        assert all(not g.site.approximate for g in here), rep.text()
        assert call in {g.site.call for g in here}, [g.site for g in here]
        assert f"{Path(HERE).name}:{line}" in rep.text()
        doc = rep.json()
        assert any(g["site"]["file"] == HERE and g["site"]["line"] == line for g in doc["groups"])
    finally:
        for obj in keep:
            _close(obj)


def test_popen_names_its_pipe_and_the_child(tracking: None, tmp_path: Path) -> None:
    line = line_of(HERE, "popen")
    (proc,) = make_popen(tmp_path)
    try:
        here = groups_at(origins.report(), HERE, line)
        kinds = {g.kind: g for g in here}
        assert set(kinds) == {"pipe", "process"}
        assert str(proc.pid) in kinds["process"].handles[0].detail
        assert kinds["pipe"].handles[0].fd == proc.stdout.fileno()
    finally:
        _close(proc)


def test_a_closed_handle_leaves_the_report(tracking: None, tmp_path: Path) -> None:
    line = line_of(HERE, "open")
    (f,) = make_open(tmp_path)
    assert groups_at(origins.report(), HERE, line)
    f.close()
    assert not groups_at(origins.report(), HERE, line)
