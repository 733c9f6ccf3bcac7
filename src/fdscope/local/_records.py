"""The records of a local Lambda run: what one invocation was, what a run returned,
which environments it started, and ``run.json`` (FORMATS.md section 2).

A run directory cannot lie: ``run.json`` holds a run id that every row of
``samples.jsonl`` and ``origins.jsonl`` and ``summary.json`` carry
(:func:`check_run_dir` refuses files that do not belong together); one
process writes a directory at a time (:class:`RunLock`, ``flock`` on
``.fdscope.lock``); a directory that holds another run is refused unless the
caller forces, which clears it first (:func:`claim_run_dir`); a run that is
interrupted says so in ``run.json`` (:meth:`RunFile.finish`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fdscope.errors import DoctorError

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
    run_id: str | None = None  # run.json's: the row belongs to that run

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
            "run_id": self.run_id,
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

    def finish(self, invocations: int, environments: int, interrupted: str | None = None) -> None:
        """Stamp the end of the run and write it. ``interrupted`` is why the run stopped
        early (``"SIGTERM"``, ``"KeyboardInterrupt (Ctrl-C)"``, an exception): then
        ``finished`` stays null and ``interrupted`` is true."""
        self.data["invocations"] = invocations
        self.data["environments"] = environments
        self.data["ended"] = now_iso()
        if interrupted is None:
            self.data["finished"] = self.data["ended"]
            self.data["interrupted"] = False
            self.data["interrupted_reason"] = None
        else:
            self.data["finished"] = None
            self.data["interrupted"] = True
            self.data["interrupted_reason"] = interrupted
        self.write()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fdscope_version() -> str:
    """``fdscope.__version__``, the only source (no package metadata: the layer has none)."""
    from fdscope import __version__

    return __version__


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, then a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


# -- run directories ---------------------------------------------------------------

# what a run (invoke, doctor) writes into its directory; "gc" is the doctor's second run
RUN_NAMES = (
    "run.json",
    "samples.jsonl",
    "events.jsonl",
    "origins.jsonl",
    "summary.json",
    "fd_use.png",
    "gc",
)
LOCK_NAME = ".fdscope.lock"


class RunDirError(DoctorError):
    """A run directory holds another run, is being written by another process, or
    its files do not belong together (different run ids)."""


class Terminated(BaseException):
    """SIGTERM, raised in the main thread by :func:`sigterm_raises` so that a run ends
    cleanly (its processes killed, ``run.json`` saying it was interrupted)."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only; elsewhere
    a no-op). The previous handler is restored afterwards."""

    def _raise(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: let the cleanup run
        raise Terminated("SIGTERM")

    try:
        old = signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def interruption(exc: BaseException | None) -> str | None:
    """How an exception ending a run reads in ``run.json``'s ``interrupted_reason``."""
    if exc is None:
        return None
    if isinstance(exc, Terminated):
        return "SIGTERM"
    if isinstance(exc, KeyboardInterrupt):
        return "KeyboardInterrupt (Ctrl-C)"
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code})"
    text = str(exc)
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def mark_interrupted(directory: Path, reason: str) -> bool:
    """Record in ``directory``'s ``run.json`` that the command writing it stopped early
    (the doctor, interrupted after its first run ended); False without a ``run.json``."""
    path = Path(directory) / "run.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict) or data.get("interrupted"):
        return False
    data["finished"] = None
    data["interrupted"] = True
    data["interrupted_reason"] = reason
    data["ended"] = now_iso()
    _write_json_atomic(path, data)
    return True


def new_run_id() -> str:
    """A run id: the start time (UTC) and 12 random hex digits, e.g. ``20250301T101500Z-1a2b…``."""
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:12]}"


class RunLock:
    """One writer per directory: ``fcntl.flock`` on ``DIR/.fdscope.lock``, held until
    :meth:`release`. The lock file stays (removing it would race with the next writer);
    it names the holder's pid for the error another writer gets."""

    def __init__(self, directory: Path, what: str = "fdscope") -> None:
        self.directory = Path(directory)
        self.what = what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock now or raise :class:`RunDirError` naming who holds it."""
        import fcntl

        if self._fd is not None:
            return self
        path = self.directory / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise RunDirError(
                f"cannot lock the run directory {self.directory}: {exc.strerror or exc}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = ""
            with contextlib.suppress(OSError):
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunDirError(
                    f"cannot lock the run directory {self.directory}: {exc.strerror or exc}"
                ) from None
            raise RunDirError(
                f"{self.directory} is being written by another fdscope process"
                + (f" ({holder})" if holder else "")
                + ": wait for it to finish, or choose another directory"
            ) from None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}, {self.what}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        import fcntl

        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def locked_by_other(directory: Path) -> bool:
    """True when another process holds ``directory``'s run lock right now."""
    import fcntl

    try:
        fd = os.open(Path(directory) / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops the shared lock taken to test
    return False


def run_files(directory: Path) -> list[str]:
    """The names of a run's files present in ``directory`` (empty: no run there)."""
    directory = Path(directory)
    return [n for n in RUN_NAMES if os.path.lexists(directory / n)]


def read_run(directory: Path) -> dict[str, Any]:
    """``directory``'s ``run.json`` as a dict; ``{}`` when it is missing, unreadable,
    malformed or not a JSON object (readers then see no run, never a traceback)."""
    try:
        data = json.loads((Path(directory) / "run.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe_run(directory: Path) -> str:
    """One phrase about the run in ``directory`` for an error: handler, id, how it ended."""
    data = read_run(directory)
    if not data:
        return "files " + ", ".join(run_files(directory))
    parts = [str(data.get("handler") or "?")]
    if data.get("run_id"):
        parts.append(f"run id {data['run_id']}")
    if data.get("started"):
        parts.append(f"started {data['started']}")
    if data.get("interrupted"):
        parts.append(f"interrupted: {data.get('interrupted_reason') or 'yes'}")
    elif data.get("finished") is None:
        parts.append("never finished")
    return ", ".join(parts)


def claim_run_dir(directory: Path, *, force: bool = False, what: str = "fdscope") -> RunLock:
    """Make ``directory`` this process's run directory and return its held lock.

    Raises :class:`RunDirError` when another process is writing it, or when it holds
    another run and ``force`` is false. With ``force`` the other run's files
    (:data:`RUN_NAMES`) are removed first; files that are not a run's are left alone.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise RunDirError(f"{directory} is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(
            f"cannot create the run directory {directory}: {exc.strerror or exc}"
        ) from None
    lock = RunLock(directory, what).acquire()
    try:
        present = run_files(directory)
        if present and not force:
            raise RunDirError(
                f"{directory} holds another run ({describe_run(directory)}): choose another "
                "directory, or add --force to replace it"
            )
        for name in present:
            path = directory / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        for stale in directory.glob(".*.tmp"):  # an atomic write cut short
            with contextlib.suppress(OSError):
                stale.unlink()
    except BaseException:
        lock.release()
        raise
    return lock


_RUN_ID = re.compile(rb'"run_id": ?"([^"]*)"')


def _check_samples(directory: Path, rid: str | None) -> None:
    """Rows of another run id, or an invocation twice: RunDirError."""
    seen: set[Any] = set()
    twice: list[Any] = []
    other: dict[str, int] = {}
    rows = 0
    samples = directory / "samples.jsonl"
    if not samples.exists():
        return
    with samples.open("rb") as fh:
        for line in fh:
            try:
                row = json.loads(line) if line.strip() else None
            except ValueError:
                continue  # a torn line: the readers count it
            if not isinstance(row, dict):
                continue
            rows += 1
            inv = row.get("invocation")
            if inv in seen:
                twice.append(inv)
            seen.add(inv)
            if rid is not None and row.get("run_id") != rid:
                key = str(row.get("run_id"))
                other[key] = other.get(key, 0) + 1
    if other:
        ids = ", ".join(sorted(other))
        raise RunDirError(
            f"{directory}: {sum(other.values())} of {rows} rows of samples.jsonl belong to "
            f"another run (run id {ids}, not run.json's {rid}): the directory mixes runs; run "
            "again into a new directory (or with --force)"
        )
    if twice:
        raise RunDirError(
            f"{directory}: samples.jsonl holds invocation {twice[0]} twice ({len(twice)} "
            "repeated rows): two runs wrote into the same directory; run again into a new "
            "directory (or with --force)"
        )


def _check_origins(directory: Path, rid: str) -> None:
    origins = directory / "origins.jsonl"
    if not origins.exists():
        return
    with origins.open("rb") as fh:
        for line in fh:
            m = _RUN_ID.search(line)
            if line.strip() and (m is None or m.group(1).decode() != rid):
                raise RunDirError(
                    f"{directory}: origins.jsonl holds reports of another run (not run id "
                    f"{rid}): run again into a new directory (or with --force)"
                )


def check_run_dir(directory: Path) -> dict[str, Any]:
    """``run.json`` of ``directory`` after checking that its files belong together.

    Raises :class:`RunDirError` when ``samples.jsonl``, ``origins.jsonl`` or
    ``summary.json`` carry another run id than ``run.json``, when an invocation
    appears twice in ``samples.jsonl`` (two runs interleaved), or when the run is
    being written right now. Directories written before run ids (no ``run_id`` in
    ``run.json``) are checked for repeated invocations only. Returns ``{}``
    without a ``run.json``.
    """
    directory = Path(directory)
    run = read_run(directory)
    if locked_by_other(directory):
        raise RunDirError(f"{directory} is being written by another fdscope process right now")
    rid = run.get("run_id")
    _check_samples(directory, rid)
    if rid is not None:
        _check_origins(directory, rid)
    summary = directory / "summary.json"
    if summary.exists() and (rid is not None or run == {}):
        try:
            doc = json.loads(summary.read_text())
        except (OSError, ValueError):
            doc = None
        theirs = doc.get("run_id") if isinstance(doc, dict) else None
        if theirs != rid:
            raise RunDirError(
                f"{directory}: summary.json is from another run (run id {theirs}, run.json's "
                f"is {rid}): it describes a run whose samples are gone; run the doctor again "
                "into a new directory (or with --force)"
            )
    return run
