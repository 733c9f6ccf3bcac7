"""The soak's bounded form (bench/soak.py): three doctor runs at once and 1,000
invocations of a clean handler, fdscope's own descriptors and memory flat."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


@pytest.mark.slow
def test_soak_bounded(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("fdscope_bench_soak", BENCH)
    assert spec is not None and spec.loader is not None
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    result = soak.soak(1000, 3, 100, tmp_path)
    assert result["statuses"] == {"ok": 1000}
    assert result["fd_growth"] == 0, result
    assert result["rss_slope_bytes_per_invocation"] < 1024, result
    assert [d["exit"] for d in result["doctors"]] == [0, 0, 0], result["doctors"]
    assert [d["verdict"] for d in result["doctors"]] == ["none"] * 3, result["doctors"]
    assert result["sandbox"]["pid_namespace"] is True
