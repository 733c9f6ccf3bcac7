"""fdscope lint next to its peers, measured in the same run.

1. Accuracy on the fixture corpus (tests/fixtures/lint/corpus, lines marked ``# expect:``) and
   on the bundled examples (examples/corpus.json ``lint_lines``; entries with ``[]`` must be
   clean): per tool, known leaking lines flagged and clean lines flagged wrongly. Peers:
   pylint R1732 (consider-using-with), ruff SIM115, pythaw (all rules).
   ``--peer-fixtures DIR`` also scores every tool on peers' own published fixtures (pylint's
   ``consider_using_with.py`` with ``# [consider-using-with]`` marks; ruff's ``SIM115.py`` with
   ``# SIM115`` / ``# OK`` block headers), kept outside this repository.
2. Speed over the whole CPython standard library of this machine (site-packages excluded):
   files per second for fdscope and pyflakes on the same files; the file count and any internal
   error are printed. ``--quick`` uses every 10th file.

Run: .venv/bin/python bench/lint.py [--quick] [--peer-fixtures DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import re
import statistics
import subprocess
import sys
import sysconfig
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fixtures" / "lint" / "corpus"
VENV_BIN = Path(sys.executable).parent
Lines = set[tuple[str, int]]


def expected_corpus() -> tuple[list[Path], Lines, Lines]:
    """Files, known leaking lines, and every other code line (the clean ones)."""
    files: list[Path] = []
    known: Lines = set()
    clean: Lines = set()
    for p in sorted(CORPUS.glob("*.py")):
        files.append(p)
        for i, line in enumerate(p.read_text().splitlines(), 1):
            if "# expect:" in line:
                known.add((str(p.resolve()), i))
            elif line.strip() and not line.lstrip().startswith("#"):
                clean.add((str(p.resolve()), i))
    manifest = ROOT / "examples" / "corpus.json"
    if manifest.exists():
        data = json.loads(manifest.read_text())
        for e in data["examples"] if isinstance(data, dict) else data:
            lines = e.get("lint_lines")
            if lines is None:
                continue
            app = (ROOT / e["dir"] / (e.get("leak_file") or "app.py")).resolve()
            files.append(app)
            for i, line in enumerate(app.read_text().splitlines(), 1):
                key = (str(app), i)
                if i in lines:
                    known.add(key)
                elif line.strip() and not line.lstrip().startswith("#"):
                    clean.add(key)
    return files, known, clean


def run_fdscope(files: list[Path]) -> Lines:
    from fdscope.lint import Config, lint

    out: Lines = set()
    for f in files:  # each file on its own: a directory would add the example's helpers
        for finding in lint([f], config=Config()).findings:
            out.add((str(Path(finding.path).resolve()), finding.line))
    return out


def run_pylint(files: list[Path]) -> Lines:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pylint",
            "--disable=all",
            "--enable=consider-using-with",
            "--output-format=json",
            "--score=n",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return {(str(Path(m["path"]).resolve()), m["line"]) for m in json.loads(proc.stdout or "[]")}


def run_ruff(files: list[Path]) -> Lines:
    proc = subprocess.run(
        [
            str(VENV_BIN / "ruff"),
            "check",
            "--isolated",
            "--select",
            "SIM115",
            "--output-format=json",
            "--exit-zero",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        (str(Path(m["filename"]).resolve()), m["location"]["row"])
        for m in json.loads(proc.stdout or "[]")
    }


def run_pythaw(files: list[Path]) -> Lines:
    out: Lines = set()
    for f in files:  # pythaw checks one path per call
        proc = subprocess.run(
            [str(VENV_BIN / "pythaw"), "check", "--format", "json", "--exit-zero", str(f)],
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            found = json.loads(proc.stdout or "[]")
        except ValueError:
            continue
        out |= {(str(Path(m["file"]).resolve()), m["line"]) for m in found}
    return out


TOOLS = {
    "fdscope": run_fdscope,
    "pylint R1732": run_pylint,
    "ruff SIM115": run_ruff,
    "pythaw": run_pythaw,
}


def score(title: str, files: list[Path], known: Lines, clean: Lines) -> None:
    print(
        f"\n== {title}: {len(files)} files, {len(known)} known leaking lines, "
        f"{len(clean)} clean lines"
    )
    print(f"{'tool':<14} {'known flagged':>14} {'clean flagged (false)':>22} {'seconds':>8}")
    for name, fn in TOOLS.items():
        t = time.perf_counter()
        try:
            flagged = fn(files)
        except (OSError, ValueError) as exc:
            print(f"{name:<14} failed: {exc}")
            continue
        dt = time.perf_counter() - t
        hits = len(flagged & known)
        false = len(flagged & clean)
        print(f"{name:<14} {hits:>6}/{len(known):<7} {false:>22} {dt:>8.1f}")


def peer_fixtures(directory: Path) -> tuple[list[Path], Lines, Lines]:
    files: list[Path] = []
    known: Lines = set()
    clean: Lines = set()
    for p in sorted(directory.glob("*.py")):
        files.append(p)
        key = str(p.resolve())
        block: str | None = None
        for i, line in enumerate(p.read_text().splitlines(), 1):
            stripped = line.strip()
            if "# [consider-using-with]" in line:
                known.add((key, i))
                continue
            if "must not trigger" in line:
                clean.add((key, i))
                continue
            if re.fullmatch(r"#\s*SIM115.*", stripped):
                block = "known"
                continue
            if re.fullmatch(r"#\s*OK.*", stripped):
                block = "clean"
                continue
            if not stripped:
                block = None
                continue
            if block == "known" and not stripped.startswith(("#", "with ", "def ", "class ")):
                known.add((key, i))
            elif block == "clean" and not stripped.startswith("#"):
                clean.add((key, i))
    return files, known, clean


def stdlib_speed(quick: bool) -> None:
    import pyflakes.api
    import pyflakes.reporter

    from fdscope.lint import Config, lint

    std = Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in sorted(std.rglob("*.py")) if "site-packages" not in p.parts]
    if quick:
        files = files[::10]
    print(f"\n== standard library {std}: {len(files)} files")
    # warm-up: imports and caches of both
    lint(files[:20], config=Config())
    rep = pyflakes.reporter.Reporter(io.StringIO(), io.StringIO())
    for f in files[:20]:
        pyflakes.api.checkPath(str(f), rep)
    chunks = [files[i::3] for i in range(3)]
    ours: list[float] = []
    theirs: list[float] = []
    internal_errors = 0
    findings = 0
    unparsable = 0
    for chunk in chunks:  # interleaved, so both see the same machine load
        t = time.perf_counter()
        try:
            result = lint(chunk, config=Config())
            findings += len(result.findings)
            unparsable += sum(1 for f in result.findings if f.code == "FDS001")
        except Exception:  # an internal error is what this run looks for
            internal_errors += 1
            traceback.print_exc()
        ours.append(len(chunk) / (time.perf_counter() - t))
        rep = pyflakes.reporter.Reporter(io.StringIO(), io.StringIO())
        t = time.perf_counter()
        for f in chunk:
            pyflakes.api.checkPath(str(f), rep)
        theirs.append(len(chunk) / (time.perf_counter() - t))
    a, b = statistics.median(ours), statistics.median(theirs)
    print(
        f"fdscope  {a:8.1f} files/s  (findings {findings}, unparsable files {unparsable}, "
        f"internal errors {internal_errors})"
    )
    print(f"pyflakes {b:8.1f} files/s")
    print(f"ratio fdscope/pyflakes: {a / b:.2f}x (median of 3 interleaved thirds)")


def _generated(kind: str, size: int) -> str:
    """A module of about ``size`` bytes: many small functions, one huge function, a literal."""
    out: list[str] = []
    n = i = 0
    if kind == "huge":
        out.append("def handler(event, context):\n")
    elif kind == "literal":
        out.append("DATA = [\n")
    while n < size:
        if kind == "many":
            s = f"def h{i}(event, context):\n    f = open('/tmp/x{i}')\n    return f.read()\n\n"
        elif kind == "huge":
            s = f"    f{i} = open('/tmp/x{i}')\n    if event.get('k{i}'):\n        f{i}.close()\n"
        else:
            s = f"    {{'k': {i}, 'v': 'value{i}'}},\n"
        out.append(s)
        n += len(s)
        i += 1
    out.append("    return 0\n" if kind == "huge" else "]\n" if kind == "literal" else "")
    return "".join(out)


def lint_scale(sizes_mb: list[float]) -> None:
    """User CPU and peak RSS of ``fdscope lint`` per generated file size (one process each)."""
    import tempfile

    print("lint at scale: user CPU s / peak RSS MB per file size (issue 15 item 5)")
    print(f"{'file':<22}" + "".join(f"{s:>16g} MB" for s in sizes_mb))
    with tempfile.TemporaryDirectory() as d:
        for kind in ("many", "huge", "literal"):
            cells = []
            for mb in sizes_mb:
                p = Path(d) / f"{kind}.py"
                p.write_text(_generated(kind, int(mb * 2**20)))
                code = (
                    "import resource, sys, time; from fdscope.lint import lint; "
                    f"lint([{str(p)!r}]); r = resource.getrusage(resource.RUSAGE_SELF); "
                    "print(r.ru_utime, r.ru_maxrss)"
                )
                run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
                if run.returncode:
                    raise SystemExit(f"lint failed on {kind} {mb} MB:\n{run.stderr[-2000:]}")
                out = run.stdout.split()
                cells.append(f"{float(out[0]):7.1f} s {int(out[1]) / 1024:5.0f} MB")
            print(
                f"{dict(many='many functions', huge='one huge function', literal='one huge literal')[kind]:<22}"
                + "".join(f"{c:>19}" for c in cells)
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="every 10th standard library file")
    ap.add_argument("--peer-fixtures", type=Path, help="directory of peers' published fixtures")
    ap.add_argument("--no-speed", action="store_true", help="skip the standard library run")
    ap.add_argument(
        "--scale",
        action="store_true",
        help="only: lint's CPU and memory on generated files of 0.5/1/1.9 MB (linear, issue 15)",
    )
    args = ap.parse_args()
    if args.scale:
        lint_scale([0.5, 1, 1.9])  # 2 MB is the limit (FDS002 above it)
        return
    files, known, clean = expected_corpus()
    score("fixture corpus + bundled examples", files, known, clean)
    if args.peer_fixtures:
        score(f"peers' fixtures ({args.peer_fixtures})", *peer_fixtures(args.peer_fixtures))
    if not args.no_speed:
        stdlib_speed(args.quick)


if __name__ == "__main__":
    main()
