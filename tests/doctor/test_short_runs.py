"""Short runs still report what they saw: a pile-up is never "Nothing to fix"."""

from __future__ import annotations

from pathlib import Path

from fdscope.doctor import diagnose

HANDLERS = Path(__file__).resolve().parents[1] / "helpers" / "handlers"


def test_four_invocations_starting_children_are_a_leak_with_low_confidence(
    tmp_path: Path,
) -> None:
    d = diagnose(
        f"{HANDLERS / 'children_per_call.py'}:handler",
        out_dir=tmp_path / "run",
        n=4,
        fd_limit=256,
        timeout_s=10.0,
        event={"children": 10},
    )
    assert d.verdict == "leak", d.notes
    assert "Nothing to fix" not in d.advice
    assert d.processes_only and d.emfile == 0
    assert 0 < d.confidence <= 0.6
    assert any(n.startswith("Short run (4 invocations)") for n in d.notes)
    assert "End the child processes" in d.advice


def test_a_short_flat_run_is_still_none(tmp_path: Path) -> None:
    d = diagnose(
        f"{HANDLERS / 'basic.py'}:ok",
        out_dir=tmp_path / "run",
        n=4,
        fd_limit=256,
        timeout_s=10.0,
        event={"n": 1},
    )
    assert d.verdict == "none" and not any("Short run" in n for n in d.notes)
