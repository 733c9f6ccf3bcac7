"""Benchmark: fdscope query vs hand-written DuckDB SQL vs jq vs a plain Python loop.

Generates Lambda log events as JSON lines (runtime records, REPORT lines, JSON
log lines, print lines), then runs four queries end to end from the file:
(a) filter like /ERROR/ | sort desc | limit 50, (b) stats count(*) by bin(1m),
(c) REPORT avg/pct99 by bin(5m), (d) parse + stats. Prints medians and ratios.

    .venv/bin/python bench/insights.py            # 1,000,000 lines (~270 MB) vs DuckDB;
                                                  # jq and Python on the first 250,000
    .venv/bin/python bench/insights.py --full     # jq and Python on all 1,000,000 too (~15 min)
    .venv/bin/python bench/insights.py --quick    # 50,000 lines, every tool
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

QUERIES = {
    "a": "filter @message like /ERROR/ | sort @timestamp desc | limit 50",
    "b": "stats count(*) by bin(1m)",
    "c": 'filter @type = "REPORT" | stats avg(@duration), pct(@duration, 99) by bin(5m)',
    "d": 'parse @message "action=* latency_ms=* " as action, latency | filter ispresent(latency) | stats avg(latency) as avg_latency, count(*) as n by action',
}
SRC = "read_json({f}, format='newline_delimited', columns={{'timestamp': 'BIGINT', 'message': 'VARCHAR'}})"
HAND = {
    "a": "SELECT timestamp, message FROM {src} WHERE regexp_matches(message, 'ERROR') ORDER BY timestamp DESC LIMIT 50",
    "b": "SELECT timestamp // 60000 * 60000 AS b, count(*) FROM {src} GROUP BY 1 ORDER BY 1",
    "c": "SELECT timestamp // 300000 * 300000 AS b, avg(TRY_CAST(regexp_extract(message, '\\tDuration: ([0-9.]+) ms', 1) AS DOUBLE)), "
    "quantile_disc(TRY_CAST(regexp_extract(message, '\\tDuration: ([0-9.]+) ms', 1) AS DOUBLE), 0.99) "
    "FROM {src} WHERE starts_with(message, 'REPORT RequestId: ') GROUP BY 1 ORDER BY 1",
    "d": "SELECT s.a, avg(TRY_CAST(s.l AS DOUBLE)), count(*) FROM (SELECT regexp_extract(message, "
    "'(action=(.*?) latency_ms=(.*?) )', ['m', 'a', 'l']) AS s FROM {src}) WHERE s.m <> '' GROUP BY 1 ORDER BY 1",
}
JQ = {
    "a": '[inputs | select(.message | test("ERROR"))] | sort_by(.timestamp) | reverse | .[:50] | length',
    "b": "[inputs | (.timestamp / 60000 | floor)] | group_by(.) | map(length) | length",
    "c": None,  # jq has no percentile: not expressible directly
    "d": '[inputs | .message | capture("action=(?<a>.*?) latency_ms=(?<l>.*?) ")?] | group_by(.a) | map({a: .[0].a, avg: (map(.l|tonumber)|add/length), n: length}) | length',
}


def generate(path: Path, n: int) -> None:
    rnd = random.Random(1)
    t = 1_764_000_000_000
    streams = [f"2026/11/28/[$LATEST]{uuid.UUID(int=rnd.getrandbits(128)).hex}" for _ in range(20)]
    rid = ""
    with path.open("w") as f:
        for i in range(n):
            t += rnd.randint(0, 40)
            k = i % 10
            if k == 0:
                rid = str(uuid.UUID(int=rnd.getrandbits(128)))
                m = f"START RequestId: {rid} Version: $LATEST"
            elif k == 8:
                m = f"END RequestId: {rid}"
            elif k == 9:
                d = rnd.uniform(1, 900)
                m = (
                    f"REPORT RequestId: {rid}\tDuration: {d:.2f} ms\tBilled Duration: {int(d) + 1} ms\t"
                    f"Memory Size: 128 MB\tMax Memory Used: {rnd.randint(40, 128)} MB\t"
                )
            elif k in (1, 2, 3):
                lvl = rnd.choice(["INFO", "INFO", "WARNING", "ERROR"])
                m = (
                    f"[{lvl}]\t2026-11-28T02:00:00.000Z\t{rid}\tuser=u{rnd.randint(1, 500)} action={rnd.choice(['get', 'put'])} "
                    f"latency_ms={rnd.randint(1, 2000)} status={rnd.choice([200, 200, 500])} {'x' * rnd.randint(20, 60)}"
                )
            elif k in (4, 5):
                m = json.dumps(
                    {
                        "level": rnd.choice(["INFO", "ERROR"]),
                        "requestId": rid,
                        "message": "handled",
                        "latency": rnd.randint(1, 900),
                        "path": f"/items/{rnd.randint(1, 99)}",
                    }
                )
            else:
                m = f"plain print line {i} value={rnd.random():.5f} {'y' * rnd.randint(30, 80)}"
            f.write(
                json.dumps(
                    {
                        "timestamp": t,
                        "message": m,
                        "logStream": streams[i % 20],
                        "logGroup": "/aws/lambda/bench",
                    }
                )
                + "\n"
            )


def py_loop(path: Path, key: str) -> int:
    rx_err = re.compile("ERROR")
    rx_dur = re.compile(r"\tDuration: ([0-9.]+) ms")
    rx_parse = re.compile("action=(.*?) latency_ms=(.*?) ")
    out: dict = {}
    top: list = []
    with path.open() as f:
        for line in f:
            e = json.loads(line)
            m, ts = e["message"], e["timestamp"]
            if key == "a" and rx_err.search(m):
                top.append((ts, m))
            elif key == "b":
                b = ts // 60000
                out[b] = out.get(b, 0) + 1
            elif key == "c" and m.startswith("REPORT RequestId: "):
                out.setdefault(ts // 300000, []).append(float(rx_dur.search(m).group(1)))
            elif key == "d":
                mm = rx_parse.search(m)
                if mm:
                    out.setdefault(mm.group(1), []).append(float(mm.group(2)))
    if key == "a":
        return len(sorted(top, reverse=True)[:50])
    if key == "c":
        return len({k: (statistics.fmean(v), sorted(v)[-1]) for k, v in out.items()})
    return len(out)


def timed(fn, runs: int) -> float:
    fn()  # warm-up
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def interleaved(a, b, runs: int) -> tuple[float, float]:
    """Medians of ``a`` and ``b`` timed alternately after one warm-up each."""
    a()
    b()
    ta, tb = [], []
    for _ in range(runs):
        for fn, out in ((a, ta), (b, tb)):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def measure(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB, sampled every 10 ms by psutil) of one run of ``cmd``."""
    import psutil

    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.01)
    secs = time.perf_counter() - t
    if proc.wait() != 0:
        raise RuntimeError(f"{cmd[:2]} failed with {proc.returncode}")
    return secs, peak / 1e6


def peak_mb(cmd: list[str]) -> float:
    return measure(cmd)[1]


def run_table(path: Path, keys: list[str], runs: int, tools: set[str], memory: bool) -> None:
    import duckdb

    from fdscope.insights import execute

    jq = shutil.which("jq")
    src = SRC.format(f=repr(str(path)))
    py = sys.executable
    print(
        f"{'query':6}{'fdscope s':>10}{'duckdb s':>9}{'jq s':>8}{'python s':>9}{'fd/duckdb':>10}{'jq/fd':>7}{'py/fd':>7}   peak MB fd/duckdb/jq/py"
    )
    for key in keys:
        q = QUERIES[key]

        def ours(q: str = q) -> None:
            execute(q, [path])

        def hand(key: str = key) -> None:
            con = duckdb.connect()
            con.execute(HAND[key].format(src=src)).fetchall()
            con.close()

        dk = jqt = pyt = None
        if "duckdb" in tools:
            fd, dk = interleaved(ours, hand, runs)  # alternate, so load changes hit both alike
        else:
            fd = timed(ours, runs)
        mem: list[float] = []
        if memory:
            mem.append(
                peak_mb(
                    [
                        py,
                        "-c",
                        f"from fdscope.insights import execute; execute({q!r}, [{str(path)!r}])",
                    ]
                )
            )
            if dk is not None:
                mem.append(
                    peak_mb(
                        [
                            py,
                            "-c",
                            f"import duckdb; duckdb.connect().execute({HAND[key].format(src=src)!r}).fetchall()",
                        ]
                    )
                )
        if "jq" in tools and jq and JQ[key]:
            jqt, jq_mb = measure(
                [jq, "-n", JQ[key], str(path)]
            )  # one run: the file is in the page cache
            mem.append(jq_mb)
        if "python" in tools:
            pyt, py_mb = measure([py, __file__, "--py-loop", key, str(path)])
            mem.append(py_mb)
        mem_txt = "   " + "/".join(f"{x:.0f}" for x in mem) if mem else ""

        def f(x: float | None, w: int) -> str:
            return f"{x:{w}.2f}" if x is not None else f"{'-':>{w}}"

        def r(x: float | None, w: int, fd: float = fd) -> str:
            return f"{x / fd:{w}.1f}" if x is not None else f"{'-':>{w}}"

        ratio = f"{fd / dk:9.2f}x" if dk else f"{'-':>10}"
        print(
            f"({key})  {f(fd, 10)}{f(dk, 9)}{f(jqt, 8)}{f(pyt, 9)}{ratio}{r(jqt, 7)}{r(pyt, 7)}{mem_txt}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="50,000 lines, every tool")
    ap.add_argument(
        "--full", action="store_true", help="jq and Python on the whole file too (many minutes)"
    )
    ap.add_argument("--lines", type=int, default=None)
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--py-loop", nargs=2, metavar=("KEY", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.py_loop:
        py_loop(Path(args.py_loop[1]), args.py_loop[0])
        return
    n = args.lines or (50_000 if args.quick else 1_000_000)
    runs = args.runs or 3
    keys = list(QUERIES)
    tmp = Path(tempfile.mkdtemp(prefix="fdscope-bench-"))
    try:
        path = tmp / "events.jsonl"
        generate(path, n)
        print(
            f"{n:,} events, {path.stat().st_size / 1e6:.0f} MB; medians of {runs} runs after a warm-up"
        )
        if args.quick or args.full:
            run_table(path, keys, runs, {"duckdb", "jq", "python"}, memory=True)
            return
        run_table(path, keys, runs, {"duckdb"}, memory=True)
        sample = tmp / "sample.jsonl"
        k = min(n, 250_000)
        with path.open() as src, sample.open("w") as dst:
            for _, line in zip(range(k), src, strict=False):
                dst.write(line)
        print(
            f"\njq and a Python loop on the first {k:,} events (--full runs them on all), fdscope on the same file:"
        )
        run_table(sample, keys, 1, {"jq", "python"}, memory=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
