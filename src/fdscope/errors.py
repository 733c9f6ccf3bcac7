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
    ├── AwsSetupError             AWS cannot be called from here; ``hint`` says what to do
    │   ├── NoRegion              no region configured
    │   ├── NoCredentials         no credentials (or a profile, SSO token, key refused)
    │   └── EndpointUnreachable   no connection to the endpoint
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


class AwsSetupError(FdscopeError):
    """AWS could not be called: ``problem`` (what botocore said, in words), ``hint`` (what to
    do). Raised for fdscope's own AWS calls by :class:`fdscope._aws_errors.aws_errors`."""

    def __init__(self, what: str, problem: str, hint: str) -> None:
        self.what = what
        self.problem = problem
        self.hint = hint
        super().__init__(f"{what}: {problem}\n  hint: {hint}")


class NoRegion(AwsSetupError):
    """No AWS region is configured."""


class NoCredentials(AwsSetupError):
    """No usable AWS credentials: none found, a missing profile, an expired token."""


class EndpointUnreachable(AwsSetupError):
    """The AWS endpoint (or ``--endpoint-url``) did not accept a connection."""


class MissingExtra(FdscopeError):
    """An optional dependency is missing; the message names the extra to install.

    ``extra`` is the name in ``pip install 'fdscope[<extra>]'``, ``module`` the
    top-level module that failed to import. Raised by :class:`fdscope._extras.extra`.
    """

    def __init__(self, extra: str, module: str, msg: str | None = None) -> None:
        self.extra = extra
        self.module = module
        super().__init__(msg or f"{module} is not installed: pip install 'fdscope[{extra}]'")
