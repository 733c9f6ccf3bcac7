"""The doctor's culprits say what keeps the leaked handles alive, and the fix says it too."""

from __future__ import annotations

import json
from pathlib import Path

from fdscope.doctor import diagnose, write_outputs

HANDLERS = Path(__file__).resolve().parents[1] / "helpers" / "handlers"


def test_the_culprit_is_kept_in_a_module_list_with_its_line(tmp_path: Path) -> None:
    d = diagnose(
        f"{HANDLERS / 'held_in_list.py'}:handler",
        out_dir=tmp_path / "run",
        n=20,
        fd_limit=256,
        timeout_s=10.0,
    )
    assert d.verdict == "leak"
    top = d.culprits[0]
    assert top.site == "held_in_list.py:10"
    assert top.held_by is not None
    assert (top.held_by["kind"], top.held_by["name"]) == ("module", "held_in_list._recent_tables")
    assert (top.held_by["file"], top.held_by["line"]) == ("held_in_list.py", 5)
    assert top.held_by["path"][-2:] == [".conn", "socket"]
    assert "Opened at held_in_list.py:10 (socket.socket), kept in `_recent_tables` " in d.advice
    assert "(held_in_list.py:5)" in d.advice
    write_outputs(d)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["culprits"][0]["held_by"]["name"] == "held_in_list._recent_tables"
    reports = [
        json.loads(line) for line in (tmp_path / "run" / "origins.jsonl").read_text().splitlines()
    ]
    walked = sorted(
        r.get("invocation") for r in reports if any("held_by" in g for g in r["groups"])
    )
    assert walked == [10, 20]  # the doubling schedule, not every report
