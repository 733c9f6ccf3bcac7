"""Soak: fdscope's own descriptors and memory stay flat over a long run.

    .venv/bin/python bench/soak.py [--invocations 10000] [--doctors 3] [--doctor-n 100]

While ``--doctors`` ``fdscope doctor`` runs go at once (each into its own
directory, on a clean handler), this process invokes a clean handler
``--invocations`` times in one :class:`~fdscope.local.LocalLambda` (sandboxed as
usual) and notes its own descriptor count (``/proc/self/fd``) and resident memory
(``VmRSS``) after each invocation. Over the second half: descriptors must not
grow (+0: the floor of its last ten samples against the floor of its first ten, so
a connection being closed in a server thread at the moment of a sample does not count) and memory's least-squares slope must stay under 1 KB per invocation.
Exit code 0 when both hold and every doctor run ended clean (exit 0), else 1.
``tests/reliability/test_soak.py`` runs a bounded form in ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

CLEAN = ROOT / "tests" / "helpers" / "handlers" / "basic.py"
SLOPE_LIMIT = 1024.0  # bytes per invocation


def _rss() -> int:
    with open("/proc/self/status", "rb") as fh:
        for line in fh:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _fds() -> int:
    return len(os.listdir("/proc/self/fd")) - 1  # the listing's own


def slope(values: list[int]) -> float:
    """Least-squares slope of ``values`` against their index."""
    n = len(values)
    if n < 2:
        return 0.0
    mx = (n - 1) / 2
    my = sum(values) / n
    num = sum((i - mx) * (v - my) for i, v in enumerate(values))
    den = sum((i - mx) ** 2 for i in range(n))
    return num / den


def soak(invocations: int, doctors: int, doctor_n: int, work: Path) -> dict[str, Any]:
    from fdscope.local import LocalLambda

    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "fdscope", "doctor", f"{CLEAN}:ok", "-n", str(doctor_n)]
            + ["--max-invocations", str(doctor_n), "--out", str(work / f"doctor-{i}"), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
        )
        for i in range(doctors)
    ]
    fds: list[int] = []
    rss: list[int] = []
    statuses: dict[str, int] = {}
    t0 = time.monotonic()
    with LocalLambda(f"{CLEAN}:ok", out_dir=work / "soak", sample="count") as fn:
        for _ in range(invocations):
            s = fn.invoke({"n": 1})
            statuses[s.status] = statuses.get(s.status, 0) + 1
            fds.append(_fds())
            rss.append(_rss())
        sandbox = json.loads((work / "soak" / "run.json").read_text()).get("sandbox")
    seconds = time.monotonic() - t0
    doctor_results = []
    for p in procs:
        out, err = p.communicate(timeout=1800)
        try:
            verdict = json.loads(out).get("verdict")
        except ValueError:
            verdict = None
        doctor_results.append({"exit": p.returncode, "verdict": verdict, "stderr": err[-500:]})
    half = len(fds) // 2
    second_fds, second_rss = fds[half:], rss[half:]
    return {
        "invocations": invocations,
        "seconds": round(seconds, 1),
        "statuses": statuses,
        "fds_second_half": [second_fds[0], max(second_fds), second_fds[-1]],
        # a connection closing in a server thread is a transient +1: the floor of the
        # last 10 samples against the floor of the first 10 (a leak raises the floor)
        "fd_growth": min(second_fds[-10:]) - min(second_fds[:10]),
        "rss_first_last_mb": [round(rss[0] / 2**20, 1), round(rss[-1] / 2**20, 1)],
        "rss_slope_bytes_per_invocation": round(slope(second_rss), 2),
        "doctors": doctor_results,
        "sandbox": sandbox,
    }


def ok(result: dict[str, Any]) -> bool:
    return (
        result["fd_growth"] == 0
        and result["rss_slope_bytes_per_invocation"] < SLOPE_LIMIT
        and set(result["statuses"]) == {"ok"}
        and all(d["exit"] == 0 for d in result["doctors"])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invocations", type=int, default=10_000)
    parser.add_argument("--doctors", type=int, default=3)
    parser.add_argument("--doctor-n", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fdscope-soak-") as tmp:
        result = soak(args.invocations, args.doctors, args.doctor_n, Path(tmp))
    print(json.dumps(result, indent=2))
    sys.exit(0 if ok(result) else 1)


if __name__ == "__main__":
    main()
