"""The records of a local Lambda run: what one invocation was, what a run returned,
which environments it started, and ``run.json`` (FORMATS.md section 2).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

STATUSES = ("ok", "error", "timeout", "crash", "emfile")


@dataclass
class Measured:
    """What :meth:`Environment.measure` found (``None`` for what was not looked at)."""

    fd_count: int | None = None
    fd_count_max: int | None = None
    processes: int | None = None
    by_kind: dict[str, int] = field(default_factory=dict)
    threads: int | None = None
    rss: int | None = None
    peak_mb: int = 0

    @property
    def fd_process(self) -> int | None:
        """As :attr:`Sample.fd_process`: the count the per-process limit applies to."""
        return self.fd_count if self.fd_count_max is None else self.fd_count_max


@dataclass(frozen=True)
class Sample:
    """One invocation seen from outside: a ``samples.jsonl`` row plus what went wrong.

    ``fd_count``, ``by_kind``, ``threads`` and ``rss_bytes`` cover the whole
    process tree of the environment, taken after the invocation returned; they
    are ``None`` (``by_kind`` empty) when sampling was off or the process was
    already gone (a crash). ``fd_count_max`` is the most any one process of the
    tree holds: the number ``RLIMIT_NOFILE`` (a per-process limit) is met by;
    ``processes`` how many processes the tree had.
    """

    invocation: int
    stream: str
    request_id: str
    start: int  # ms since the epoch, when the runtime took the event
    end: int
    duration_ms: float
    status: str  # one of STATUSES
    fd_count: int | None
    by_kind: Mapping[str, int]
    threads: int | None
    rss_bytes: int | None
    fd_limit: int
    cold_start: bool
    init_duration_ms: float | None = None
    error_type: str | None = None
    error_message: str | None = None
    pid: int | None = None
    fd_count_max: int | None = None
    processes: int | None = None

    @property
    def fd_process(self) -> int | None:
        """The count the per-process limit applies to (the whole count without the split)."""
        return self.fd_count if self.fd_count_max is None else self.fd_count_max

    def to_json(self) -> dict[str, Any]:
        """The ``samples.jsonl`` object (FORMATS.md section 2 plus the extra fields)."""
        return {
            "invocation": self.invocation,
            "stream": self.stream,
            "request_id": self.request_id,
            "start": self.start,
            "end": self.end,
            "duration_ms": round(self.duration_ms, 3),
            "status": self.status,
            "fd_count": self.fd_count,
            "by_kind": dict(self.by_kind),
            "threads": self.threads,
            "rss_bytes": self.rss_bytes,
            "fd_limit": self.fd_limit,
            "cold_start": self.cold_start,
            "init_duration_ms": (
                None if self.init_duration_ms is None else round(self.init_duration_ms, 3)
            ),
            "error_type": self.error_type,
            "error_message": self.error_message,
            "pid": self.pid,
            "fd_count_max": self.fd_count_max,
            "processes": self.processes,
        }


@dataclass(frozen=True)
class RunResult:
    """What :func:`run` returns: the run directory and every sample, in order."""

    out_dir: Path
    samples: tuple[Sample, ...]
    run: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fd_counts(self) -> list[int | None]:
        return [s.fd_count for s in self.samples]

    @property
    def cold_starts(self) -> int:
        return sum(1 for s in self.samples if s.cold_start)

    def statuses(self) -> dict[str, int]:
        """How many invocations ended each way: ``{"ok": 98, "timeout": 2}``."""
        out: dict[str, int] = {}
        for s in self.samples:
            out[s.status] = out.get(s.status, 0) + 1
        return out


@dataclass(frozen=True)
class EnvironmentRecord:
    """One execution environment a :class:`LocalLambda` started (for checks after the run)."""

    number: int
    stream: str
    token: str  # FDSCOPE_ENV_TOKEN: every process of the environment carries it
    pid: int
    port: int  # the Runtime API's port
    tmp: str  # its private /tmp (removed when the environment ends)


class RunFile:
    """``run.json``: written when the run opens, rewritten as it goes and when it ends.

    ``data`` is the document; :meth:`write` replaces the file atomically.
    """

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    def write(self) -> None:
        _write_json_atomic(self.path, self.data)

    def finish(self, invocations: int, environments: int) -> None:
        """Stamp the end of the run and write it."""
        self.data["finished"] = now_iso()
        self.data["invocations"] = invocations
        self.data["environments"] = environments
        self.write()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fdscope_version() -> str:
    """``fdscope.__version__``, the only source (no package metadata: the layer has none)."""
    from fdscope import __version__

    return __version__


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)
