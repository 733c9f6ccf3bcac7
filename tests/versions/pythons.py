"""Per-version environments for the version tests: ``.venv/pythons/3.X``.

Each is a venv of that CPython (found as ``fdscope layer build`` finds one: PATH,
pyenv, uv) holding the real ``awslambdaric`` (the dev venv's version, its native
runtime client built for that CPython), as Lambda's python3.X runtime has it.
Stamped (``.fdscope-stamp``: client version and base interpreter); rebuilt when
either changes. ``make pythons`` runs this script (PyPI is reached only here, never
from a test); the tests read the environments.

Run: .venv/bin/python tests/versions/pythons.py   (CI=true: exit 1 when a version is missing)
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from fdscope.monitor import find_python
from fdscope.monitor._layer import LAMBDA_PYTHONS

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".venv" / "pythons"
STAMP = ".fdscope-stamp"


def client_version() -> str:
    return importlib.metadata.version("awslambdaric")


def env_python(version: str) -> Path:
    return CACHE / version / "bin" / "python"


def stamp_text(base: str) -> str:
    return f"awslambdaric=={client_version()} {base}\n"


def ready(version: str) -> Path | None:
    """The environment's interpreter when it is built and current, else None."""
    stamp = CACHE / version / STAMP
    if not stamp.is_file():
        return None
    base = stamp.read_text().split()[-1]
    if stamp.read_text() != stamp_text(base) or not Path(base).is_file():
        return None
    return env_python(version) if env_python(version).is_file() else None


def ensure(version: str) -> tuple[Path | None, str]:
    """(the environment's interpreter or None, what happened)."""
    if ready(version):
        return env_python(version), "current"
    base = find_python(version)
    if base is None:
        return None, f"no Python {version} interpreter found (PATH, pyenv, uv)"
    target = CACHE / version
    shutil.rmtree(target, ignore_errors=True)
    t = time.perf_counter()
    subprocess.run([base, "-m", "venv", "--without-pip", str(target)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(env_python(version)),
            "install",
            "-q",
            "--disable-pip-version-check",
            f"awslambdaric=={client_version()}",
        ],
        check=True,
    )
    (target / STAMP).write_text(stamp_text(base))
    return env_python(version), f"built from {base} in {time.perf_counter() - t:.1f} s"


def main() -> int:
    missing = []
    for v in LAMBDA_PYTHONS:
        python, what = ensure(v)
        print(f"python{v}: {python or '-'} ({what})")
        if python is None:
            missing.append(v)
    if missing and os.environ.get("CI"):
        print(f"CI=true: missing Python {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
