"""`make demo`: the seed story in three commands of the real tool, in Node.js then Python.

When Node.js 18 or newer is on the machine, first the story in its own runtime:

1. `fdscope doctor` on examples/seed_node (koa behind aws-serverless-express, the
   server created per invocation): it leaks, listen fails with EMFILE, the
   invocation times out, the environment cold-starts; the doctor names app.js's
   line in the handler.
2. `fdscope doctor` on examples/seed_node_fixed (the server at module scope).
3. `fdscope compare` of the two runs.

Then the same story in Python (without Node, one line says so and it runs alone):

1. `fdscope doctor` on the seed bug (a Starlette app behind Mangum, built per
   invocation): it leaks, reaches EMFILE, times out, cold-starts; the doctor
   names the line.
2. `fdscope doctor` on the fix (everything at module scope): no leak.
3. `fdscope compare` of the two runs: did the fix work?

Runs land in runs/node_seed, runs/node_seed_fixed, runs/seed and runs/seed_fixed
(summary.json, fd_use.png, the logs).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Lambda's default timeout is 30 s (3 s for a new function); 5 s keeps the demo short
# without changing the story.
COMMON = ["--timeout", "5", "--event-type", "apigw-http"]
# aws-serverless-express 3.x reads API Gateway's REST (v1) events
NODE_COMMON = ["--timeout", "5", "--event-type", "apigw-rest"]
MIN_NODE = 18


def fdscope(*args: str) -> int:
    cmd = [sys.executable, "-m", "fdscope", *args]
    print(f"\n$ fdscope {' '.join(args)}", flush=True)
    return subprocess.run(cmd, cwd=ROOT).returncode


def node_missing() -> str | None:
    """Why the Node.js story cannot run here (None when it can)."""
    node = shutil.which("node")
    if node is None:
        return "node is not on PATH"
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{node} --version failed: {exc}"
    m = re.match(r"v(\d+)\.", out.stdout.strip())
    if not m or int(m.group(1)) < MIN_NODE:
        return f"{node} is {out.stdout.strip() or 'unknown'}, the story needs Node {MIN_NODE}+"
    for name in ("seed_node", "seed_node_fixed"):
        if not (ROOT / "examples" / name / "node_modules").is_dir():
            return f"examples/{name}/node_modules is missing (make demo runs npm ci)"
    return None


def story(runs: Path, before: str, after: str, names: tuple[str, str], common: list[str]) -> bool:
    """doctor on the seed, doctor on its fix, compare: True when the story holds (the
    seed leaks, exit 1; the fix does not, 0; compare says the fix worked, 0)."""
    seed_dir, fixed_dir = str(runs / names[0]), str(runs / names[1])
    seed = fdscope("doctor", before, "--out", seed_dir, *common)
    fixed = fdscope("doctor", after, "--out", fixed_dir, *common)
    compared = fdscope("compare", seed_dir, fixed_dir)
    return (seed, fixed, compared) == (1, 0, 0)


def main(argv: list[str]) -> int:
    runs = Path(argv[0]) if argv else ROOT / "runs"  # where the run directories go
    t0 = time.monotonic()
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)
    ok = True
    why = node_missing()
    if why is None:
        print("The story in its own runtime: Node.js (koa behind aws-serverless-express)")
        ok = story(
            runs,
            "examples/seed_node/app.js:handler",
            "examples/seed_node_fixed/app.js:handler",
            ("node_seed", "node_seed_fixed"),
            NODE_COMMON,
        )
        print("\nThe same story in Python (Starlette behind Mangum)")
    else:
        print(f"Node.js story skipped: {why}; the Python story follows.")
    ok = (
        story(
            runs,
            "examples/seed_mangum/app.py:handler",
            "examples/seed_mangum_fixed/app.py:handler",
            ("seed", "seed_fixed"),
            COMMON,
        )
        and ok
    )
    print(f"\ndemo finished in {time.monotonic() - t0:.1f} s; pictures: {runs}/*/fd_use.png")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
