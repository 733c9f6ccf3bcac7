"""compare counts EMFILE only where an open failed, never a count near the limit."""

from __future__ import annotations

import json
from pathlib import Path

from fdscope.doctor.compare import figures


def _run(path: Path, counts: list[int], statuses: list[str], limit: int = 64) -> Path:
    path.mkdir()
    rows = [
        {
            "invocation": i + 1,
            "stream": "s",
            "status": status,
            "fd_count": count,
            "fd_limit": limit,
            "duration_ms": 5.0,
            "cold_start": i == 0,
        }
        for i, (count, status) in enumerate(zip(counts, statuses, strict=True))
    ]
    (path / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (path / "run.json").write_text(json.dumps({"handler": "app.handler", "fd_limit": limit}))
    return path


def test_a_count_at_the_limit_without_a_failed_open_is_not_emfile(tmp_path: Path) -> None:
    # 63 of 64 held for three invocations, every one of them succeeded
    run = _run(tmp_path / "near", [60, 61, 62, 63, 63, 63], ["ok"] * 6)
    assert figures(run).emfile == 0


def test_a_failed_open_is_emfile(tmp_path: Path) -> None:
    run = _run(tmp_path / "failed", [62, 63, 64, 64], ["ok", "ok", "emfile", "emfile"])
    assert figures(run).emfile == 2


def test_the_doctors_count_holds_an_emfile_whose_invocation_then_timed_out(
    tmp_path: Path,
) -> None:
    # Node: the open failed (the log says so), then the invocation ran into its timeout, so
    # its sample says "timeout"; the doctor counted it in summary.json, and compare keeps it
    run = _run(tmp_path / "node", [1020, 1023, 1024, 30], ["ok", "ok", "timeout", "ok"], 1024)
    (run / "summary.json").write_text(json.dumps({"verdict": "leak", "emfile": 1}))
    assert figures(run).emfile == 1
    (run / "summary.json").write_text(json.dumps({"verdict": "leak", "emfile": 0}))
    assert figures(run).emfile == 0  # near the limit, then a timeout: no EMFILE claimed
