"""EMF writer: a :class:`Record` validated against the specification, rendered as JSON lines."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from fdscope.emf._spec import (
    FUTURE_MS,
    MAX_DIMENSION_VALUE_LEN,
    MAX_DIMENSIONS_PER_SET,
    MAX_METRICS_PER_DIRECTIVE,
    MAX_NAME_LEN,
    MAX_VALUES_PER_METRIC,
    PAST_MS,
    RESOLUTIONS,
    UNITS,
)
from fdscope.errors import EmfValidationError


@dataclass(frozen=True)
class Metric:
    """One declared metric: a finite number or a non-empty sequence of them."""

    name: str
    value: float | Sequence[float]
    unit: str | None = None  # a CloudWatch unit name; None writes no Unit (CloudWatch: "None")
    resolution: int = 60  # StorageResolution: 60 (standard) or 1 (high resolution)


@dataclass(frozen=True)
class Record:
    """One EMF document before validation and splitting.

    ``dimensions`` are the target members (key -> string value);
    ``dimension_sets`` the sets to publish (None: one set holding every key in
    ``dimensions``, in order); ``properties`` any other members (JSON values);
    ``timestamp`` ms since the epoch (None: now).
    """

    namespace: str
    metrics: Sequence[Metric]
    dimensions: Mapping[str, str] = field(default_factory=dict)
    dimension_sets: Sequence[Sequence[str]] | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    timestamp: int | None = None


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_name(fieldname: str, name: object) -> None:
    if not isinstance(name, str):
        raise EmfValidationError(fieldname, f"must be a string, not {type(name).__name__}")
    if not 1 <= len(name) <= MAX_NAME_LEN:
        raise EmfValidationError(fieldname, f"length must be 1..{MAX_NAME_LEN}, got {len(name)}")


def _values(m: Metric) -> list[float]:
    where = f"metrics[{m.name}].value"
    v = m.value
    if _is_number(v):
        seq: list[Any] = [v]
    elif isinstance(v, (str, bytes)) or not isinstance(v, Sequence):
        raise EmfValidationError(where, f"must be a number or a sequence of numbers, not {v!r:.40}")
    else:
        seq = list(v)
        if not seq:
            raise EmfValidationError(where, "must not be empty")
    for x in seq:
        if not _is_number(x):
            raise EmfValidationError(where, f"must be numbers, got {x!r:.40}")
        if not math.isfinite(x):
            raise EmfValidationError(where, f"must be finite, got {x!r}")
    return seq


def validate(record: Record, *, now_ms: int | None = None) -> None:  # noqa: C901
    """Check ``record`` against the EMF specification; raise EmfValidationError naming the field."""
    _check_name("namespace", record.namespace)
    if record.namespace.startswith("AWS/"):
        raise EmfValidationError("namespace", "must not start with 'AWS/' (reserved by AWS)")
    reserved = {"_aws"}
    dims = record.dimensions
    if not isinstance(dims, Mapping):
        raise EmfValidationError("dimensions", "must be a mapping of key to string value")
    for k, v in dims.items():
        _check_name(f"dimensions[{k}]", k)
        if k in reserved:
            raise EmfValidationError(f"dimensions[{k}]", "the name _aws is reserved")
        if not isinstance(v, str):
            raise EmfValidationError(f"dimensions[{k}]", f"value must be a string, not {v!r:.40}")
        if not 1 <= len(v) <= MAX_DIMENSION_VALUE_LEN:
            raise EmfValidationError(
                f"dimensions[{k}]",
                f"value length must be 1..{MAX_DIMENSION_VALUE_LEN}, got {len(v)}",
            )
    sets = record.dimension_sets
    if sets is not None:
        for i, s in enumerate(sets):
            if isinstance(s, str) or not isinstance(s, Sequence):
                raise EmfValidationError(f"dimension_sets[{i}]", "must be a sequence of keys")
            if len(s) > MAX_DIMENSIONS_PER_SET:
                raise EmfValidationError(
                    f"dimension_sets[{i}]",
                    f"at most {MAX_DIMENSIONS_PER_SET} keys per dimension set, got {len(s)}",
                )
            if len(set(s)) != len(s):
                raise EmfValidationError(f"dimension_sets[{i}]", "keys repeat")
            for k in s:
                if k not in dims:
                    raise EmfValidationError(
                        f"dimension_sets[{i}]", f"key {k!r} is not in dimensions"
                    )
    elif len(dims) > MAX_DIMENSIONS_PER_SET:
        raise EmfValidationError(
            "dimensions",
            f"at most {MAX_DIMENSIONS_PER_SET} keys per dimension set, got {len(dims)}",
        )
    if not record.metrics:
        raise EmfValidationError("metrics", "at least one metric is required")
    seen: set[str] = set()
    for m in record.metrics:
        if not isinstance(m, Metric):
            raise EmfValidationError("metrics", f"items must be Metric, not {type(m).__name__}")
        _check_name(f"metrics[{m.name}].name", m.name)
        if m.name in seen:
            raise EmfValidationError(f"metrics[{m.name}].name", "declared twice")
        if m.name in dims or m.name in reserved:
            raise EmfValidationError(f"metrics[{m.name}].name", "collides with a dimension")
        seen.add(m.name)
        if m.unit is not None and m.unit not in UNITS:
            raise EmfValidationError(
                f"metrics[{m.name}].unit", f"{m.unit!r} is not a CloudWatch unit"
            )
        if m.resolution not in RESOLUTIONS or isinstance(m.resolution, bool):
            raise EmfValidationError(
                f"metrics[{m.name}].resolution", f"must be 1 or 60, got {m.resolution!r}"
            )
        _values(m)
    for k, v in record.properties.items():
        if not isinstance(k, str):
            raise EmfValidationError(f"properties[{k!r}]", "keys must be strings")
        if k in seen or k in dims or k in reserved:
            raise EmfValidationError(f"properties[{k}]", "collides with a metric or dimension")
        try:
            json.dumps(v, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise EmfValidationError(f"properties[{k}]", f"not a JSON value: {exc}")
    ts = record.timestamp
    if ts is not None:
        if not isinstance(ts, int) or isinstance(ts, bool):
            raise EmfValidationError(
                "timestamp", f"must be an int (ms since the epoch), got {ts!r}"
            )
        now = int(time.time() * 1000) if now_ms is None else now_ms
        if ts < now - PAST_MS:
            raise EmfValidationError("timestamp", "more than 14 days in the past")
        if ts > now + FUTURE_MS:
            raise EmfValidationError("timestamp", "more than 2 hours in the future")


def render(record: Record, *, now_ms: int | None = None) -> list[dict[str, Any]]:
    """Validated EMF documents for ``record``: split beyond 100 metrics or 100 values per metric.

    Raises EmfValidationError (with ``field``) when the record breaks the specification.
    """
    validate(record, now_ms=now_ms)
    ts = record.timestamp
    if ts is None:
        ts = int(time.time() * 1000) if now_ms is None else now_ms
    if record.dimension_sets is None:
        sets = [list(record.dimensions)]
    else:
        sets = [list(s) for s in record.dimension_sets]
    docs: list[dict[str, Any]] = []
    metrics = list(record.metrics)
    for start in range(0, len(metrics), MAX_METRICS_PER_DIRECTIVE):
        group = metrics[start : start + MAX_METRICS_PER_DIRECTIVE]
        chunks = {m.name: _values(m) for m in group}
        rounds = max(math.ceil(len(v) / MAX_VALUES_PER_METRIC) for v in chunks.values())
        for r in range(rounds):
            lo, hi = r * MAX_VALUES_PER_METRIC, (r + 1) * MAX_VALUES_PER_METRIC
            defs: list[dict[str, Any]] = []
            doc: dict[str, Any] = {
                "_aws": {
                    "Timestamp": ts,
                    "CloudWatchMetrics": [
                        {"Namespace": record.namespace, "Dimensions": sets, "Metrics": defs}
                    ],
                }
            }
            doc.update(record.dimensions)
            if not docs:  # other members once, so a split does not repeat them
                doc.update(record.properties)
            for m in group:
                part = chunks[m.name][lo:hi]
                if not part:
                    continue
                d: dict[str, Any] = {"Name": m.name}
                if m.unit is not None:
                    d["Unit"] = m.unit
                if m.resolution == 1:
                    d["StorageResolution"] = 1
                defs.append(d)
                scalar = _is_number(m.value)
                doc[m.name] = part[0] if scalar else part
            docs.append(doc)
    return docs


def dumps(record: Record, *, now_ms: int | None = None) -> list[str]:
    """The record as compact one-line JSON documents (see :func:`render`)."""
    return [
        json.dumps(d, separators=(",", ":"), allow_nan=False) for d in render(record, now_ms=now_ms)
    ]


def write_record(
    record: Record, stream: IO[str] | None = None, *, now_ms: int | None = None
) -> int:
    """Write the record's documents to ``stream`` (default stdout), one per line; return how many.

    Raises EmfValidationError before writing anything when the record is invalid.
    """
    lines = dumps(record, now_ms=now_ms)
    out = sys.stdout if stream is None else stream
    out.write("".join(line + "\n" for line in lines))
    out.flush()
    return len(lines)
