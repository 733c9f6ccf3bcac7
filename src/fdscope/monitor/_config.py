"""The monitor's settings, read from environment variables once per process."""

from __future__ import annotations

import os

from fdscope.errors import EmfValidationError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from collections.abc import Mapping

# Lambda Insights' member names and units, plus fdscope's own (FORMATS.md section 4).
UNITS: dict[str, str] = {
    "fd_use": "Count",
    "fd_max": "Count",
    "fd_opened": "Count",
    "fd_closed": "Count",
    "fd_net": "Count",
    "new_connections": "Count",
    "threads_max": "Count",
    "used_memory_max": "Megabytes",
    "memory_utilization": "Percent",
    "total_memory": "Megabytes",
    "cpu_user_time": "Milliseconds",
    "cpu_system_time": "Milliseconds",
    "cpu_total_time": "Milliseconds",
    "tmp_used": "Bytes",
    "tmp_max": "Bytes",
    "rx_bytes": "Bytes",
    "tx_bytes": "Bytes",
    "total_network": "Bytes",
    "duration": "Milliseconds",
    "billed_duration": "Milliseconds",
    "init_duration": "Milliseconds",
}
DEFAULT_METRICS = (
    "fd_use",
    "fd_net",
    "new_connections",
    "threads_max",
    "duration",
    "used_memory_max",
)
DEFAULT_DIMENSIONS = (("function_name",), ("function_name", "version"))
STRING_MEMBERS = ("function_name", "version")

ENV_VARS: dict[str, str] = {
    "FDSCOPE_MONITOR": "0 turns the monitor off (the handler runs untouched); default on",
    "FDSCOPE_EMF": "0 stops the per-invocation EMF record (the leak watch still runs)",
    "FDSCOPE_NAMESPACE": "metric namespace; default fdscope",
    "FDSCOPE_DIMENSIONS": "dimension sets: keys joined by ',' and sets by ';'; "
    "default function_name;function_name,version",
    "FDSCOPE_DIM_<KEY>": "adds a constant string member <KEY> usable as a dimension",
    "FDSCOPE_METRICS": "members declared as metrics, comma-separated; default "
    + ",".join(DEFAULT_METRICS),
    "FDSCOPE_WARN_WITHIN": "warn when the limit is projected within this many invocations; default 200",
    "FDSCOPE_EMFILE_MARGIN": "descriptors below the limit that count as 'near the limit' "
    "(the fd_near_limit WARNING; a library's disguise counts as EMFILE there); "
    "default limit/64 between 2 and 16 (16 at Lambda's 1,024)",
    "FDSCOPE_WINDOW": "invocations the leak watch keeps; default 48",
    "FDSCOPE_SCAN": "when to list descriptors for fd_opened/fd_closed/rx/tx (and C-made "
    "connections added to new_connections, which is counted on every invocation): "
    "auto (the first 8 invocations, then every 16th, or every (fd_use/16)th above 256 "
    "descriptors), always, never; default auto",
    "FDSCOPE_HANDLER": "the original handler (the exec wrapper sets it from _HANDLER)",
    "FDSCOPE_NEXT_WRAPPER": "another exec wrapper to chain to (OpenTelemetry, Datadog, ...)",
    "FDSCOPE_TRACK": "1 starts origins tracking before the handler module is imported",
    "FDSCOPE_REPORT_FD": "descriptor to send an origins report to after each invocation",
}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise EmfValidationError(name, f"must be an integer, got {raw!r}") from None
    if value < 0:
        raise EmfValidationError(name, f"must be >= 0, got {value}")
    return value


_FIELDS = (
    "enabled",
    "emf",
    "namespace",
    "dimension_sets",
    "metrics",
    "constants",
    "warn_within",
    "emfile_margin",
    "window",
    "scan",
    "function_name",
    "version",
    "memory_mb",
)


class Config:
    """Everything the monitor is told; :meth:`from_env` reads it (raises EmfValidationError).

    A plain read-only class rather than a dataclass: ``dataclasses`` costs
    milliseconds of import inside every cold start.
    """

    __slots__ = _FIELDS
    enabled: bool
    emf: bool
    namespace: str
    dimension_sets: tuple[tuple[str, ...], ...]
    metrics: tuple[str, ...]
    constants: Mapping[str, str]  # FDSCOPE_DIM_<KEY>
    warn_within: int
    emfile_margin: int | None  # None: limit // 64, between 2 and 16
    window: int
    scan: str
    function_name: str
    version: str
    memory_mb: int | None

    def __init__(
        self,
        enabled: bool = True,
        emf: bool = True,
        namespace: str = "fdscope",
        dimension_sets: tuple[tuple[str, ...], ...] = DEFAULT_DIMENSIONS,
        metrics: tuple[str, ...] = DEFAULT_METRICS,
        constants: Mapping[str, str] | None = None,
        warn_within: int = 200,
        emfile_margin: int | None = None,
        window: int = 48,
        scan: str = "auto",
        function_name: str = "unknown",
        version: str = "$LATEST",
        memory_mb: int | None = None,
    ) -> None:
        values = dict(locals())
        values["constants"] = dict(constants or {})
        for name in _FIELDS:
            object.__setattr__(self, name, values[name])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Config is read-only")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and all(
            getattr(self, f) == getattr(other, f) for f in _FIELDS
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in _FIELDS)
        return f"Config({inner})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """The configuration the environment asks for; invalid values raise EmfValidationError."""
        e = os.environ if env is None else env
        constants = {
            k[len("FDSCOPE_DIM_") :]: v for k, v in e.items() if k.startswith("FDSCOPE_DIM_") and v
        }
        sets_raw = e.get("FDSCOPE_DIMENSIONS", "").strip()
        if sets_raw:
            sets = tuple(
                tuple(k.strip() for k in part.split(",") if k.strip())
                for part in sets_raw.split(";")
                if part.strip()
            )
        else:
            sets = DEFAULT_DIMENSIONS
        known = set(STRING_MEMBERS) | set(constants)
        for s in sets:
            for k in s:
                if k not in known:
                    raise EmfValidationError(
                        "FDSCOPE_DIMENSIONS",
                        f"{k!r} is not a string member (known: {sorted(known)})",
                    )
        metrics_raw = e.get("FDSCOPE_METRICS", "").strip()
        metrics = (
            tuple(m.strip() for m in metrics_raw.split(",") if m.strip())
            if metrics_raw
            else DEFAULT_METRICS
        )
        for m in metrics:
            if m not in UNITS:
                raise EmfValidationError("FDSCOPE_METRICS", f"{m!r} is not a numeric member")
        scan = e.get("FDSCOPE_SCAN", "auto").strip() or "auto"
        if scan not in ("auto", "always", "never"):
            raise EmfValidationError("FDSCOPE_SCAN", f"must be auto, always or never, got {scan!r}")
        mem = e.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "").strip()
        return cls(
            enabled=e.get("FDSCOPE_MONITOR", "1").strip() != "0",
            emf=e.get("FDSCOPE_EMF", "1").strip() != "0",
            namespace=e.get("FDSCOPE_NAMESPACE", "").strip() or "fdscope",
            dimension_sets=sets,
            metrics=metrics,
            constants=constants,
            warn_within=_int(e, "FDSCOPE_WARN_WITHIN", 200),
            emfile_margin=_int(e, "FDSCOPE_EMFILE_MARGIN", -1)
            if e.get("FDSCOPE_EMFILE_MARGIN", "").strip()
            else None,
            window=max(8, _int(e, "FDSCOPE_WINDOW", 48)),
            scan=scan,
            function_name=e.get("AWS_LAMBDA_FUNCTION_NAME", "").strip() or "unknown",
            version=e.get("AWS_LAMBDA_FUNCTION_VERSION", "").strip() or "$LATEST",
            memory_mb=int(mem) if mem.isdigit() else None,
        )
