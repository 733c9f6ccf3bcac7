"""A holder process with one descriptor of every kind, shared by the handles tests."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HOLDER = Path(__file__).with_name("holder.py")


@pytest.fixture(scope="session")
def holder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """{"pid", "fds": {fd: facts}} of a running holder; stopped at the end of the session."""
    tmp = tmp_path_factory.mktemp("holder")
    proc = subprocess.Popen(
        [sys.executable, str(HOLDER), str(tmp)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        pytest.fail(f"holder could not create every kind: {proc.stderr.read()}")
    info = json.loads(line)
    info["fds"] = {int(k): v for k, v in info["fds"].items()}
    try:
        yield info
    finally:
        proc.stdin.close()
        proc.wait(10)
