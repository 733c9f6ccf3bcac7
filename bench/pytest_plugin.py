"""The plugin's added time per test, next to pytest's own ``--lsof``, measured in the same run.

A suite of N trivial tests (default 500) runs in a fresh pytest process: plain, with
``--fd-leaks=warn`` (fdscope) and with ``-p pytester --lsof`` (pytest's checker, which runs
``lsof`` twice per test). Added time per test = (run - plain run) / N, in CPU time (user + system of pytest and the
processes it waited for: steadier on a shared machine) and in wall time; medians of repeated runs
(``--lsof`` runs once: one run takes over a minute). ``--quick``: 100 tests, fewer repeats.

Run: .venv/bin/python bench/pytest_plugin.py [--quick] [--tests N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN = ("-p", "no:fdscope")


def write_suite(directory: Path, n: int) -> None:
    body = "\n\n".join(f"def test_{i}():\n    assert {i} + 1 == {i + 1}" for i in range(n))
    (directory / "test_trivial.py").write_text(body + "\n")
    (directory / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")


def run(directory: Path, extra: tuple[str, ...]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the process and what it waited for)."""
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:hypothesispytest", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=directory, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tests", type=int, default=None)
    args = ap.parse_args()
    n = args.tests or (100 if args.quick else 500)
    repeats = 3 if args.quick else 5
    lsof_repeats = 1
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_suite(d, n)
        run(d, PLAIN)  # warm-up: bytecode caches, page cache
        plain: list[tuple[float, float]] = []
        ours: list[tuple[float, float]] = []
        for _ in range(repeats):  # interleaved, so both see the same machine load
            plain.append(run(d, PLAIN))
            ours.append(run(d, ("--fd-leaks=warn",)))
        lsof = [run(d, (*PLAIN, "-p", "pytester", "--lsof")) for _ in range(lsof_repeats)]
        plain.append(run(d, PLAIN))
    print(
        f"{n} trivial tests; {len(plain)} plain runs, {len(ours)} fdscope runs, "
        f"{len(lsof)} --lsof run(s); medians"
    )
    for i, what in ((1, "CPU time (user+system, with children)"), (0, "wall time")):
        base = statistics.median(r[i] for r in plain)
        ours_added = (statistics.median(r[i] for r in ours) - base) / n * 1000
        lsof_added = (statistics.median(r[i] for r in lsof) - base) / n * 1000
        print(f"\n{what}: plain run {base:.2f} s")
        print(f"  fdscope --fd-leaks=warn: {ours_added:8.3f} ms added per test")
        print(f"  pytest --lsof          : {lsof_added:8.3f} ms added per test")
        if ours_added > 0:
            print(f"  ratio: --lsof adds {lsof_added / ours_added:.0f}x the overhead of fdscope")
        else:
            print("  ratio: fdscope's added time is below this machine's noise")


if __name__ == "__main__":
    main()
