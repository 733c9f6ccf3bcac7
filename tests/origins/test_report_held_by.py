"""Reports say what keeps a leaked handle alive (``held_by`` on the top groups)."""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from fdscope import origins
from fdscope.origins import _report

ROOT = Path(__file__).resolve().parents[2]

APP = """\
import socket

_recent_tables = []


class Table:
    def __init__(self):
        self.meta = {"conn": socket.socket()}


class Resource:
    def __init__(self):
        self.session = {"pool": [Table() for _ in range(2)]}


def handler(event, context):
    _recent_tables.append(Resource())
    return len(_recent_tables)
"""


@pytest.fixture
def app(tmp_path: Path, tracking: None) -> Iterator[ModuleType]:
    path = tmp_path / "heldapp.py"
    path.write_text(APP)
    spec = importlib.util.spec_from_file_location("heldapp", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["heldapp"] = mod
    spec.loader.exec_module(mod)
    old = os.environ.get("LAMBDA_TASK_ROOT")
    os.environ["LAMBDA_TASK_ROOT"] = str(tmp_path)
    try:
        yield mod
    finally:
        if old is None:
            os.environ.pop("LAMBDA_TASK_ROOT", None)
        else:
            os.environ["LAMBDA_TASK_ROOT"] = old
        for res in mod._recent_tables:
            for t in res.session["pool"]:
                t.meta["conn"].close()
        del sys.modules["heldapp"]
        gc.collect()


def test_the_top_group_names_the_module_list_that_keeps_it(
    app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what is found, with room to find it on a test worker's large heap (the bound has its
    # own test below)
    monkeypatch.setattr(_report, "RETENTION_BUDGET_S", 30.0)
    for _ in range(5):
        app.handler({}, None)
    plain = _report.build()
    assert all(g.held_by is None for g in plain.groups)
    assert all("held_by" not in g for g in plain.json()["groups"])
    rep = origins.report(retention=True)
    top = next(g for g in rep.groups if g.site.file.endswith("heldapp.py"))
    assert top.count == 10
    held = top.held_by
    assert held is not None
    assert (held["kind"], held["name"], held["file"], held["line"]) == (
        "module",
        "heldapp._recent_tables",
        "heldapp.py",
        3,
    )
    assert held["path"][0] == "heldapp._recent_tables" and held["path"][-1] == "socket"
    assert ".session" in held["path"] and ".conn" in held["path"]
    doc = json.loads(json.dumps(rep.json()))
    jtop = next(g for g in doc["groups"] if g["site"]["file"].endswith("heldapp.py"))
    assert jtop["held_by"] == held
    assert "kept alive by heldapp._recent_tables (heldapp.py:3): _recent_tables[" in rep.text()


def test_the_walk_stays_within_its_budget_on_many_groups(
    app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the walk stops when its budget is spent (how long a budget takes on a real heap is
    # bench/origins.py --retention's figure, not a timed test's): with none left, no walk
    # is made; with a budget, at most the top groups are walked
    for _ in range(50):
        app.handler({}, None)
    monkeypatch.setattr(_report, "RETENTION_BUDGET_S", 0.0)
    rep = origins.report(retention=True)
    assert all(g.held_by is None for g in rep.groups)
    monkeypatch.setattr(_report, "RETENTION_BUDGET_S", 30.0)
    rep = origins.report(retention=True)
    assert 1 <= sum(1 for g in rep.groups if g.held_by is not None) <= _report.RETENTION_GROUPS


def test_a_reference_cycle_agrees_with_gc_bound(
    tracking: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_report, "RETENTION_BUDGET_S", 30.0)

    class Node:
        def __init__(self) -> None:
            self.me = self
            self.sock = socket.socket()

    gc.disable()
    try:
        sock = Node().sock
        fd = sock.fileno()
        del sock
        rep = origins.report(retention=True)
        group = next(g for g in rep.groups if any(h.fd == fd for h in g.handles))
        assert group.held_by is not None and group.held_by["kind"] == "cycle"
        assert "reference cycle" in rep.text()
    finally:
        gc.enable()
        gc.collect()


def test_an_invocations_report_walks_on_a_doubling_schedule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FDSCOPE_REPORT_RETENTION", raising=False)
    monkeypatch.setattr(origins, "_near_limit_walked", True)
    due = [n for n in range(1, 700) if origins._retention_due(n)]
    assert due == [10, 20, 40, 80, 160, 320, 640]
    assert origins._retention_due(None)  # on demand, at exit, at EMFILE
    monkeypatch.setenv("FDSCOPE_REPORT_RETENTION", "0")
    assert not origins._retention_due(None) and not origins._retention_due(10)
    monkeypatch.setenv("FDSCOPE_REPORT_RETENTION", "1")
    assert origins._retention_due(3)


def test_track_exit_report_carries_held_by(tmp_path: Path) -> None:
    (tmp_path / "prog.py").write_text(
        "import socket\n_kept = []\nfor _ in range(4):\n    _kept.append(socket.socket())\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "fdscope", "track", "--json", "--", sys.executable, "prog.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    top = next(g for g in doc["groups"] if g["site"]["file"].endswith("prog.py"))
    assert top["held_by"]["name"] == "__main__._kept"
    assert top["held_by"]["line"] == 2
