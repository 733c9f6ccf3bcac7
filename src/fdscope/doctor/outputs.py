"""The doctor's outputs: ``summary.json`` and the chart, in the run directory."""

from __future__ import annotations

import json

from fdscope.doctor.diagnosis import Diagnosis
from fdscope.doctor.evidence import read_jsonl


def write_outputs(d: Diagnosis, *, title: str | None = None) -> None:
    """Write ``summary.json`` and ``fd_use.png`` into the run directory."""
    (d.out_dir / "summary.json").write_text(json.dumps(d.summary(), indent=2, default=str) + "\n")
    rows = read_jsonl(d.out_dir / "samples.jsonl")
    if rows:
        from fdscope.metrics.plot import run_chart

        run_chart(rows, d.limit, d.out_dir / "fd_use.png", title=title)
