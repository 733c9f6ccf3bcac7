"""What keeps a handle alive: the referrer path up to a root that outlives a call."""

from __future__ import annotations

import gc
import importlib.util
import logging
import socket
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest

from fdscope.origins import retention as _retention_walk

# What is found does not depend on time; how long it may take does (one referrer step scans
# the whole heap, and a test worker's heap is large). These tests check what is found, with
# room to find it; test_the_time_budget_bounds_the_walk checks the bound.
ROOMY = 30.0


def retention(obj, **bounds):  # type: ignore[no-untyped-def]
    bounds.setdefault("budget", ROOMY)
    return _retention_walk(obj, **bounds)


APP = """\
import logging, socket

_recent_tables = []
_client = None


class Table:
    def __init__(self):
        self.meta = {"conn": socket.socket()}


class Cache:
    items = {}


def keep_in_list():
    _recent_tables.append(Table())
    return _recent_tables[-1].meta["conn"]


def keep_in_class():
    s = socket.socket()
    Cache.items["k"] = [s]
    return s


def keep_as_singleton():
    global _client
    _client = socket.socket()
    return _client


class Node:
    def __init__(self):
        self.me = self
        self.sock = socket.socket()


def keep_in_cycle():
    return Node().sock
"""


@pytest.fixture
def app(tmp_path: Path):
    path = tmp_path / "leakyapp.py"
    path.write_text(APP)
    spec = importlib.util.spec_from_file_location("leakyapp", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["leakyapp"] = mod
    spec.loader.exec_module(mod)
    yield mod
    for value in list(vars(mod).values()):
        if isinstance(value, socket.socket):
            value.close()
    for table in mod._recent_tables:
        table.meta["conn"].close()
    for sockets in mod.Cache.items.values():
        for s in sockets:
            s.close()
    del sys.modules["leakyapp"]
    gc.collect()


def test_a_module_level_list_names_the_list_and_its_line(app: ModuleType, tmp_path: Path) -> None:
    sock = app.keep_in_list()
    found = retention(sock, code_root=str(tmp_path))
    assert found is not None and found.kind == "module"
    assert found.name == "leakyapp._recent_tables"
    assert (found.file, found.line) == ("leakyapp.py", 3)
    assert found.steps == ("leakyapp._recent_tables", "[0]", ".meta", ".conn", "socket")
    assert found.where() == "`leakyapp._recent_tables` (leakyapp.py:3)"
    assert found.to_json()["path"][-1] == "socket"


def test_a_class_attribute(app: ModuleType) -> None:
    found = retention(app.keep_in_class())
    assert found is not None and (found.kind, found.name) == ("class", "Cache.items")
    assert found.steps[-2:] == ("[0]", "socket")


def test_a_module_level_name_bound_to_the_object(app: ModuleType) -> None:
    found = retention(app.keep_as_singleton())
    assert found is not None and (found.kind, found.name) == ("module", "leakyapp._client")
    assert found.path_objects[0] is app._client


def test_a_reference_cycle_is_named_as_such(app: ModuleType) -> None:
    gc.disable()
    try:
        sock = app.keep_in_cycle()
        found = retention(sock)
        assert found is not None and found.kind == "cycle"
        assert "garbage collector" in found.where()
    finally:
        gc.enable()
        sock.close()


def test_a_loggers_handler_list(tmp_path: Path) -> None:
    logger = logging.getLogger("fdscope-test-retention")
    handler = logging.FileHandler(tmp_path / "task.log")
    logger.addHandler(handler)
    try:
        found = retention(handler.stream)
        assert found is not None and (found.kind, found.name) == (
            "logger",
            "fdscope-test-retention",
        )
        assert found.where() == "the handlers of logger 'fdscope-test-retention'"
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_a_thread_that_holds_it() -> None:
    done = threading.Event()
    sock = socket.socket()
    worker = threading.Thread(target=done.wait, name="poller", daemon=True)
    worker.sock = sock  # type: ignore[attr-defined]
    worker.start()
    try:
        found = retention(sock)
        assert found is not None and (found.kind, found.name) == ("thread", "poller")
        assert found.steps == ("poller", ".sock", "socket")
    finally:
        done.set()
        worker.join()
        sock.close()


def test_a_local_of_a_frame_still_running_in_another_thread() -> None:
    ready, done = threading.Event(), threading.Event()
    box: list[socket.socket] = []

    def serve() -> None:
        conn = socket.socket()  # held by this running frame only
        box.append(conn)
        ready.set()
        done.wait()
        conn.close()

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    ready.wait()
    sock = box.pop()
    try:
        found = retention(sock)
        assert found is not None and found.kind == "frame"
        assert found.name.startswith("serve() at ")
    finally:
        done.set()
        worker.join()


def test_the_callers_own_references_are_not_roots(app: ModuleType) -> None:
    sock = app.keep_in_list()
    mine = [sock]
    found = retention(sock, ignore=(mine,))
    assert found is not None and found.name == "leakyapp._recent_tables"


def test_depth_bounds_the_walk(app: ModuleType) -> None:
    sock = app.keep_in_list()  # five steps below the module's dict
    assert retention(sock, depth=2) is None
    assert retention(sock, depth=6) is not None


def test_the_time_budget_bounds_the_walk(app: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    # each level is one heap scan (gc.get_referrers); a spent budget stops before the next
    from fdscope.origins import _retention as module

    scans = 0
    real = gc.get_referrers

    def counting(*objs: object) -> list[object]:
        nonlocal scans
        scans += 1
        return real(*objs)

    monkeypatch.setattr(module.gc, "get_referrers", counting)
    sock = app.keep_in_list()
    assert retention(sock, budget=0.0) is None
    assert scans == 0
    assert retention(sock, budget=ROOMY) is not None
    assert 1 <= scans <= module.DEPTH


def test_a_librarys_own_registry_is_passed_over_for_the_users_name(app: ModuleType) -> None:
    import weakref

    sock = app.keep_as_singleton()
    holder = app._client
    weakref.finalize(holder, lambda *a: None, sock)  # the finalizer keeps sock in its args
    found = retention(sock)
    assert found is not None and found.name == "leakyapp._client"


def test_a_librarys_own_state_is_named_as_the_librarys() -> None:
    import subprocess

    proc = subprocess.Popen(["sleep", "30"], stdout=subprocess.PIPE)
    pid, out = proc.pid, proc.stdout
    del proc  # never waited for: Popen.__del__ keeps it in subprocess._active
    try:
        found = retention(out)
        assert found is not None and found.name == "subprocess._active"
        assert found.to_json()["owner"] == "library"
    finally:
        import os
        import signal

        os.kill(pid, signal.SIGKILL)
        if out is not None:
            out.close()
        subprocess._cleanup()  # type: ignore[attr-defined]


def test_the_users_module_is_named_as_the_users(app: ModuleType) -> None:
    found = retention(app.keep_in_list())
    assert found is not None and found.to_json()["owner"] == "user"
