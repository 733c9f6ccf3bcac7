"""Memory as a limit: a memory leak gets a memory verdict with the limit that comes first,
in summary.json, compare and the chart; its fix compares as fixed."""

from __future__ import annotations

import json
from pathlib import Path

from fdscope.doctor import diagnose, write_outputs
from fdscope.doctor.compare import compare

ROOT = Path(__file__).resolve().parents[2]


def test_a_memory_leak_meets_the_memory_size_first(tmp_path: Path) -> None:
    runs = {}
    for name in ("memory_leak", "memory_leak_fixed"):
        d = diagnose("app.handler", code_root=ROOT / "examples" / name, out_dir=tmp_path / name)
        write_outputs(d)
        runs[name] = d
    leak, fixed = runs["memory_leak"], runs["memory_leak_fixed"]
    assert leak.verdict == "leak" and leak.exit_code == 1 and leak.first_limit == "memory"
    summary = json.loads((tmp_path / "memory_leak" / "summary.json").read_text())
    memory = summary["memory"]
    assert memory["memory_mb"] == 128 and memory["enforced"] in ("cgroup", "poll")
    assert 0.9 * 2**20 <= memory["rate_bytes_per_invocation"] <= 1.1 * 2**20
    assert memory["out_of_memory"] >= 1 and 60 <= memory["out_of_memory_at"] <= 130
    assert summary["first_limit"] == "memory" and summary["emfile"] == 0
    assert any("Out of memory reproduced" in n for n in leak.notes)
    assert "Runtime.OutOfMemory" in leak.advice
    assert fixed.verdict == "none" and not fixed.memory["leaking"]
    c = compare(tmp_path / "memory_leak", tmp_path / "memory_leak_fixed")
    assert c.outcome == "fixed", c.reasons
    assert c.before.out_of_memory >= 1 and c.after.out_of_memory == 0
    assert c.before.memory_rate_mb > 0.9 and c.after.memory_rate_mb < 0.0625
    assert (tmp_path / "memory_leak" / "fd_use.png").stat().st_size > 1000
