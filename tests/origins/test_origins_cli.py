"""``fdscope track -- python app.py``: tracking from the first line of another program."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from origins_helpers import line_of

APP = """\
import os, sys
r, w = os.pipe()  # pipe_here
print("args", sys.argv[1:])
sys.exit(3)
"""


def _app(tmp_path: Path) -> Path:
    path = tmp_path / "app.py"
    path.write_text(APP)
    return path


def test_track_text_report_at_exit_and_exit_code(tmp_path: Path) -> None:
    app = _app(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "fdscope", "track", "--", sys.executable, str(app), "--flag", "x"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 3  # the program's own exit code
    assert "args ['--flag', 'x']" in out.stdout
    assert f"app.py:{line_of(app, 'pipe_here')} in <module> via os.pipe" in out.stderr


def test_track_json_and_out(tmp_path: Path) -> None:
    app = _app(tmp_path)
    dest = tmp_path / "reports.jsonl"
    out = subprocess.run(
        [sys.executable, "-m", "fdscope", "track", "--json", "--out", str(dest), "--sample", "2",
         "--", sys.executable, str(app)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 3
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["schema"] == "fdscope.origins/1" and doc["trigger"] == "exit"
    (pipe,) = [g for g in doc["groups"] if g["kind"] == "pipe"]
    assert pipe["site"]["line"] == line_of(app, "pipe_here") and pipe["count"] == 2
    assert "report at exit" not in out.stderr  # --json: no text report
    assert [json.loads(line) for line in dest.read_text().splitlines()] == [doc]


def test_track_unknown_program_is_one_red_line(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "fdscope", "track", "--", str(tmp_path / "no-such-program")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.startswith("error: cannot run")
