"""The one exception tree of fdscope.

::

    FdscopeError
    ├── HandlesError              inventory of open descriptors (fdscope.handles)
    │   ├── ProcessGone           the process exited (names the pid)
    │   └── AccessDenied          no permission to read it (names the pid)
    ├── OriginsError              creation-site tracking (fdscope.origins)
    ├── LogReadError              a log source cannot be opened at all (fdscope.logs)
    ├── EmfError                  Embedded Metric Format (fdscope.emf)
    │   └── EmfValidationError    invalid record; names the field
    ├── DoctorError               local Lambda, invoke, doctor (fdscope.local, fdscope.doctor)
    ├── QueryError                Logs Insights language (fdscope.insights); line, column
    ├── MetricsError              statistics, alarms, charts (fdscope.metrics)
    ├── LintError                 static checker (fdscope.lint)
    └── MissingExtra              an optional dependency is not installed; names the extra

Packages may subclass these in their own modules; the CLI turns any
``FdscopeError`` into one red line and a non-zero exit.
"""

from __future__ import annotations


class FdscopeError(Exception):
    """Root of every error fdscope raises on purpose."""


class HandlesError(FdscopeError):
    """The descriptor inventory failed."""


class ProcessGone(HandlesError):
    """The process exited (or never existed)."""

    def __init__(self, pid: int, msg: str | None = None) -> None:
        self.pid = pid
        super().__init__(msg or f"process {pid} is gone")


class AccessDenied(HandlesError):
    """Not allowed to read the process's descriptors."""

    def __init__(self, pid: int, msg: str | None = None) -> None:
        self.pid = pid
        super().__init__(msg or f"access denied to process {pid}")


class OriginsError(FdscopeError):
    """Creation-site tracking failed."""


class LogReadError(FdscopeError):
    """A log source could not be read at all (a bad line is counted, not raised)."""


class EmfError(FdscopeError):
    """Embedded Metric Format error."""


class EmfValidationError(EmfError):
    """An EMF record breaks the specification; ``field`` names where."""

    def __init__(self, field: str, msg: str) -> None:
        self.field = field
        super().__init__(f"{field}: {msg}")


class DoctorError(FdscopeError):
    """The local Lambda environment or the doctor could not run."""


class QueryError(FdscopeError):
    """A Logs Insights query is malformed or cannot run here."""


class MetricsError(FdscopeError):
    """Statistics, alarm or chart error."""


class LintError(FdscopeError):
    """The static checker could not run (usage, configuration)."""


class MissingExtra(FdscopeError):
    """An optional dependency is missing; the message names the extra to install.

    ``extra`` is the name in ``pip install 'fdscope[<extra>]'``, ``module`` the
    top-level module that failed to import. Raised by :class:`fdscope._extras.extra`.
    """

    def __init__(self, extra: str, module: str, msg: str | None = None) -> None:
        self.extra = extra
        self.module = module
        super().__init__(msg or f"{module} is not installed: pip install 'fdscope[{extra}]'")
