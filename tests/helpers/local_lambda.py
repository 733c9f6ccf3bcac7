"""Helpers for the local Lambda's tests: handler paths and leftover checks."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from fdscope.local import _procs

HANDLERS = Path(__file__).resolve().parent / "handlers"
BASIC = HANDLERS / "basic.py"


def handler(name: str) -> str:
    """``tests/helpers/handlers/basic.py:<name>`` as an absolute handler string."""
    return f"{BASIC}:{name}"


def listening_ports() -> set[int]:
    """Every TCP port in LISTEN state on this machine (IPv4 and IPv6)."""
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def assert_nothing_left(fn: Any) -> None:
    """No process of any environment alive, no Runtime API port listening, no private /tmp."""
    assert fn.history, "no environment was started"
    ports = listening_ports()
    for rec in fn.history:
        alive = [p for p in _procs.with_token(rec.token) if _procs._alive(p)]
        assert alive == [], f"processes left behind by environment {rec.number}: {alive}"
        assert rec.port not in ports, f"Runtime API port {rec.port} still listening"
        assert not Path(rec.tmp).exists()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def messages(out_dir: Path) -> list[str]:
    return [e["message"] for e in read_jsonl(out_dir / "events.jsonl")]


def example_runtime_ready(root: Path, entry: dict[str, Any]) -> None:
    """A corpus entry with ``runtime: nodejs`` needs node and the example's packages
    (``npm ci``, run by make test); without them it skips, and with CI=true it fails."""
    runtime = entry.get("runtime", "python")
    if runtime == "python":
        return
    assert runtime == "nodejs", f"unknown runtime {runtime!r} in corpus.json"
    folder = root / entry["dir"]
    deps = json.loads((folder / "package.json").read_text()).get("dependencies")
    why = None
    if shutil.which("node") is None:
        why = "node is not installed"
    elif deps and not (folder / "node_modules").is_dir():
        why = f"{entry['dir']}/node_modules is missing (npm ci)"
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI=true: {why}")
        pytest.skip(why)
