"""fdscope lint on JavaScript next to ESLint on the same files: JavaScript files per second.

    python bench/lint_js.py DIR [--runs 3]

Runs ``npm ci`` in bench/ (ESLint and @eslint/js, pinned by bench/package-lock.json) unless
bench/node_modules is current, then times, on the ``.js .mjs .cjs`` files under DIR
(node_modules excluded; the same list for both, given explicitly):

- fdscope: ``fdscope.lint.lint(files)`` in this process (parse, facts, every rule, handlers);
- ESLint: ``eslint --no-config-lookup -c bench/eslint.config.mjs`` with ``eslint:recommended``,
  one process over all files (its start-up included, as a user runs it), cache off.

The best of ``--runs`` for each; the goal (issue 17): fdscope not slower than ESLint.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SUFFIXES = (".js", ".mjs", ".cjs")


def npm_ci() -> Path:
    eslint = BENCH / "node_modules" / ".bin" / "eslint"
    lock = BENCH / "package-lock.json"
    stamp = BENCH / "node_modules" / ".package-lock.json"
    if not eslint.exists() or not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCH, check=True)
    return eslint


def files_under(root: Path) -> list[Path]:
    out = []
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if x not in ("node_modules", ".git")]
        out += [Path(d) / n for n in names if n.endswith(SUFFIXES)]
    return sorted(out)


def time_fdscope(files: list[Path]) -> tuple[float, int]:
    from fdscope.lint import Config, lint

    t = time.perf_counter()
    result = lint(files, config=Config())
    return time.perf_counter() - t, len(result.findings)


def time_eslint(eslint: Path, files: list[Path]) -> float:
    cmd = [str(eslint), "--no-config-lookup", "-c", str(BENCH / "eslint.config.mjs")]
    cmd += ["--no-warn-ignored", "-f", "json", "-o", os.devnull, *map(str, files)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=BENCH, capture_output=True, text=True)
    took = time.perf_counter() - t
    if proc.returncode not in (0, 1):  # 1: lint errors found, still a full run
        raise SystemExit(f"eslint failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    files = [p.resolve() for p in files_under(args.dir)]
    if not files:
        raise SystemExit(f"no JavaScript files under {args.dir}")
    eslint = npm_ci()
    fd = min(time_fdscope(files) for _ in range(args.runs))
    es = min(time_eslint(eslint, files) for _ in range(args.runs))
    n = len(files)
    kb = sum(p.stat().st_size for p in files) / 1024
    print(f"{n} JavaScript files, {kb:.0f} KB under {args.dir}")
    print(f"fdscope lint: {fd[0]:.2f} s  {n / fd[0]:.0f} files/s  ({fd[1]} findings)")
    print(f"eslint (recommended): {es:.2f} s  {n / es:.0f} files/s")
    verdict = "met" if fd[0] <= es else "NOT met"
    print(f"goal (not slower than ESLint): {verdict} ({es / fd[0]:.1f}x ESLint's rate)")
    sys.exit(0)


if __name__ == "__main__":
    main()
