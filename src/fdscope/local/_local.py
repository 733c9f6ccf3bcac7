"""``LocalLambda``: a handler run the way Lambda runs it, watched from outside.

One execution environment at a time (:mod:`fdscope.local._environment`): a
child process running the runtime interface client against a Runtime API on
127.0.0.1, under Lambda's limits. The module is imported once and the process
reused; a timeout, a crash, an exit or an init error ends the environment and
the next invocation is a cold start in a new one (a new log stream). After
each invocation the process tree is sampled from outside with
:mod:`fdscope.handles`. Everything goes to a run directory (FORMATS.md
section 2, :mod:`fdscope.local._records`) as it happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fdscope import exhaustion
from fdscope.errors import DoctorError
from fdscope.local import _logs, _procs
from fdscope.local._api import Invocation
from fdscope.local._environment import (
    RESERVED,
    Environment,
    OriginsSink,
    Settings,
    start_environment,
)
from fdscope.local._memory import MIB, OOM_ERROR, OOM_HOW
from fdscope.local._records import (
    EnvironmentRecord,
    Measured,
    RunFile,
    RunLock,
    RunResult,
    Sample,
    claim_run_dir,
    fdscope_version,
    interruption,
    new_run_id,
    now_iso,
)
from fdscope.local.runtimes import Handler, Runtime, select_runtime

INIT_TIMEOUT_S = 10.0  # Lambda's limit on the init phase (on-demand)


@dataclass(frozen=True)
class _Failure:
    """How an invocation that got no answer ended: a timeout, an init error, a crash."""

    status: str  # the sample's status
    error_type: str
    message: str
    report_status: str  # REPORT's "Status:"
    how: str = ""  # a crash: how the runtime exited


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
        runtime: Runtime | str | None = None,
        node: str | None = None,
        node_client: str = "auto",
        force: bool = False,
        run_lock: RunLock | None = None,
    ) -> None:
        # force: replace a run already in out_dir (else RunDirError); run_lock: the
        # directory's lock, already taken (and the directory cleared) by the caller
        # runtime: a Runtime, or Lambda's name for one (python3.X, nodejsNN.x), or
        # None: chosen from the handler (select_runtime)
        if isinstance(runtime, Runtime):
            self.runtime = runtime
        else:
            self.runtime = select_runtime(
                handler, code_root, runtime=runtime, python=python, node=node, client=node_client
            )
        if monitor and not self.runtime.in_function_monitor:
            monitor = False  # fdscope.monitor is Python's (an exec wrapper around awslambdaric)
        self.handler: Handler = self.runtime.parse_handler(
            handler, Path(code_root) if code_root else None
        )
        self.handler_text = handler
        self.out_dir = Path(out_dir)
        self.force = force
        self._lock = run_lock
        self._own_lock = run_lock is None
        self.run_id: str | None = None  # run.json's, set when the run opens
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
            if key in RESERVED or key in self.runtime.reserved:
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
        self._env: Environment | None = None
        self._root: Path | None = None
        self._settings: Settings | None = None
        self._log: _logs.EventLog | None = None
        self._samples_fh: Any = None
        self._origins: OriginsSink | None = None
        self._run = RunFile(self.out_dir / "run.json", {})
        self._first_event: Any = None
        self.last_response: bytes | None = None  # the function's last response body
        self.history: list[EnvironmentRecord] = []  # every environment started
        self._opened = False
        self._closed = False

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self) -> LocalLambda:
        self.open()
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close(interrupted=interruption(exc))

    def open(self) -> None:
        """Create the run directory and the private staging area (idempotent)."""
        if self._opened:
            return
        if self._closed:
            raise DoctorError("this LocalLambda is closed")
        runtime = self.runtime.record()  # runs the interpreter: fails before anything is made
        if self._lock is None:  # refused while another process writes it or another run is in it
            self._lock = claim_run_dir(self.out_dir, force=self.force, what="fdscope run")
        try:
            self._open_files(runtime)
        except BaseException:
            if self._own_lock:
                self._lock.release()
            raise
        self._opened = True

    def _open_files(self, runtime: Mapping[str, Any]) -> None:
        self.run_id = new_run_id()
        self._root = Path(tempfile.mkdtemp(prefix="fdscope-lambda-"))
        staging = self._root / "runtime"
        self.runtime.prepare(staging)
        self._settings = self._settings_for(staging)
        for name in ("events.jsonl", "samples.jsonl", "origins.jsonl"):
            (self.out_dir / name).write_text("")
        self._log = _logs.EventLog(self.out_dir / "events.jsonl", self.log_group)
        self._samples_fh = (self.out_dir / "samples.jsonl").open("a", encoding="utf-8")
        self._origins = OriginsSink(self.out_dir / "origins.jsonl")
        self._origins.run_id = self.run_id
        self._run.data = {
            "schema": "fdscope.run/1",
            "run_id": self.run_id,
            "handler": self.handler_text,
            "lambda_handler": self.handler.name,
            "code_root": str(self.handler.code_root),
            "function_name": self.function_name,
            **runtime,  # "runtime" and its versions (Runtime.record)
            "fdscope": fdscope_version(),
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
            "started": now_iso(),
            "finished": None,
            "interrupted": None,  # null while it runs (or when fdscope was killed)
            "pid": os.getpid(),
        }
        self._run.write()

    def close(self, interrupted: str | None = None) -> None:
        """Kill the environment and every process it started; finish ``run.json``
        (``interrupted``: why the run stopped early, see :meth:`RunFile.finish`)."""
        if self._closed or not self._opened:
            self._closed = True
            return
        self._closed = True
        try:
            if self._env is not None:
                self._env.end()
                self._env = None
        finally:
            if self._log is not None:
                self._log.close()
            if self._samples_fh is not None:
                self._samples_fh.close()
            if self._origins is not None:
                self._origins.close()
            if self._log is not None:  # the cap on events.jsonl and what it dropped
                self._run.data["logs"] = self._log.record()
            try:
                self._run.finish(self.invocations, self.environments, interrupted)
            finally:
                if self._own_lock and self._lock is not None:
                    self._lock.release()
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)

    def _settings_for(self, staging: Path) -> Settings:
        return Settings(
            handler=self.handler,
            runtime=self.runtime,
            staging=staging,
            fd_limit=self.fd_limit,
            memory_mb=self.memory_mb,
            region=self.region,
            function_name=self.function_name,
            log_group=self.log_group,
            layers=self.layers,
            user_env=self.user_env,
            aws_endpoint=self.aws_endpoint,
            monitor=self.monitor,
            track_origins=self.track_origins,
            allow_network=self.allow_network,
            gc_between=self.gc_between,
            sample=self.sample,
        )

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
            self._run.data["event"] = event
        body = json.dumps({} if event is None else event).encode("utf-8")
        number = self.invocations + 1
        env = self._env
        if env is not None and not env.alive:
            env.end()
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
        assert self._origins is not None
        self._origins.invocation = number
        with self._log.lock:
            self._log.emfile_reset()
        submitted = time.time()
        submitted_mono = time.monotonic()
        env.api.submit(inv)
        outcome = self._await(env, inv, submitted_mono)
        if outcome == "crash" and inv.dispatched_at is None and not cold:
            # the runtime exited between invocations without taking this one (Node's
            # client exits after reporting an uncaught exception): a new environment
            env.end()
            env = self._env = self._spawn()
            cold = True
            env.wake = inv.wake
            env.api.waiters = [inv.wake]
            inv.wake.clear()
            env.api.submit(inv)
            outcome = self._await(env, inv, submitted_mono)
        if env.memory is not None and env.memory.check():
            outcome = "oom"  # over the memory size: Lambda ends the environment (_memory)
        self.invocations = number
        env.invocations += 1
        sample = self._finish_invocation(env, inv, outcome, number, cold, submitted)
        self._samples_fh.write(json.dumps(sample.to_json()) + "\n")
        self._samples_fh.flush()
        self._log.flush()
        self._run.data["invocations"] = self.invocations
        return sample

    def _await(self, env: Environment, inv: Invocation, t0: float) -> str:
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
        env: Environment,
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
        end_env = False
        m = Measured(peak_mb=env.peak_mb)

        self.last_response = inv.result
        if outcome in ("response", "error"):
            end = inv.finished_at or time.time()
            duration = ((inv.finished_mono or 0) - (inv.dispatched_mono or 0)) * 1000
            if self.freeze:
                _procs.freeze(pid)
            m = env.measure()
            if outcome == "error" and inv.error is not None:
                error_type = str(inv.error.get("errorType") or "Unhandled")
                error_message = str(inv.error.get("errorMessage") or "")
            status = "error" if outcome == "error" else "ok"
            with log.lock:
                env.collector.drain()
                env.drain_reports()
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
            failure, measured = self._failure(env, inv, outcome)
            status, error_type, error_message = failure.status, failure.error_type, failure.message
            if measured is not None:
                m = measured
            if outcome == "timeout" and inv.dispatched_at is not None:
                duration = self.timeout_s * 1000
            init_ms = self._log_failure(env, inv, outcome, failure, cold, init_ms, now, duration, m)
        if self._is_emfile(m, status, error_type, error_message, inv) and status != "timeout":
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
            run_id=self.run_id,
        )
        if end_env:
            env.end()
            self._env = None
        return sample

    def _failure(
        self, env: Environment, inv: Invocation, outcome: str
    ) -> tuple[_Failure, Measured | None]:
        """How an invocation without an answer ended; a timeout is measured where it hangs."""
        if outcome == "oom":  # Lambda's words for a runtime killed over its memory size
            message = f"RequestId: {inv.request_id} Error: Runtime exited with error: {OOM_HOW}"
            over = (env.memory.last_rss if env.memory else None) or 0
            peak = max(self.memory_mb, env.peak_mb, over // MIB)
            return _Failure("crash", OOM_ERROR, message, "error", OOM_HOW), Measured(
                rss=over or None, peak_mb=peak
            )
        if outcome == "timeout":
            message = f"Task timed out after {self.timeout_s:.2f} seconds"
            _procs.freeze(env.proc.pid)  # stop it where it hangs, then look
            return _Failure("timeout", "Sandbox.Timedout", message, "timeout"), env.measure()
        if outcome == "init_error":
            err = env.api.init_error or {}
            failure = _Failure(
                "error",
                str(err.get("errorType") or "Runtime.Unknown"),
                str(err.get("errorMessage") or ""),
                "error",
            )
            with contextlib.suppress(subprocess.TimeoutExpired):
                env.proc.wait(timeout=2.0)  # the runtime client exits after /init/error
            return failure, None
        # crash
        with contextlib.suppress(subprocess.TimeoutExpired):
            env.proc.wait(timeout=2.0)
        how = _procs.exit_description(env.proc.returncode or 0)
        message = f"RequestId: {inv.request_id} Error: Runtime exited with error: {how}"
        return _Failure("crash", "Runtime.ExitError", message, "error", how), None

    def _log_failure(
        self,
        env: Environment,
        inv: Invocation,
        outcome: str,
        failure: _Failure,
        cold: bool,
        init_ms: float | None,
        now: float,
        duration: float,
        m: Measured,
    ) -> float | None:
        """Lambda's lines for an invocation without an answer; the init duration."""
        assert self._log is not None
        log, stream, rid = self._log, env.stream, inv.request_id
        with log.lock:
            env.collector.drain()
            env.drain_reports()
            if outcome == "timeout" and inv.dispatched_at is None and cold:
                init_ms = (time.monotonic() - env.spawned_mono) * 1000
                log.emit(stream, _logs.init_report_line(init_ms, "timeout", None))
            if outcome in ("init_error", "crash", "oom") and init_ms is None and cold:
                # the runtime never asked for an invocation: init failed
                init_ms = (time.monotonic() - env.spawned_mono) * 1000
                log.emit(stream, _logs.init_report_line(init_ms, "error", failure.error_type))
            if inv.dispatched_at is None:
                log.emit(stream, _logs.start_line(rid))
            if outcome == "timeout":
                log.emit(stream, _logs.timeout_line(rid, self.timeout_s, now))
            elif outcome == "crash":
                log.emit(stream, _logs.exit_line(rid, failure.how))
            elif outcome == "oom":
                line = _logs.exit_line(rid, failure.how)
                log.emit(stream, line.replace("Runtime.ExitError", failure.error_type))
            log.emit(stream, _logs.end_line(rid))
            log.emit(
                stream,
                _logs.report_line(
                    rid,
                    duration,
                    self.memory_mb,
                    m.peak_mb,
                    init_ms,
                    status=failure.report_status,
                    error_type=failure.error_type,
                ),
            )
        return init_ms

    def _is_emfile(
        self,
        m: Measured,
        status: str,
        error_type: str | None,
        error_message: str | None,
        inv: Invocation,
    ) -> bool:
        """Did this invocation meet an exhausted descriptor table (EMFILE)?"""
        assert self._log is not None
        log = self._log
        # the exhaustion table's rows in the output and in the error, counted by its rules:
        # ALWAYS rows anyway, the words when the invocation failed or one process stood at
        # the limit, a library's disguise only at the limit (fdscope.exhaustion)
        limit = self.fd_limit
        held = m.fd_process
        near = held is not None and held >= limit - exhaustion.default_margin(limit)
        with log.lock:  # the collector thread adds to it
            rows = set(log.emfile_rows)
        if error_type or error_message or inv.error:
            text = json.dumps([error_type, error_message, inv.error], default=str)
            rows.update(exhaustion.match_line(text))
        return any(exhaustion.counts(r, failed=status != "ok", at_limit=near) for r in rows)

    def _spawn(self) -> Environment:
        assert self._root is not None and self._settings is not None
        assert self._log is not None and self._origins is not None
        self.environments += 1
        self._run.data["environments"] = self.environments
        env = start_environment(
            self._settings, self.environments, self._root, self._log, self._origins
        )
        if self._run.data.get("sandbox") != env.sandbox:  # what the sandbox holds (_sandbox)
            self._run.data["sandbox"] = env.sandbox
            self._run.write()
        self.history.append(
            EnvironmentRecord(
                env.number, env.stream, env.token, env.proc.pid, env.api.port, str(env.tmp)
            )
        )
        memory = env.memory.record() if env.memory is not None else None
        if memory is not None and self._run.data.get("memory") != memory:
            self._run.data["memory"] = memory  # the size and how it is enforced (_memory)
            self._run.write()
        return env


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


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
