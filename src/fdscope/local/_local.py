"""``LocalLambda``: a handler run the way Lambda runs it, watched from outside.

One execution environment at a time: a child process running the runtime
interface client against a Runtime API on 127.0.0.1, under Lambda's limits.
The module is imported once and the process reused; a timeout, a crash, an
exit or an init error ends the environment and the next invocation is a cold
start in a new one (a new log stream). After each invocation the process tree
is sampled from outside with :mod:`fdscope.handles`. Everything goes to a run
directory (FORMATS.md section 2) as it happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import selectors
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fdscope.errors import DoctorError
from fdscope.local import _logs, _procs
from fdscope.local._api import Invocation, RuntimeAPI
from fdscope.local._runtime import Handler, PythonRuntime, Runtime, parse_handler

STATUSES = ("ok", "error", "timeout", "crash", "emfile")
INIT_TIMEOUT_S = 10.0  # Lambda's limit on the init phase (on-demand)
_RESERVED = (
    "AWS_LAMBDA_RUNTIME_API",
    "_LAMBDA_TELEMETRY_LOG_FD",
    "FDSCOPE_REPORT_FD",
    _procs.TOKEN_VAR,
    "_FDSCOPE_STAGING",
)
_CREDENTIAL_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
)


@dataclass
class _Measured:
    """What :meth:`LocalLambda._measure` found (``None`` for what was not looked at)."""

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


class _Environment:
    """One execution environment: the runtime process and everything around it."""

    def __init__(self, number: int, stream: str, token: str, tmp: Path) -> None:
        self.number = number
        self.stream = stream
        self.token = token
        self.tmp = tmp
        self.api: RuntimeAPI
        self.proc: subprocess.Popen[bytes]
        self.collector: _logs.Collector
        self.report_fd: int = -1
        self.report_buf = bytearray()
        self.spawned_at = time.time()
        self.spawned_mono = time.monotonic()
        self.exited = threading.Event()
        self.wake: threading.Event | None = None  # the active invocation's
        self.invocations = 0
        self.stop_r, self.stop_w = os.pipe()
        self.pump: threading.Thread | None = None
        self.pidfd: int | None = None
        self.peak_mb = 0  # last known peak RSS (a crashed process cannot be measured)

    @property
    def alive(self) -> bool:
        if self.exited.is_set():
            return False
        return self.pidfd is not None or self.proc.poll() is None  # a pidfd marks the exit


class LocalLambda:
    """A Lambda function run locally with the real runtime client, one invocation at a time.

    Use as a context manager; :meth:`invoke` runs one invocation and returns
    its :class:`Sample`; :meth:`close` ends everything and finishes
    ``run.json``. Raises :class:`~fdscope.errors.DoctorError` (or the
    subclass ``HandlerError``) when the handler, the code root or the
    interpreter is unusable; failures of the function itself are never raised,
    they are recorded, as Lambda records them.
    """

    def __init__(
        self,
        handler: str,
        *,
        code_root: Path | None = None,
        out_dir: Path,
        fd_limit: int = 1024,
        timeout_s: float = 30.0,
        memory_mb: int = 128,
        env: Mapping[str, str] | None = None,
        python: str | None = None,
        layers: Iterable[Path] = (),
        freeze: bool = False,
        allow_network: bool = False,
        aws_endpoint: str | None = None,
        track_origins: bool = False,
        monitor: bool = False,
        gc_between: bool = False,
        sample: bool | str = True,
        function_name: str | None = None,
        region: str = "us-east-1",
        runtime: Runtime | None = None,
    ) -> None:
        self.handler: Handler = parse_handler(handler, Path(code_root) if code_root else None)
        self.handler_text = handler
        self.runtime = runtime or PythonRuntime(python)
        self.out_dir = Path(out_dir)
        if fd_limit < 16:
            raise DoctorError(f"fd limit {fd_limit} is too small to start a runtime")
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY and fd_limit > hard:
            raise DoctorError(f"fd limit {fd_limit} is above this process's hard limit {hard}")
        if timeout_s <= 0:
            raise DoctorError("timeout must be positive")
        self.fd_limit = fd_limit
        self.timeout_s = float(timeout_s)
        self.memory_mb = memory_mb
        self.user_env = dict(env or {})
        for key in self.user_env:
            if key in _RESERVED:
                raise DoctorError(f"environment variable {key} is reserved by the local Lambda")
        self.layers = [Path(p) for p in layers]
        self.freeze = freeze
        self.allow_network = allow_network
        self.aws_endpoint = aws_endpoint
        self.track_origins = track_origins
        self.monitor = monitor
        self.gc_between = gc_between
        if sample not in (True, False, "count"):
            raise DoctorError(f"sample must be True, False or 'count', not {sample!r}")
        self.sample = sample
        self.region = region
        name = function_name or self.handler.code_root.name or "function"
        self.function_name = re.sub(r"[^A-Za-z0-9_-]", "-", name)[:64] or "function"
        self.log_group = f"/aws/lambda/{self.function_name}"
        self.function_arn = f"arn:aws:lambda:{region}:000000000000:function:{self.function_name}"
        self.invocations = 0
        self.environments = 0
        self._env: _Environment | None = None
        self._root: Path | None = None
        self._staging: Path | None = None
        self._log: _logs.EventLog | None = None
        self._samples_fh: Any = None
        self._origins_fh: Any = None
        self._origins_lock = threading.Lock()
        self._run: dict[str, Any] = {}
        self._first_event: Any = None
        self._active_number = 0  # invocation the next origins report follows
        self.last_response: bytes | None = None  # the function's last response body
        self.history: list[EnvironmentRecord] = []  # every environment started
        self._opened = False
        self._closed = False

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self) -> LocalLambda:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Create the run directory and the private staging area (idempotent)."""
        if self._opened:
            return
        if self._closed:
            raise DoctorError("this LocalLambda is closed")
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DoctorError(
                f"cannot create the run directory {self.out_dir}: {exc.strerror or exc}"
            ) from None
        version = self.runtime.version()
        self._root = Path(tempfile.mkdtemp(prefix="fdscope-lambda-"))
        self._staging = self._root / "runtime"
        self.runtime.prepare(self._staging)
        for name in ("events.jsonl", "samples.jsonl", "origins.jsonl"):
            (self.out_dir / name).write_text("")
        self._log = _logs.EventLog(self.out_dir / "events.jsonl", self.log_group)
        self._samples_fh = (self.out_dir / "samples.jsonl").open("a", encoding="utf-8")
        self._origins_fh = (self.out_dir / "origins.jsonl").open("a", encoding="utf-8")
        import fdscope

        self._run = {
            "schema": "fdscope.run/1",
            "handler": self.handler_text,
            "lambda_handler": self.handler.name,
            "code_root": str(self.handler.code_root),
            "function_name": self.function_name,
            "runtime": self.runtime.language,
            "python": version,
            "interpreter": getattr(self.runtime, "python", None),
            "fdscope": getattr(fdscope, "__version__", None) or _version(),
            "fd_limit": self.fd_limit,
            "timeout_s": self.timeout_s,
            "memory_mb": self.memory_mb,
            "invocations": 0,
            "environments": 0,
            "event": None,
            "options": {
                "freeze": self.freeze,
                "allow_network": self.allow_network,
                "aws_endpoint": self.aws_endpoint,
                "track_origins": self.track_origins,
                "monitor": self.monitor,
                "gc_between": self.gc_between,
                "sample": self.sample,
                "layers": [str(p) for p in self.layers],
            },
            "started": _now_iso(),
            "finished": None,
        }
        self._write_run()
        self._opened = True

    def close(self) -> None:
        """Kill the environment and every process it started; finish ``run.json``."""
        if self._closed or not self._opened:
            self._closed = True
            return
        self._closed = True
        try:
            if self._env is not None:
                self._end_environment(self._env)
                self._env = None
        finally:
            if self._log is not None:
                self._log.close()
            for fh in (self._samples_fh, self._origins_fh):
                if fh is not None:
                    fh.close()
            self._run["finished"] = _now_iso()
            self._run["invocations"] = self.invocations
            self._run["environments"] = self.environments
            self._write_run()
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)

    def _write_run(self) -> None:
        _write_json_atomic(self.out_dir / "run.json", self._run)

    @property
    def pid(self) -> int | None:
        """The runtime process of the live environment, if any."""
        env = self._env
        return env.proc.pid if env is not None and env.alive else None

    @property
    def stream(self) -> str | None:
        """The log stream of the live environment, if any."""
        return self._env.stream if self._env is not None else None

    # -- invoking ------------------------------------------------------------
    def invoke(self, event: Any = None) -> Sample:
        """Run one invocation (synchronously) and return its outside sample.

        ``event`` is any JSON-serialisable value (``None`` sends ``{}``).
        Starts a new environment when there is none (a cold start).
        """
        if not self._opened:
            self.open()
        if self._closed:
            raise DoctorError("this LocalLambda is closed")
        assert self._log is not None
        if self.invocations == 0:
            self._first_event = event
            self._run["event"] = event
        body = json.dumps({} if event is None else event).encode("utf-8")
        number = self.invocations + 1
        env = self._env
        if env is not None and not env.alive:
            self._end_environment(env)
            env = self._env = None
        cold = env is None
        if env is None:
            env = self._env = self._spawn()
        elif self.freeze:
            _procs.thaw(env.proc.pid)
        inv = Invocation(
            request_id=str(uuid.uuid4()),
            body=body,
            function_arn=self.function_arn,
            trace_id=_trace_id(),
            timeout_s=self.timeout_s,
        )
        env.wake = inv.wake
        env.api.waiters = [inv.wake]
        self._active_number = number
        with self._log.lock:
            self._log.emfile_seen = self._log.emfile_strong = self._log.emfile_disguise = False
        submitted = time.time()
        submitted_mono = time.monotonic()
        env.api.submit(inv)
        outcome = self._await(env, inv, submitted_mono)
        self.invocations = number
        env.invocations += 1
        sample = self._finish_invocation(env, inv, outcome, number, cold, submitted)
        self._samples_fh.write(json.dumps(sample.to_json()) + "\n")
        self._samples_fh.flush()
        self._log.flush()
        self._run["invocations"] = self.invocations
        return sample

    def _await(self, env: _Environment, inv: Invocation, t0: float) -> str:
        """Wait for the invocation: response, error, init_error, crash or timeout."""
        while True:
            if inv.outcome is not None:
                return inv.outcome
            if env.api.init_error is not None:
                return "init_error"
            # with a pidfd the I/O thread marks the exit (and wakes us): no waitpid here
            if env.exited.is_set() or (env.pidfd is None and env.proc.poll() is not None):
                # the exit may race with a response already posted
                if inv.outcome is not None:
                    return inv.outcome
                return "crash"
            if inv.dispatched_mono is not None:
                remaining = inv.dispatched_mono + self.timeout_s - time.monotonic()
            else:  # still initialising: Lambda allows 10 s for init
                remaining = t0 + max(INIT_TIMEOUT_S, self.timeout_s) - time.monotonic()
            if remaining <= 0:
                return "timeout"
            inv.wake.wait(min(remaining, 0.25))
            inv.wake.clear()

    def _finish_invocation(
        self,
        env: _Environment,
        inv: Invocation,
        outcome: str,
        number: int,
        cold: bool,
        submitted: float,
    ) -> Sample:
        assert self._log is not None
        log = self._log
        stream = env.stream
        rid = inv.request_id
        pid = env.proc.pid
        init_ms: float | None = None
        if cold and env.api.init_done_mono is not None:
            init_ms = (env.api.init_done_mono - env.spawned_mono) * 1000
        start = inv.dispatched_at or submitted
        error_type: str | None = None
        error_message: str | None = None
        report_status: str | None = None
        end_env = False
        m = _Measured(peak_mb=env.peak_mb)

        self.last_response = inv.result
        if outcome in ("response", "error"):
            end = inv.finished_at or time.time()
            duration = ((inv.finished_mono or 0) - (inv.dispatched_mono or 0)) * 1000
            if self.freeze:
                _procs.freeze(pid)
            m = self._measure(env)
            if outcome == "error" and inv.error is not None:
                error_type = str(inv.error.get("errorType") or "Unhandled")
                error_message = str(inv.error.get("errorMessage") or "")
            status = "error" if outcome == "error" else "ok"
            with log.lock:
                env.collector.drain()
                self._drain_reports(env)
                log.emit(stream, _logs.end_line(rid))
                log.emit(
                    stream,
                    _logs.report_line(rid, duration, self.memory_mb, m.peak_mb, init_ms),
                )
        else:
            end_env = True
            now = time.time()
            end = int(now * 1000) / 1000
            duration = (now - start) * 1000
            if outcome == "timeout":
                status = "timeout"
                error_type = "Sandbox.Timedout"
                error_message = f"Task timed out after {self.timeout_s:.2f} seconds"
                report_status = "timeout"
                _procs.freeze(pid)  # stop it where it hangs, then look
                m = self._measure(env)
                if inv.dispatched_at is not None:
                    duration = self.timeout_s * 1000
            elif outcome == "init_error":
                status = "error"
                err = env.api.init_error or {}
                error_type = str(err.get("errorType") or "Runtime.Unknown")
                error_message = str(err.get("errorMessage") or "")
                report_status = "error"
                with contextlib.suppress(subprocess.TimeoutExpired):
                    env.proc.wait(timeout=2.0)  # awslambdaric exits after /init/error
            else:  # crash
                with contextlib.suppress(subprocess.TimeoutExpired):
                    env.proc.wait(timeout=2.0)
                status = "crash"
                error_type = "Runtime.ExitError"
                how = _procs.exit_description(env.proc.returncode or 0)
                error_message = f"RequestId: {rid} Error: Runtime exited with error: {how}"
                report_status = "error"
            with log.lock:
                env.collector.drain()
                self._drain_reports(env)
                if outcome == "timeout" and inv.dispatched_at is None and cold:
                    init_ms = (time.monotonic() - env.spawned_mono) * 1000
                    log.emit(stream, _logs.init_report_line(init_ms, "timeout", None))
                if outcome in ("init_error", "crash") and init_ms is None and cold:
                    # the runtime never asked for an invocation: init failed
                    init_ms = (time.monotonic() - env.spawned_mono) * 1000
                    log.emit(stream, _logs.init_report_line(init_ms, "error", error_type))
                if inv.dispatched_at is None:
                    log.emit(stream, _logs.start_line(rid))
                if outcome == "timeout":
                    log.emit(stream, _logs.timeout_line(rid, self.timeout_s, now))
                elif outcome == "crash":
                    log.emit(stream, _logs.exit_line(rid, how))
                log.emit(stream, _logs.end_line(rid))
                log.emit(
                    stream,
                    _logs.report_line(
                        rid,
                        duration,
                        self.memory_mb,
                        m.peak_mb,
                        init_ms,
                        status=report_status,
                        error_type=error_type,
                    ),
                )
        # EMFILE: an OSError's own words anywhere, or any marker when the invocation failed
        # or one process stood at the limit (see _logs.EMFILE_STRONG)
        limit = self.fd_limit
        held = m.fd_process
        near = held is not None and held >= limit - max(2, min(16, limit // 64))
        emfile = log.emfile_strong or (
            (
                log.emfile_seen
                or (
                    (error_type or error_message or inv.error)
                    and _mentions_emfile(error_type, error_message, inv.error)
                )
            )
            and (status != "ok" or near)
        )
        if not emfile and near:  # a library's words for it, with a process at the limit
            emfile = log.emfile_disguise or any(
                d in f"{error_message or ''} {inv.error or ''}" for d in _logs.EMFILE_DISGUISES
            )
        if emfile and status != "timeout":
            status = "emfile"
        sample = Sample(
            invocation=number,
            stream=stream,
            request_id=rid,
            start=int(start * 1000),
            end=int(end * 1000),
            duration_ms=duration,
            status=status,
            fd_count=m.fd_count,
            by_kind=m.by_kind,
            threads=m.threads,
            rss_bytes=m.rss,
            fd_limit=self.fd_limit,
            cold_start=cold,
            init_duration_ms=init_ms if cold else None,
            error_type=error_type,
            error_message=error_message,
            pid=pid,
            fd_count_max=m.fd_count_max,
            processes=m.processes,
        )
        if end_env:
            self._end_environment(env)
            self._env = None
        return sample

    def _measure(self, env: _Environment) -> _Measured:
        """Count descriptors, threads and memory of the runtime's process tree.

        ``sample=True``: a :func:`fdscope.handles.snapshot` of every process
        (descriptor kinds included); ``"count"``: :func:`fdscope.handles.count`
        of every process only (much cheaper at a thousand descriptors); ``False``:
        memory and threads only. Counts are kept per process too: the limit is
        per process, so the largest one is what meets it.
        """
        pids = _procs.tree(env.proc.pid)
        rss, peak, threads = _procs.status(pids)
        peak_mb = env.peak_mb = max(env.peak_mb, int((peak or 0) / (1024 * 1024)))
        m = _Measured(threads=threads, rss=rss, peak_mb=peak_mb)
        if not self.sample:
            return m
        from fdscope import handles

        counts: list[int] = []
        for p in pids:
            try:
                if self.sample == "count":
                    counts.append(handles.count(p))
                else:
                    snap = handles.snapshot(p)
                    counts.append(snap.count)
                    for kind, n in snap.by_kind().items():
                        m.by_kind[kind] = m.by_kind.get(kind, 0) + n
            except handles.HandlesError:
                continue  # gone meanwhile: normal
        if counts:
            m.fd_count, m.fd_count_max, m.processes = sum(counts), max(counts), len(counts)
        return m

    # -- environments --------------------------------------------------------
    def _spawn(self) -> _Environment:
        assert self._root is not None and self._staging is not None and self._log is not None
        self.environments += 1
        self._run["environments"] = self.environments
        number = self.environments
        stream = _logs.stream_name()
        tmp = self._root / f"env-{number}" / "tmp"
        tmp.mkdir(parents=True)
        env = _Environment(number, stream, uuid.uuid4().hex, tmp)
        log = self._log

        def on_dispatch(inv: Invocation) -> None:
            with log.lock:
                env.collector.drain()
                self._drain_reports(env)
                log.emit(stream, _logs.start_line(inv.request_id))

        def on_finish(inv: Invocation) -> None:
            with log.lock:
                env.collector.drain()
                self._drain_reports(env)

        env.api = RuntimeAPI(on_dispatch=on_dispatch, on_finish=on_finish)
        tel_r, tel_w = os.pipe()
        rep_r, rep_w = os.pipe()
        out_r, out_w = os.pipe()
        child_env = self._child_env(env, tel_w, rep_w)
        cmd = self.runtime.command(self.handler)
        wrapper = child_env.get("AWS_LAMBDA_EXEC_WRAPPER")
        if wrapper:
            cmd = [wrapper, *cmd]
        limit = self.fd_limit

        def limits() -> None:  # runs in the child between fork and exec
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        log.emit(stream, _logs.init_start_line(self.runtime.version()))
        env.spawned_at = time.time()
        env.spawned_mono = time.monotonic()
        try:
            env.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=out_w,
                pass_fds=(tel_w, rep_w),
                start_new_session=True,
                cwd=str(self.handler.code_root),
                env=child_env,
                preexec_fn=limits,
            )
        except OSError as exc:
            for fd in (tel_r, tel_w, rep_r, rep_w, out_r, out_w):
                os.close(fd)
            env.api.close()
            raise DoctorError(f"cannot start the runtime ({cmd[0]}): {exc}")
        for fd in (tel_w, rep_w, out_w):
            os.close(fd)
        env.collector = _logs.Collector(log, stream, telemetry_fd=tel_r, output_fds=[out_r])
        env.report_fd = rep_r
        os.set_blocking(rep_r, False)
        try:
            env.pidfd = os.pidfd_open(env.proc.pid)  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            env.pidfd = None
        self.history.append(
            EnvironmentRecord(number, stream, env.token, env.proc.pid, env.api.port, str(tmp))
        )
        env.pump = threading.Thread(
            target=self._pump, args=(env,), name=f"fdscope-env-{number}", daemon=True
        )
        env.pump.start()
        return env

    def _child_env(self, env: _Environment, tel_w: int, rep_w: int) -> dict[str, str]:
        assert self._staging is not None
        code_root = str(self.handler.code_root)
        out: dict[str, str] = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EXECUTION_ENV": self.runtime.execution_env(),
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": self.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": env.stream,
            "LAMBDA_TASK_ROOT": code_root,
            "_HANDLER": self.handler.name,
            # No credentials: neither from our environment nor from ~/.aws.
            "AWS_SHARED_CREDENTIALS_FILE": str(env.tmp.parent / "no-aws-credentials"),
            "AWS_CONFIG_FILE": str(env.tmp.parent / "no-aws-config"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "TMPDIR": str(env.tmp),
        }
        out.update(self.runtime.environment(self.handler, self.layers, self._staging))
        if self.aws_endpoint:
            out["AWS_ENDPOINT_URL"] = self.aws_endpoint
            out["AWS_ACCESS_KEY_ID"] = "testing"
            out["AWS_SECRET_ACCESS_KEY"] = "testing"
            out["AWS_SESSION_TOKEN"] = "testing"
        if self.monitor:
            out["AWS_LAMBDA_EXEC_WRAPPER"] = _monitor_wrapper()
        if self.track_origins:
            out["FDSCOPE_TRACK"] = "1"
        if self.allow_network:
            out["FDSCOPE_ALLOW_NETWORK"] = "1"
        if self.gc_between:
            out["_FDSCOPE_GC_BETWEEN"] = "1"
        out.update(self.user_env)  # what the user chose, credentials included
        user_wrapper = self.user_env.get("AWS_LAMBDA_EXEC_WRAPPER")
        if self.monitor and user_wrapper:
            # the monitor's wrapper runs first and chains to the user's
            out["AWS_LAMBDA_EXEC_WRAPPER"] = _monitor_wrapper()
            out["FDSCOPE_NEXT_WRAPPER"] = user_wrapper
        out.update(
            {
                "AWS_LAMBDA_RUNTIME_API": env.api.address,
                "_LAMBDA_TELEMETRY_LOG_FD": str(tel_w),
                "FDSCOPE_REPORT_FD": str(rep_w),
                _procs.TOKEN_VAR: env.token,
            }
        )
        return out

    def _pump(self, env: _Environment) -> None:
        """Background I/O for one environment: accept, read output, notice the exit."""
        sel = selectors.DefaultSelector()
        try:
            sel.register(env.api.socket, selectors.EVENT_READ, "accept")
            sel.register(env.stop_r, selectors.EVENT_READ, "stop")
            sel.register(env.report_fd, selectors.EVENT_READ, "report")
            out_fds = set(env.collector.fds)
            for fd in out_fds:
                sel.register(fd, selectors.EVENT_READ, "out")
            if env.pidfd is not None:
                sel.register(env.pidfd, selectors.EVENT_READ, "exit")
            while True:
                events = sel.select(timeout=None if env.pidfd is not None else 0.1)
                for key, _ in events:
                    what = key.data
                    if what == "stop":
                        return
                    if what == "accept":
                        with contextlib.suppress(OSError):
                            env.api.accept()
                    elif what == "out":
                        env.collector.drain()
                        still = set(env.collector.fds)
                        for fd in out_fds - still:
                            sel.unregister(fd)
                        out_fds = still
                    elif what == "report":
                        with self._log.lock if self._log else contextlib.nullcontext():
                            if self._drain_reports(env):
                                sel.unregister(env.report_fd)
                    elif what == "exit":
                        sel.unregister(key.fd)
                        self._mark_exited(env)
                if env.pidfd is None and not env.exited.is_set() and env.proc.poll() is not None:
                    self._mark_exited(env)
        except (OSError, ValueError):  # descriptors closed under us at teardown
            return
        finally:
            sel.close()

    @staticmethod
    def _mark_exited(env: _Environment) -> None:
        env.exited.set()
        if env.wake is not None:
            env.wake.set()

    def _drain_reports(self, env: _Environment) -> bool:
        """Move complete origins reports from the pipe to ``origins.jsonl``; True at EOF."""
        fd = env.report_fd
        if fd < 0:
            return True
        eof = False
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                break
            except OSError:
                eof = True
                break
            if not chunk:
                eof = True
                break
            env.report_buf += chunk
        buf = env.report_buf
        lines: list[bytes] = []
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            lines.append(bytes(buf[:nl]))
            del buf[: nl + 1]
        if eof and buf.strip():
            lines.append(bytes(buf))
            buf.clear()
        with self._origins_lock:
            for line in lines:
                if not line.strip():
                    continue
                try:
                    report = json.loads(line)
                except ValueError:
                    report = {"malformed": line.decode("utf-8", "replace")[:1000]}
                if not isinstance(report, dict):
                    report = {"value": report}
                report["child_invocation"] = report.get("invocation")
                report["invocation"] = self._active_number
                report["stream"] = env.stream
                if self._origins_fh is not None and not self._origins_fh.closed:
                    self._origins_fh.write(json.dumps(report) + "\n")
            if lines and self._origins_fh is not None and not self._origins_fh.closed:
                self._origins_fh.flush()
        return eof

    def _end_environment(self, env: _Environment) -> None:
        """Kill the runtime and all its descendants; collect the last output."""
        survivors = _procs.kill_environment(env.proc.pid, env.token)
        with contextlib.suppress(subprocess.TimeoutExpired):
            env.proc.wait(timeout=5.0)
        env.api.close()
        with contextlib.suppress(OSError):
            os.write(env.stop_w, b"x")
        if env.pump is not None:
            env.pump.join(timeout=5.0)
        if self._log is not None:
            with self._log.lock:
                env.collector.finish()
                self._drain_reports(env)
        for fd in (env.report_fd, env.stop_r, env.stop_w, env.pidfd):
            if fd is not None and fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        env.report_fd = -1
        shutil.rmtree(env.tmp.parent, ignore_errors=True)
        if survivors:
            raise DoctorError(f"could not kill processes {survivors} of the environment")


def run(
    handler: str,
    n: int,
    *,
    out_dir: Path,
    event: Any = None,
    events: Iterable[Any] | None = None,
    progress: Callable[[Sample], None] | None = None,
    **options: Any,
) -> RunResult:
    """Invoke ``handler`` ``n`` times in a :class:`LocalLambda`; return every sample.

    ``events`` (cycled) overrides ``event``; ``progress`` is called after each
    invocation; ``options`` are :class:`LocalLambda`'s keyword arguments.
    """
    if n < 0:
        raise DoctorError("the number of invocations must be >= 0")
    cycle = list(events) if events is not None else None
    samples: list[Sample] = []
    fn = LocalLambda(handler, out_dir=out_dir, **options)
    with fn:
        for i in range(n):
            ev = cycle[i % len(cycle)] if cycle else event
            s = fn.invoke(ev)
            samples.append(s)
            if progress is not None:
                progress(s)
    run_json = json.loads((Path(out_dir) / "run.json").read_text())
    return RunResult(Path(out_dir), tuple(samples), run_json)


def _mentions_emfile(*parts: Any) -> bool:
    text = json.dumps(parts, default=str)
    return any(m in text for m in _logs.EMFILE_MARKERS)


def _monitor_wrapper() -> str:
    """The in-function monitor's ``AWS_LAMBDA_EXEC_WRAPPER`` script (fdscope.monitor)."""
    try:
        import fdscope.monitor as monitor
    except ImportError as exc:
        raise DoctorError(f"the in-function monitor (fdscope.monitor) is not available: {exc}")
    for attr in ("exec_wrapper", "wrapper_path", "EXEC_WRAPPER", "WRAPPER"):
        value = getattr(monitor, attr, None)
        if callable(value):
            value = value()
        if value:
            return str(value)
    raise DoctorError("fdscope.monitor offers no AWS_LAMBDA_EXEC_WRAPPER script")


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _version() -> str | None:
    try:
        from importlib.metadata import version

        return version("fdscope")
    except Exception:
        return None


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)
