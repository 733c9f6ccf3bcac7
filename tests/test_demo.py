"""`make demo` tells the seed story: the seed leaks, the fix does not, compare says fixed -
in Node.js first when node 18+ is there (the story's own runtime), then in Python."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CI = bool(os.environ.get("CI"))


def _demo_module() -> Any:
    spec = importlib.util.spec_from_file_location("fdscope_demo", ROOT / "examples" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_prints_the_verdict_lines(tmp_path: Path) -> None:
    env = dict(os.environ, COLUMNS="120")
    out = subprocess.run(
        [sys.executable, "examples/demo.py", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=480,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert "verdict: leak  examples/seed_mangum/app.py:handler" in text
    assert "verdict: none  examples/seed_mangum_fixed/app.py:handler" in text
    assert "the fix: fixed" in text
    assert "EMFILE reproduced" in text and "restarted (cold start)" in text
    # the seed reproduces EMFILE at the default limit near the invocation its README states
    corpus = json.loads((ROOT / "examples" / "corpus.json").read_text())["examples"]
    seed = next(e for e in corpus if e["name"] == "seed_mangum")
    summary = json.loads((tmp_path / "seed" / "summary.json").read_text())
    assert summary["limit"] == 1024 and summary["verdict"] == "leak"
    assert abs(summary["emfile_at"] - seed["emfile_at"]) <= 40
    assert summary["timeouts"] >= 1 and summary["cold_starts"] >= 2
    sites = {c["site"] for c in summary["culprits"]}
    assert sites & {f"app.py:{n}" for n in seed["leak_lines"]}
    assert (tmp_path / "seed" / "fd_use.png").stat().st_size > 1000
    # the story in its own runtime first, when node 18+ and the examples' packages are there
    why = _demo_module().node_missing()
    if why is not None:
        assert not CI, f"CI=true: {why}"
        assert f"Node.js story skipped: {why}; the Python story follows." in text
        return
    assert text.index("examples/seed_node/app.js") < text.index("examples/seed_mangum/app.py")
    assert "verdict: leak  examples/seed_node/app.js:handler" in text
    assert "verdict: none  examples/seed_node_fixed/app.js:handler" in text
    assert text.count("the fix: fixed") == 2
    node_seed = next(e for e in corpus if e["name"] == "seed_node")
    node = json.loads((tmp_path / "node_seed" / "summary.json").read_text())
    assert node["verdict"] == "leak" and node["emfile"] >= 1
    assert abs(node["emfile_at"] - node_seed["emfile_at"]) <= 15
    assert node["timeouts"] >= 1 and node["cold_starts"] >= 2
    assert node["culprits"][0]["site"] == f"app.js:{node_seed['leak_line']}"
    assert f"created at app.js:{node_seed['leak_line']} in exports.handler" in " ".join(
        text.split()
    )


def test_without_node_the_demo_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no node here
    assert _demo_module().node_missing() == "node is not on PATH"
    old = tmp_path / "node"
    old.write_text("#!/bin/sh\necho v16.20.2\n")
    old.chmod(0o755)
    assert "the story needs Node 18+" in (_demo_module().node_missing() or "")
