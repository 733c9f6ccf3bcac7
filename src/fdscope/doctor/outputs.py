"""The doctor's outputs: ``summary.json``, the chart and ``report.html``, in the run directory.

All are written whole or not at all (a temporary file, then a rename), under
the directory's lock, and only into the run they describe: ``summary.json``
carries ``run.json``'s run id, and a directory that now holds another run is
refused.
"""

from __future__ import annotations

import json
from typing import Any

from fdscope.doctor.diagnosis import Diagnosis
from fdscope.doctor.evidence import read_jsonl
from fdscope.local import RunDirError, RunLock, read_run, write_atomic


def write_outputs(d: Diagnosis, *, title: str | None = None, lock: Any = None) -> None:
    """Write ``summary.json``, ``fd_use.png`` and ``report.html`` into the run directory.

    ``lock`` is the directory's :class:`~fdscope.local._records.RunLock` when the
    caller holds it (the CLI holds it from the run's start); else it is taken here.
    Raises RunDirError when another process writes the directory or it holds
    another run than ``d`` (another run id in ``run.json``).
    """
    own = lock is None
    held = RunLock(d.out_dir, "fdscope doctor outputs").acquire() if own else lock
    try:
        _check_same_run(d)
        write_atomic(
            d.out_dir / "summary.json", json.dumps(d.summary(), indent=2, default=str) + "\n"
        )
        rows = [r for r in read_jsonl(d.out_dir / "samples.jsonl") if _ours(r, d.run_id)]
        if rows:
            from fdscope.metrics.plot import run_chart

            run_chart(
                rows,
                d.limit,
                d.out_dir / "fd_use.png",
                title=title,
                memory_mb=(getattr(d, "memory", None) or {}).get("memory_mb"),
            )  # atomic
        from fdscope.doctor.report_html import render_run

        # the page to share: self-contained (data and script inline), atomic too
        write_atomic(d.out_dir / "report.html", render_run(d.out_dir, d.summary()))
    finally:
        if own:
            held.release()


def _ours(row: dict[str, Any], run_id: str | None) -> bool:
    return run_id is None or row.get("run_id") == run_id


def _check_same_run(d: Diagnosis) -> None:
    if d.run_id is None:
        return
    theirs = read_run(d.out_dir).get("run_id")
    if theirs != d.run_id:
        raise RunDirError(
            f"{d.out_dir} now holds another run (run id {theirs}, not {d.run_id}): "
            "summary.json, fd_use.png and report.html not written"
        )
