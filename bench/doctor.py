"""Wall time from start to verdict: a leak of 1 per invocation, the seed (8), a clean handler.

    .venv/bin/python bench/doctor.py [--repeat N]

Goals (issue 16, "Fast answers"): under 20 s to the verdict and its projection for
a leak of one descriptor per invocation (examples/mkstemp_leak: EMFILE is about
1,000 invocations away), under 10 s on the seed (examples/seed_mangum, 8 per
invocation, EMFILE reproduced near invocation 126) and under 3 s to ``none`` on a
clean handler (examples/seed_mangum_fixed). The doctor runs with its defaults
(``--budget 20``: a limit is reproduced when it is reachable in the budget, else
projected). The time spent waiting for the function's own timeout (the seed's
connect retries back off until Lambda's timeout at EMFILE; the run uses a 3 s
timeout) is reported apart: it is the timeout's length, not the doctor's work,
and is not counted against the budget.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from fdscope.doctor import diagnose  # noqa: E402
from fdscope.local import sample_event  # noqa: E402

CASES = (  # (label, example, function timeout s, goal s)
    ("leak 1/invocation", "mkstemp_leak", 3.0, 20.0),
    ("seed 8/invocation", "seed_mangum", 3.0, 10.0),
    ("clean", "seed_mangum_fixed", 30.0, 3.0),
)


def one(example: str, out: Path, timeout_s: float) -> dict[str, float | str | int | bool]:
    t0 = time.perf_counter()
    d = diagnose(
        "app.handler",
        code_root=ROOT / "examples" / example,
        out_dir=out,
        event=sample_event("apigw-http"),
        timeout_s=timeout_s,
    )
    wall = time.perf_counter() - t0
    waited = float(d.timing.get("timeout_wait_s") or 0.0)
    return {
        "verdict": d.verdict,
        "reproduced": bool(d.emfile),
        "invocations": d.invocations + (d.gc_check or {}).get("invocations", 0),
        "wall_s": wall,
        "timeout_wait_s": waited,
        "work_s": wall - waited,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    results: dict[str, list[dict[str, float | str | int | bool]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for label, example, timeout_s, _ in CASES:
                r = one(example, Path(tmp) / f"{example}-{i}", timeout_s)
                results.setdefault(label, []).append(r)
    print(
        f"{'case':<19} {'verdict':<8} {'EMFILE':<10} {'invocations':>11} {'wall s':>7} "
        f"{'timeout s':>9} {'work s':>7} {'goal s':>6}  (medians of {args.repeat})"
    )
    for label, _, _, goal in CASES:
        rs = results[label]
        med = {
            k: statistics.median(float(r[k]) for r in rs)
            for k in ("invocations", "wall_s", "timeout_wait_s", "work_s")
        }
        emfile = "reproduced" if rs[0]["reproduced"] else "projected"
        if rs[0]["verdict"] != "leak":
            emfile = "-"
        ok = "ok" if med["work_s"] < goal else "MISSED"
        print(
            f"{label:<19} {rs[0]['verdict']:<8} {emfile:<10} {med['invocations']:>11.0f} "
            f"{med['wall_s']:>7.2f} {med['timeout_wait_s']:>9.2f} {med['work_s']:>7.2f} "
            f"{goal:>6.0f}  {ok}"
        )


if __name__ == "__main__":
    main()
