"""Fast answers: a leak too slow to reproduce within the time budget is projected early;
--reproduce runs to the limit; progress lines when stderr is not a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fdscope.doctor import diagnose

ROOT = Path(__file__).resolve().parents[2]
SLOW_LEAK = (
    "import os, time\n"
    "def handler(event, context):\n"
    "    time.sleep(0.03)\n"
    "    os.open('/dev/null', os.O_RDONLY)\n"
    "    return 1\n"
)


def _app(tmp_path: Path) -> str:
    app = tmp_path / "code" / "app.py"
    app.parent.mkdir()
    app.write_text(SLOW_LEAK)
    return f"{app}:handler"


def test_a_leak_beyond_the_budget_is_projected_and_reproduce_runs_to_it(tmp_path: Path) -> None:
    handler = _app(tmp_path)
    quick = diagnose(handler, out_dir=tmp_path / "a", fd_limit=128, budget_s=1.0, gc_check=False)
    assert quick.verdict == "leak" and quick.projected and quick.emfile == 0
    assert quick.invocations < 100 and quick.invocations_to_limit
    assert any("time budget of 1 s" in n for n in quick.notes)
    assert quick.timing["budget_s"] == 1.0 and quick.timing["timeout_wait_s"] == 0
    full = diagnose(
        handler, out_dir=tmp_path / "b", fd_limit=128, budget_s=1.0, reproduce=True, gc_check=False
    )
    assert full.verdict == "leak" and full.emfile >= 1 and not full.projected


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    env = dict(os.environ, FDSCOPE_PROGRESS_EVERY="0.5")
    out = subprocess.run(
        [sys.executable, "-m", "fdscope", "doctor", _app(tmp_path), "--fd-limit", "128"]
        + ["--budget", "1", "--no-gc-check", "--out", str(tmp_path / "run")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 1, out.stderr
    lines = [x for x in out.stderr.splitlines() if x.startswith("fdscope doctor: run: invocation")]
    assert len(lines) >= 2, out.stderr
    assert "descriptors" in lines[-1] and " MB, ok (" in lines[-1]
