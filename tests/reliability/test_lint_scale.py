"""Lint at scale (issue 15 item 5): time grows linearly with a file, a file over the documented
limit is reported as FDS002, and a FIFO is never read (it would block) nor '0 files'."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fdscope.lint import lint, lint_source
from fdscope.lint._project import MAX_FILE_BYTES


def _one_long_function(n: int) -> str:
    body = "".join(
        f"    f{i} = open('/tmp/x{i}')\n    if event.get('k{i}'):\n        f{i}.close()\n"
        for i in range(n)
    )
    return "def handler(event, context):\n" + body + "    return 0\n"


def _node_visits(source: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """How many syntax-tree nodes the checker walks over for ``source`` (``ast.walk`` and
    ``ast.iter_child_nodes``, its traversals): a count, not a time, so the load of the
    machine cannot change it."""
    count = 0
    walk, children = ast.walk, ast.iter_child_nodes

    def counting(inner):  # type: ignore[no-untyped-def]
        def wrapped(node: ast.AST) -> Iterator[ast.AST]:
            nonlocal count
            for n in inner(node):
                count += 1
                yield n

        return wrapped

    with monkeypatch.context() as m:
        m.setattr(ast, "walk", counting(walk))
        m.setattr(ast, "iter_child_nodes", counting(children))
        findings = lint_source(source, "big.py")
    assert findings  # the rule still fires in a long function
    return count


def test_one_long_function_is_linear_not_quadratic(monkeypatch: pytest.MonkeyPatch) -> None:
    # was: 20 KB 1.5 s, 40 KB 5.3 s, 250 KB over 120 s (a walk of the function per resource):
    # 2.6M, 10.1M and 40.2M node visits for 250, 500 and 1,000 statements; now 66K, 131K, 262K
    small = _node_visits(_one_long_function(500), monkeypatch)
    large = _node_visits(_one_long_function(2000), monkeypatch)  # 4x the size
    assert large < 6 * small, (small, large)  # ~4x: linear; quadratic would be ~16x


def test_a_file_over_the_limit_is_reported_not_run_out_of_memory(tmp_path: Path) -> None:
    big = tmp_path / "generated.py"
    line = "X = 1  # padding of a generated module\n"
    big.write_text(line * (MAX_FILE_BYTES // len(line) + 10))
    (tmp_path / "app.py").write_text("def handler(event, context):\n    f = open('/tmp/x')\n")
    res = lint([tmp_path])
    codes = {(Path(f.path).name, f.code) for f in res.findings}
    assert ("generated.py", "FDS002") in codes
    assert ("app.py", "FDS108") in codes or any(n == "app.py" for n, _ in codes)
    msg = next(f.message for f in res.findings if f.code == "FDS002")
    assert "too large to check" in msg and "MB > the 2 MB limit" in msg
    # lint_source too
    (f,) = lint_source(big.read_bytes(), "generated.py")
    assert f.code == "FDS002"


def test_a_fifo_given_by_name_is_a_usage_error(tmp_path: Path) -> None:
    # was: "0 findings in 0 files", exit 0
    fifo = tmp_path / "handler.py"
    os.mkfifo(fifo)
    p = subprocess.run(
        [sys.executable, "-m", "fdscope", "lint", str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2, p.stdout + p.stderr
    assert "not a regular file" in p.stderr and "0 files" not in p.stdout + p.stderr


def test_a_fifo_in_a_tree_is_reported_and_never_read(tmp_path: Path) -> None:
    # was: the read blocked forever
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "ok.py").write_text("x = 1\n")
    p = subprocess.run(
        [sys.executable, "-m", "fdscope", "lint", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 1, p.stdout + p.stderr
    assert "pipe.py:1:1: FDS002 file not checked: not a regular file" in p.stdout
