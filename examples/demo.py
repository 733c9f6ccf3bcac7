"""`make demo`: the seed story in three commands of the real tool.

1. `fdscope doctor` on the seed bug (a Starlette app behind Mangum, built per
   invocation): it leaks, reaches EMFILE, times out, cold-starts; the doctor
   names the line.
2. `fdscope doctor` on the fix (everything at module scope): no leak.
3. `fdscope compare` of the two runs: did the fix work?

Runs land in runs/seed and runs/seed_fixed (summary.json, fd_use.png, the logs).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Lambda's default timeout is 30 s; 5 s keeps the demo short without changing the story.
COMMON = ["--timeout", "5", "--event-type", "apigw-http"]


def fdscope(*args: str) -> int:
    cmd = [sys.executable, "-m", "fdscope", *args]
    print(f"\n$ fdscope {' '.join(args)}", flush=True)
    return subprocess.run(cmd, cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    runs = Path(argv[0]) if argv else ROOT / "runs"  # where the run directories go
    t0 = time.monotonic()
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)
    seed_dir, fixed_dir = str(runs / "seed"), str(runs / "seed_fixed")
    seed = fdscope("doctor", "examples/seed_mangum/app.py:handler", "--out", seed_dir, *COMMON)
    fixed = fdscope(
        "doctor", "examples/seed_mangum_fixed/app.py:handler", "--out", fixed_dir, *COMMON
    )
    compared = fdscope("compare", seed_dir, fixed_dir)
    print(f"\ndemo finished in {time.monotonic() - t0:.1f} s; pictures: {runs}/*/fd_use.png")
    # the demo succeeds when the story holds: the seed leaks (1), the fix does not (0),
    # and compare says the fix worked (0)
    return 0 if (seed, fixed, compared) == (1, 0, 0) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
