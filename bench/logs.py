"""How fast fdscope.logs reads, against the obvious peers, measured in the same run.

    .venv/bin/python bench/logs.py            # ~100k lines per format
    .venv/bin/python bench/logs.py --quick    # ~20k lines

Inputs are the real fixtures (tests/fixtures/logs) repeated: raw awslambdaric
stdout (text records, tracebacks, print and platform lines, EMF) and JSON lines
of CloudWatch events. Peers: a bare Python loop that only splits lines (and
json.loads them for JSON lines) with no event model; `jq -c .` over the JSON
lines; DuckDB's read_json over the JSON lines. Medians of several runs after a
warm-up; the machine is shared, so read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from fdscope.logs import read_events  # noqa: E402

FIX = ROOT / "tests" / "fixtures" / "logs"


def _grow(src: Path, dst: Path, lines: int) -> int:
    text = src.read_text(encoding="utf-8")
    per = text.count("\n")
    reps = max(1, lines // per)
    dst.write_text(text * reps, encoding="utf-8")
    return per * reps


def _median(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n = 20_000 if args.quick else 100_000
    runs = 3
    with tempfile.TemporaryDirectory() as d:
        raw = Path(d) / "raw.log"
        jl = Path(d) / "events.jsonl"
        n_raw = _grow(FIX / "lambda-runtime" / "env-a.log", raw, n)
        n_jl = _grow(FIX / "cloudwatch" / "events.jsonl", jl, n)

        def fd_raw() -> int:
            return sum(1 for _ in read_events(raw))

        def loop_raw() -> int:
            c = 0
            with open(raw, "rb") as f:
                for line in f:
                    line.decode("utf-8")
                    c += 1
            return c

        def fd_jl() -> int:
            return sum(1 for _ in read_events(jl))

        def loop_jl() -> int:
            c = 0
            with open(jl, "rb") as f:
                for line in f:
                    d = json.loads(line)
                    c += d["timestamp"] > 0
            return c

        cpu = {}
        for name, fn, lines in (("raw", fd_raw, n_raw), ("JSON lines", fd_jl, n_jl)):
            t = time.process_time()
            fn()
            cpu[name] = lines / (time.process_time() - t)
        rows = []
        t_fd, t_loop = _median(fd_raw, runs), _median(loop_raw, runs)
        rows.append(("raw runtime text", n_raw, "python split+decode loop", t_fd, t_loop))
        t_fd, t_loop = _median(fd_jl, runs), _median(loop_jl, runs)
        rows.append(("JSON lines of events", n_jl, "python json.loads loop", t_fd, t_loop))
        jq = shutil.which("jq")
        if jq:

            def jq_jl() -> None:
                subprocess.run([jq, "-c", ".", str(jl)], stdout=subprocess.DEVNULL, check=True)

            rows.append(("JSON lines of events", n_jl, "jq -c .", t_fd, _median(jq_jl, runs)))
        try:
            import duckdb

            def duck_jl() -> None:
                con = duckdb.connect()
                con.execute(
                    "SELECT count(*) FROM read_json(?, format='newline_delimited', "
                    "columns={timestamp: 'BIGINT', message: 'VARCHAR', logStreamName: 'VARCHAR'})",
                    [str(jl)],
                ).fetchall()
                con.close()

            rows.append(
                ("JSON lines of events", n_jl, "duckdb read_json", t_fd, _median(duck_jl, runs))
            )
        except ImportError:
            pass

    print(
        f"{'input':<22} {'lines':>8} {'peer':<26} {'fdscope s':>10} {'peer s':>8} {'fdscope/peer':>13}"
    )
    for name, lines, peer, a, b in rows:
        print(f"{name:<22} {lines:>8} {peer:<26} {a:>10.3f} {b:>8.3f} {a / b:>12.1f}x")
    print(
        f"fdscope lines/s (wall): raw {rows[0][1] / rows[0][3]:,.0f}, "
        f"JSON lines {rows[1][1] / rows[1][3]:,.0f}; (CPU time, less sensitive to a busy "
        f"machine): raw {cpu['raw']:,.0f}, JSON lines {cpu['JSON lines']:,.0f}"
    )


if __name__ == "__main__":
    main()
