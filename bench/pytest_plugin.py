"""The plugin's added time per test, next to pytest's own ``--lsof``, measured in the same run.

A suite of N trivial tests (default 500) runs in a fresh pytest process: plain, with
``--fd-leaks=warn`` (fdscope) and with ``-p pytester --lsof`` (pytest's checker, which runs
``lsof`` twice per test). Added time per test = (run - plain run) / N; medians of repeated runs
(``--lsof`` runs once: one run takes over a minute). ``--quick``: 100 tests, fewer repeats.

Run: .venv/bin/python bench/pytest_plugin.py [--quick] [--tests N]
"""

from __future__ import annotations

import argparse
import os
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


def run(directory: Path, extra: tuple[str, ...]) -> float:
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:hypothesispytest", *extra]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=directory, capture_output=True, text=True, env=env, check=False)
    dt = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tests", type=int, default=None)
    args = ap.parse_args()
    n = args.tests or (100 if args.quick else 500)
    repeats = 3
    lsof_repeats = 1
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_suite(d, n)
        run(d, PLAIN)  # warm-up: bytecode caches, page cache
        plain: list[float] = []
        ours: list[float] = []
        for _ in range(repeats):  # interleaved, so both see the same machine load
            plain.append(run(d, PLAIN))
            ours.append(run(d, ("--fd-leaks=warn",)))
        lsof = [run(d, (*PLAIN, "-p", "pytester", "--lsof")) for _ in range(lsof_repeats)]
        plain.append(run(d, PLAIN))
    base = statistics.median(plain)
    ours_added = (statistics.median(ours) - base) / n * 1000
    lsof_added = (statistics.median(lsof) - base) / n * 1000
    print(f"{n} trivial tests; plain run {base:.2f} s (median of {len(plain)})")
    print(f"fdscope --fd-leaks=warn: {ours_added:8.3f} ms added per test")
    print(f"pytest --lsof          : {lsof_added:8.3f} ms added per test")
    if ours_added > 0:
        print(f"ratio: --lsof adds {lsof_added / ours_added:.0f}x the overhead of fdscope")
    else:
        print("ratio: fdscope's overhead is below the noise of this machine")


if __name__ == "__main__":
    main()
