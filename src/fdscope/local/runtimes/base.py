"""What a language's runtime is to the local Lambda: the :class:`Runtime` interface.

Everything else in :mod:`fdscope.local` (the Runtime API, Lambda's limits,
the environment's processes, sampling, the run directory) is language-neutral
and asks the runtime, and only the runtime, for what depends on the language:

- **the handler**: which handler strings it takes, where the code root is and
  what Lambda's ``_HANDLER`` says (:meth:`Runtime.parse_handler`, :class:`Handler`);
- **what to start**: :meth:`~Runtime.prepare` (once per run, a staging folder)
  and :meth:`~Runtime.command` (the runtime interface client's command line);
- **its variables**: ``LAMBDA_TASK_ROOT`` and ``_HANDLER``
  (:meth:`~Runtime.environment`, here) plus the language's own (search paths such
  as ``PYTHONPATH`` or ``NODE_PATH``, the layers' folders under ``/opt``), and
  ``AWS_EXECUTION_ENV`` (:meth:`~Runtime.execution_env`);
- **its logs**: how output becomes log events (:meth:`~Runtime.collector`; by
  default one event per frame on ``_LAMBDA_TELEMETRY_LOG_FD`` and one per line
  of stdout/stderr, as both AWS runtime clients write them) and what
  ``INIT_START ... Runtime Version:`` says (:meth:`~Runtime.init_start_line`);
- **its record**: the fields of ``run.json`` that describe it (:meth:`~Runtime.record`).

A new language is a new module beside :mod:`fdscope.local.runtimes.python`
with a subclass of :class:`Runtime`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fdscope.errors import DoctorError
from fdscope.local import _logs


class HandlerError(DoctorError):
    """The handler string or code root is not usable."""


@dataclass(frozen=True)
class Handler:
    """A parsed handler: Lambda's Handler setting plus the folder it lives in."""

    name: str  # as Lambda's Handler setting (``_HANDLER``): "app.handler", "pkg/mod.handler"
    code_root: Path  # LAMBDA_TASK_ROOT


class Runtime:
    """How to run one language's handlers in the local Lambda. Subclass per language."""

    language = "?"  # run.json's "runtime"
    # child variables the runtime sets itself: the user may not set them (--env)
    reserved: tuple[str, ...] = ()
    in_function_monitor = True  # fdscope.monitor (a Python exec wrapper) can run in it
    network_guard = True  # the child refuses connections beyond loopback (Python: audit hook)
    # UNIX socket files its processes listen on outside the private /tmp (a library's
    # hard-coded /tmp/server-*.sock) are noted after each invocation, removed at the end
    socket_files = False

    # -- the handler ---------------------------------------------------------
    def parse_handler(self, text: str, code_root: Path | None = None) -> Handler:
        """The :class:`Handler` a handler string names; :class:`HandlerError` when the
        form is wrong, the file is missing or certainly defines no such function."""
        raise NotImplementedError

    # -- what to start ----------------------------------------------------------
    def version(self) -> str:
        """The language version the runtime runs (``"3.11"``); DoctorError when the
        interpreter cannot be run."""
        raise NotImplementedError

    def execution_env(self) -> str:
        """Lambda's ``AWS_EXECUTION_ENV`` value."""
        raise NotImplementedError

    def prepare(self, staging: Path) -> None:
        """Put what the child needs in ``staging`` (called once per run)."""

    def command(self, handler: Handler) -> list[str]:
        """The runtime's command line (an exec wrapper, if any, is put in front)."""
        raise NotImplementedError

    def environment(self, handler: Handler, layers: list[Path], staging: Path) -> dict[str, str]:
        """The runtime's own variables: how the handler is passed (Lambda's
        ``LAMBDA_TASK_ROOT`` and ``_HANDLER``, here) and, in a subclass, the
        language's search paths with the layers' folders."""
        return {"LAMBDA_TASK_ROOT": str(handler.code_root), "_HANDLER": handler.name}

    # -- logs ---------------------------------------------------------------------
    def init_start_line(self) -> str:
        """Lambda's ``INIT_START Runtime Version: ...`` line for a new environment."""
        raise NotImplementedError

    def collector(
        self, log: _logs.EventLog, stream: str, *, telemetry_fd: int, output_fds: list[int]
    ) -> _logs.Collector:
        """What turns the runtime's output into log events: by default frames on
        ``_LAMBDA_TELEMETRY_LOG_FD`` (one event each, a traceback stays whole) and
        lines on stdout/stderr (one event each)."""
        return _logs.Collector(log, stream, telemetry_fd=telemetry_fd, output_fds=output_fds)

    # -- the record ---------------------------------------------------------------
    def record(self) -> dict[str, Any]:
        """``run.json``'s fields about the runtime (``runtime`` and the versions)."""
        return {"runtime": self.language}
