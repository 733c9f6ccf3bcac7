"""One execution environment of the local Lambda and its process control.

:func:`start_environment` starts the runtime process (through the
:class:`~fdscope.local.runtimes.Runtime`) against a fresh Runtime API, under
Lambda's limits and with Lambda's variables; an I/O thread (:meth:`Environment.pump`)
accepts the runtime's connections, reads its output and origins reports and
notices its exit. :meth:`Environment.measure` counts the process tree from
outside; :meth:`Environment.end` kills every process and removes its ``/tmp``.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fdscope.errors import DoctorError
from fdscope.local import _logs, _procs, _sandbox, _sockfiles
from fdscope.local._api import Invocation, RuntimeAPI
from fdscope.local._memory import MemoryLimit
from fdscope.local._records import Measured
from fdscope.local.runtimes import Handler, Runtime

# variables the local Lambda sets itself: a user's value would break it
RESERVED = (
    "AWS_LAMBDA_RUNTIME_API",
    "_LAMBDA_TELEMETRY_LOG_FD",
    "FDSCOPE_REPORT_FD",
    _procs.TOKEN_VAR,
)


@dataclass(frozen=True)
class Settings:
    """What every environment of one function shares (set when the run opens)."""

    handler: Handler
    runtime: Runtime
    staging: Path  # what Runtime.prepare put there
    fd_limit: int
    memory_mb: int
    region: str
    function_name: str
    log_group: str
    layers: list[Path]
    user_env: dict[str, str]
    aws_endpoint: str | None
    monitor: bool
    track_origins: bool
    allow_network: bool
    gc_between: bool
    sample: bool | str


class OriginsSink:
    """``origins.jsonl``: every report, stamped with the invocation it follows."""

    def __init__(self, path: Path) -> None:
        self.fh = path.open("a", encoding="utf-8")
        self.lock = threading.Lock()
        self.invocation = 0  # the invocation the next report follows
        self.run_id: str | None = None  # run.json's, stamped on every report

    def close(self) -> None:
        self.fh.close()


class Environment:
    """One execution environment: the runtime process and everything around it."""

    def __init__(
        self,
        number: int,
        stream: str,
        token: str,
        tmp: Path,
        *,
        settings: Settings,
        log: _logs.EventLog,
        origins: OriginsSink,
    ) -> None:
        self.number = number
        self.stream = stream
        self.token = token
        self.tmp = tmp
        self.settings = settings
        self.log = log
        self.origins = origins
        self.api: RuntimeAPI
        self.proc: subprocess.Popen[bytes] | _sandbox.RuntimeProcess
        self.collector: _logs.Collector
        self.report_fd: int = -1
        self.report_buf = bytearray()
        self.spawned_at = time.time()
        self.spawned_mono = time.monotonic()
        self.exited = threading.Event()
        self.wake: threading.Event | None = None  # the active invocation's
        self.invocations = 0
        self.stop_r, self.stop_w = os.pipe()
        self.pump_thread: threading.Thread | None = None
        self.pidfd: int | None = None
        self.memory: MemoryLimit | None = None  # Lambda's memory size, enforced (_memory)
        self.peak_mb = 0  # last known peak RSS (a crashed process cannot be measured)
        self.socket_files: set[str] = set()  # Runtime.socket_files: removed at the end
        self.measures = 0  # measure() calls: the socket-file scan's pace
        self.forwarder: _sandbox.Forwarder | None = None  # endpoints into the namespace
        self.sandbox: dict[str, Any] = {}  # run.json's "sandbox" (what this one got)

    @property
    def alive(self) -> bool:
        if self.exited.is_set():
            return False
        return self.pidfd is not None or self.proc.poll() is None  # a pidfd marks the exit

    # -- Runtime API callbacks (run on the API's thread) -----------------------
    def on_dispatch(self, inv: Invocation) -> None:
        with self.log.lock:
            self.collector.drain()
            self.drain_reports()
            self.log.emit(self.stream, _logs.start_line(inv.request_id))

    def on_finish(self, inv: Invocation) -> None:
        with self.log.lock:
            self.collector.drain()
            self.drain_reports()

    # -- I/O ------------------------------------------------------------------
    def pump(self) -> None:
        """Background I/O for one environment: accept, read output, notice the exit."""
        sel = selectors.DefaultSelector()
        try:
            sel.register(self.api.socket, selectors.EVENT_READ, "accept")
            sel.register(self.stop_r, selectors.EVENT_READ, "stop")
            sel.register(self.report_fd, selectors.EVENT_READ, "report")
            out_fds = set(self.collector.fds)
            for fd in out_fds:
                sel.register(fd, selectors.EVENT_READ, "out")
            if self.pidfd is not None:
                sel.register(self.pidfd, selectors.EVENT_READ, "exit")
            while True:
                events = sel.select(timeout=None if self.pidfd is not None else 0.1)
                for key, _ in events:
                    if key.data == "stop":
                        return
                    out_fds = self._on_ready(sel, key, out_fds)
                if self.pidfd is None and not self.exited.is_set() and self.proc.poll() is not None:
                    self.mark_exited()
        except (OSError, ValueError):  # descriptors closed under us at teardown
            return
        finally:
            sel.close()

    def _on_ready(
        self, sel: selectors.BaseSelector, key: selectors.SelectorKey, out_fds: set[int]
    ) -> set[int]:
        """Serve one ready descriptor of :meth:`pump`; the output descriptors still open."""
        what = key.data
        if what == "accept":
            with contextlib.suppress(OSError):
                self.api.accept()
        elif what == "out":
            self.collector.drain()
            still = set(self.collector.fds)
            for fd in out_fds - still:
                sel.unregister(fd)
            return still
        elif what == "report":
            with self.log.lock:
                if self.drain_reports():
                    sel.unregister(self.report_fd)
        elif what == "exit":
            sel.unregister(key.fd)
            self.mark_exited()
        return out_fds

    def mark_exited(self) -> None:
        self.exited.set()
        if self.wake is not None:
            self.wake.set()

    def drain_reports(self) -> bool:
        """Move complete origins reports from the pipe to ``origins.jsonl``; True at EOF."""
        fd = self.report_fd
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
            self.report_buf += chunk
        buf = self.report_buf
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
        self._write_reports(lines)
        return eof

    def _write_reports(self, lines: list[bytes]) -> None:
        sink = self.origins
        with sink.lock:
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
                report["invocation"] = sink.invocation
                report["stream"] = self.stream
                report["run_id"] = sink.run_id
                if not sink.fh.closed:
                    sink.fh.write(json.dumps(report) + "\n")
            if lines and not sink.fh.closed:
                sink.fh.flush()

    # -- outside view -----------------------------------------------------------
    def measure(self) -> Measured:
        """Count descriptors, threads and memory of the runtime's process tree.

        ``sample=True``: a :func:`fdscope.handles.snapshot` of every process
        (descriptor kinds included); ``"count"``: :func:`fdscope.handles.count`
        of every process only (much cheaper at a thousand descriptors); ``False``:
        memory and threads only. Counts are kept per process too: the limit is
        per process, so the largest one is what meets it.
        """
        sample = self.settings.sample
        pids = _procs.tree(self.proc.pid)
        self.measures += 1
        if self.settings.runtime.socket_files and (
            self.sandbox.get("tmp") != "private" or self.measures % 16 == 1
        ):
            # socket files a process binds and keeps (aws-serverless-express); with a private
            # /tmp those go with it, so the scan (about 0.1 ms) runs every 16th time and at
            # the end, for sockets bound elsewhere
            self.socket_files |= _sockfiles.listening_paths(pids)
        if self.memory is not None:
            self.memory.adopt(pids)  # a process that started before the cgroup took it
        rss, peak, threads = _procs.status(pids)
        peak_mb = self.peak_mb = max(self.peak_mb, int((peak or 0) / (1024 * 1024)))
        m = Measured(threads=threads, rss=rss, peak_mb=peak_mb)
        if not sample:
            return m
        from fdscope import handles

        counts: list[int] = []
        for p in pids:
            try:
                if sample == "count":
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

    # -- the end ------------------------------------------------------------------
    def end(self) -> None:
        """Kill the runtime and all its descendants; collect the last output; remove
        the socket files its processes listened on outside its /tmp."""
        if self.settings.runtime.socket_files and self.proc.poll() is None:
            self.socket_files |= _sockfiles.listening_paths(_procs.tree(self.proc.pid))
        proc = self.proc
        if isinstance(proc, _sandbox.RuntimeProcess):
            proc.release()  # the life pipe: init ends, and everything with it
            if self.sandbox.get("pid_namespace"):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(proc.init_pid, signal.SIGKILL)  # the kernel kills the rest
            else:  # the subreaper kills its descendants first
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5.0)
        survivors = _procs.kill_environment(self.proc.pid, self.token)
        if self.memory is not None:
            self.memory.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5.0)
        self.api.close()
        if self.forwarder is not None:
            self.forwarder.close()
        with contextlib.suppress(OSError):
            os.write(self.stop_w, b"x")
        if self.pump_thread is not None:
            self.pump_thread.join(timeout=5.0)
        with self.log.lock:
            self.collector.finish()
            self.drain_reports()
        for fd in (self.report_fd, self.stop_r, self.stop_w, self.pidfd):
            if fd is not None and fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.report_fd = -1
        shutil.rmtree(self.tmp.parent, ignore_errors=True)
        if self.sandbox.get("tmp") == "private":  # those were in the private /tmp
            self.socket_files = {p for p in self.socket_files if not p.startswith("/tmp/")}
        _sockfiles.remove(self.socket_files)
        if survivors:
            raise DoctorError(f"could not kill processes {survivors} of the environment")


def in_layers(path: str, layers: list[Path]) -> str:
    """``/opt/X`` as the function sees it: X in the last attached layer that holds it.

    Lambda extracts the layers into ``/opt`` in order, a later one over an earlier
    one, so ``AWS_LAMBDA_EXEC_WRAPPER=/opt/fdscope-wrapper`` names the layer's
    script; any other path (or one no layer holds) is left as it is.
    """
    if not path.startswith("/opt/"):
        return path
    rel = path[len("/opt/") :]
    for layer in reversed(layers):
        candidate = Path(layer).resolve() / rel
        if candidate.is_file():
            return str(candidate)
    return path


def start_environment(
    settings: Settings,
    number: int,
    root: Path,
    log: _logs.EventLog,
    origins: OriginsSink,
) -> Environment:
    """Start environment ``number`` (a new log stream, a new ``/tmp`` under ``root``)."""
    stream = _logs.stream_name()
    tmp = root / f"env-{number}" / "tmp"
    tmp.mkdir(parents=True)
    env = Environment(
        number, stream, uuid.uuid4().hex, tmp, settings=settings, log=log, origins=origins
    )
    want = _sandbox.wanted()
    notes: list[str] = []
    netns_fd = _network(env, settings, want, notes)
    tel_r, tel_w = os.pipe()
    rep_r, rep_w = os.pipe()
    out_r, out_w = os.pipe()
    child_env = child_environment(settings, env, tel_w, rep_w)
    runtime = settings.runtime
    cmd = runtime.command(settings.handler)
    wrapper = child_env.get("AWS_LAMBDA_EXEC_WRAPPER")
    if wrapper:
        cmd = [in_layers(wrapper, settings.layers), *cmd]
    limit = settings.fd_limit

    def limits() -> None:  # runs in the child between fork and exec
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    log.emit(stream, runtime.init_start_line())
    env.spawned_at = time.time()
    env.spawned_mono = time.monotonic()
    code_root = str(settings.handler.code_root)
    try:
        if want.any:
            keep = _sandbox.keep_paths(
                [
                    code_root,
                    settings.staging,
                    env.tmp,
                    *settings.layers,
                    *_sandbox.path_values(cmd, child_env),
                ]
            )
            env.proc = _sandbox.launch(
                cmd,
                env=child_env,
                cwd=code_root,
                out_fd=out_w,
                pass_fds=(tel_w, rep_w),
                fd_limit=limit,
                want=want,
                netns_fd=netns_fd,
                tmp=str(env.tmp),
                code_root=code_root,
                keep=keep,
            )
        else:
            env.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=out_w,
                pass_fds=(tel_w, rep_w),
                start_new_session=True,
                cwd=code_root,
                env=child_env,
                preexec_fn=limits,
            )
    except (OSError, DoctorError) as exc:
        for fd in (tel_r, tel_w, rep_r, rep_w, out_r, out_w, netns_fd):
            if fd >= 0:
                os.close(fd)
        env.api.close()
        if env.forwarder is not None:
            env.forwarder.close()
        if isinstance(exc, DoctorError):
            raise
        raise DoctorError(f"cannot start the runtime ({cmd[0]}): {exc}")
    if netns_fd >= 0:
        os.close(netns_fd)
    env.sandbox = _sandbox_record(env.proc, settings, netns_fd >= 0, notes)
    for fd in (tel_w, rep_w, out_w):
        os.close(fd)
    env.collector = runtime.collector(log, stream, telemetry_fd=tel_r, output_fds=[out_r])
    env.report_fd = rep_r
    os.set_blocking(rep_r, False)
    try:
        env.pidfd = os.pidfd_open(env.proc.pid)  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        env.pidfd = None
    env.memory = MemoryLimit(settings.memory_mb, env.token, lambda: env.proc.pid)
    env.memory.start()
    env.pump_thread = threading.Thread(target=env.pump, name=f"fdscope-env-{number}", daemon=True)
    env.pump_thread.start()
    return env


def _network(env: Environment, settings: Settings, want: _sandbox.Want, notes: list[str]) -> int:
    """The Runtime API (and the endpoints' forwarders) in a new network namespace where
    it can be had (its descriptor is returned; -1 and a note where not)."""

    def make_api() -> RuntimeAPI:
        return RuntimeAPI(on_dispatch=env.on_dispatch, on_finish=env.on_finish)

    if not want.net or settings.allow_network:
        env.api = make_api()
        return -1
    endpoints = _sandbox.loopback_endpoints(settings.aws_endpoint, settings.user_env)
    try:
        netns_fd, (env.api, listeners) = _sandbox.in_new_netns(
            lambda: (make_api(), _sandbox.listen_for(endpoints))
        )
    except OSError as exc:
        notes.append(f"network namespace: {exc.strerror or exc}")
        env.api = make_api()
        return -1
    if listeners:
        env.forwarder = _sandbox.Forwarder(listeners)
    return netns_fd


def _sandbox_record(
    proc: subprocess.Popen[bytes] | _sandbox.RuntimeProcess,
    settings: Settings,
    netns: bool,
    notes: list[str],
) -> dict[str, Any]:
    """``run.json``'s ``sandbox``: what this environment got, and why not the rest."""
    guard = settings.runtime.network_guard and not settings.allow_network
    base: dict[str, Any] = {
        "pid_namespace": False,
        "code_root": "writable",
        "tmp": "shared",
        "privileges": "root",
        "notes": [],
    }
    if isinstance(proc, _sandbox.RuntimeProcess):
        base.update(proc.record)
    elif _sandbox.wanted().any is False:
        notes = [*notes, f"sandbox turned off ({_sandbox.SANDBOX_VAR})"]
    base["network"] = _sandbox.network_mode(netns, settings.allow_network, guard)
    base["network_allowed"] = settings.allow_network
    base["notes"] = [*notes, *base["notes"]]
    return base


def child_environment(
    settings: Settings, env: Environment, tel_w: int, rep_w: int
) -> dict[str, str]:
    """The runtime's variables, as Lambda sets them (nothing inherited but ``PATH``)."""
    s = settings
    out: dict[str, str] = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": s.region,
        "AWS_DEFAULT_REGION": s.region,
        "AWS_EXECUTION_ENV": s.runtime.execution_env(),
        "AWS_LAMBDA_FUNCTION_NAME": s.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(s.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": s.log_group,
        "AWS_LAMBDA_LOG_STREAM_NAME": env.stream,
        # No credentials: neither from our environment nor from ~/.aws.
        "AWS_SHARED_CREDENTIALS_FILE": str(env.tmp.parent / "no-aws-credentials"),
        "AWS_CONFIG_FILE": str(env.tmp.parent / "no-aws-config"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "TMPDIR": str(env.tmp),
    }
    # how the handler is passed, the language's search paths, the layers' folders
    out.update(s.runtime.environment(s.handler, s.layers, s.staging))
    out.update(_fdscope_options(s))
    out.update(s.user_env)  # what the user chose, credentials included
    user_wrapper = s.user_env.get("AWS_LAMBDA_EXEC_WRAPPER")
    if s.monitor and user_wrapper:
        # the monitor's wrapper runs first and chains to the user's
        out["AWS_LAMBDA_EXEC_WRAPPER"] = _monitor_wrapper()
        out["FDSCOPE_NEXT_WRAPPER"] = in_layers(user_wrapper, s.layers)
    out.update(
        {
            "AWS_LAMBDA_RUNTIME_API": env.api.address,
            "_LAMBDA_TELEMETRY_LOG_FD": str(tel_w),
            "FDSCOPE_REPORT_FD": str(rep_w),
            _procs.TOKEN_VAR: env.token,
        }
    )
    return out


def _fdscope_options(s: Settings) -> dict[str, str]:
    """The variables for the run's options (endpoint, monitor, tracking, network, gc)."""
    out: dict[str, str] = {}
    if s.aws_endpoint:
        out["AWS_ENDPOINT_URL"] = s.aws_endpoint
        out["AWS_ACCESS_KEY_ID"] = "testing"
        out["AWS_SECRET_ACCESS_KEY"] = "testing"
        out["AWS_SESSION_TOKEN"] = "testing"
    if s.monitor:
        out["AWS_LAMBDA_EXEC_WRAPPER"] = _monitor_wrapper()
    if s.track_origins:
        out["FDSCOPE_TRACK"] = "1"
    if s.allow_network:
        out["FDSCOPE_ALLOW_NETWORK"] = "1"
    if s.gc_between:
        out["_FDSCOPE_GC_BETWEEN"] = "1"
    return out


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
