"""Wall time from start to verdict: the doctor on the seed example and on a clean one.

    .venv/bin/python bench/doctor.py [--repeat N]

For the seed, the time spent waiting for the function timeout at EMFILE (the
seed's connect retries back off until Lambda's timeout, as in the story) is
reported apart, since it is the timeout's length, not the doctor's work; the
run uses a 3 s timeout. Goals: under 10 s to the verdict on the seed (without
the timeout) and under 10 s to `none` on a clean handler.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from fdscope.doctor import diagnose  # noqa: E402
from fdscope.local import sample_event  # noqa: E402


def one(example: str, out: Path, timeout_s: float) -> dict[str, float | str | int]:
    t0 = time.perf_counter()
    d = diagnose(
        "app.handler",
        code_root=ROOT / "examples" / example,
        out_dir=out,
        event=sample_event("apigw-http"),
        timeout_s=timeout_s,
    )
    wall = time.perf_counter() - t0
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    waited = sum(r["duration_ms"] for r in rows if r["status"] == "timeout") / 1000
    return {
        "verdict": d.verdict,
        "invocations": d.invocations + (d.gc_check or {}).get("invocations", 0),
        "wall_s": wall,
        "timeout_wait_s": waited,
        "work_s": wall - waited,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    results: dict[str, list[dict[str, float | str | int]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for example, timeout_s in (("seed_mangum", 3.0), ("seed_mangum_fixed", 30.0)):
                r = one(example, Path(tmp) / f"{example}-{i}", timeout_s)
                results.setdefault(example, []).append(r)
    print(
        f"{'example':<20} {'verdict':<8} {'invocations':>11} {'wall s':>8} "
        f"{'timeout s':>9} {'work s':>8}  (medians of {args.repeat})"
    )
    for example, rs in results.items():
        med = {
            k: statistics.median(float(r[k]) for r in rs)
            for k in ("invocations", "wall_s", "timeout_wait_s", "work_s")
        }
        print(
            f"{example:<20} {rs[0]['verdict']:<8} {med['invocations']:>11.0f} "
            f"{med['wall_s']:>8.2f} {med['timeout_wait_s']:>9.2f} {med['work_s']:>8.2f}"
        )
    seed = statistics.median(float(r["work_s"]) for r in results["seed_mangum"])
    clean = statistics.median(float(r["wall_s"]) for r in results["seed_mangum_fixed"])
    print(
        f"goal 10 s: seed {seed:.2f} s ({seed / 10:.2f}x of the goal), "
        f"clean {clean:.2f} s ({clean / 10:.2f}x of the goal)"
    )


if __name__ == "__main__":
    main()
