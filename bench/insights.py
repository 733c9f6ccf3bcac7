"""Benchmark: fdscope query vs hand-written DuckDB SQL vs jq vs a plain Python loop.

Generates Lambda log events as JSON lines (runtime records, REPORT lines, JSON
log lines, print lines), then runs four queries end to end from the file:
(a) filter like /ERROR/ | sort desc | limit 50, (b) stats count(*) by bin(1m),
(c) REPORT avg/pct99 by bin(5m), (d) parse + stats. Prints medians and ratios.

    .venv/bin/python bench/insights.py            # 1,000,000 lines (~270 MB)
    .venv/bin/python bench/insights.py --quick    # 50,000 lines
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
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


def child_rss(cmd: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(cmd, check=True, capture_output=True)
    return max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--lines", type=int, default=None)
    ap.add_argument("--runs", type=int, default=None)
    args = ap.parse_args()
    n = args.lines or (50_000 if args.quick else 1_000_000)
    runs = args.runs or (3 if args.quick else 3)
    import duckdb

    from fdscope.insights import execute

    tmp = Path(tempfile.mkdtemp(prefix="fdscope-bench-"))
    try:
        path = tmp / "events.jsonl"
        generate(path, n)
        size = path.stat().st_size / 1e6
        print(f"{n:,} events, {size:.0f} MB, {runs} runs each (median after a warm-up)")
        jq = shutil.which("jq")
        src = SRC.format(f=repr(str(path)))
        header = f"{'query':6}{'fdscope s':>11}{'duckdb s':>10}{'jq s':>8}{'python s':>10}{'vs duckdb':>11}{'jq/fd':>8}{'py/fd':>8}"
        print(header)
        for key, q in QUERIES.items():
            fd = timed(lambda q=q: execute(q, [path]), runs)

            def hand(key=key) -> None:
                con = duckdb.connect()
                con.execute(HAND[key].format(src=src)).fetchall()
                con.close()

            dk = timed(hand, runs)
            jqt = None
            if jq and JQ[key]:
                jqt = timed(
                    lambda key=key: subprocess.run(
                        [jq, "-n", JQ[key], str(path)], check=True, capture_output=True
                    ),
                    1,
                )
            py = timed(lambda key=key: py_loop(path, key), 1)
            jq_s = f"{jqt:8.2f}" if jqt else f"{'n/a':>8}"
            jq_r = f"{jqt / fd:8.1f}" if jqt else f"{'n/a':>8}"
            print(
                f"({key})   {fd:11.2f}{dk:10.2f}{jq_s}{py:10.2f}{fd / dk:10.2f}x{jq_r}{py / fd:8.1f}"
            )
        peak = child_rss(
            [
                sys.executable,
                "-c",
                f"from fdscope.insights import execute; execute({QUERIES['c']!r}, [{str(path)!r}])",
            ]
        )
        print(f"peak RSS of one fdscope query process (c): {peak:.0f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
