"""EMF parser: datapoints out of log events, bad records counted by reason, never fatal."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from fdscope.emf._spec import (
    MAX_DIMENSION_VALUE_LEN,
    MAX_DIMENSIONS_PER_SET,
    MAX_METRICS_PER_DIRECTIVE,
    MAX_NAME_LEN,
    MAX_VALUES_PER_METRIC,
    RESOLUTIONS,
    UNITS,
)
from fdscope.errors import EmfValidationError

# the times a datetime holds (years 1 to 9999), in ms since the epoch
MAX_MS = 253_402_300_799_999
MIN_MS = -62_135_596_800_000
# a Timestamp in this range is seconds (2001..5138), not ms (12 Jan 1970..3 Mar 1973):
# CloudWatch would drop it as too old; counted and named, never read as 1970
SECONDS_LOW, SECONDS_HIGH = 1_000_000_000, 100_000_000_000
TS_OUT_OF_RANGE = "_aws.Timestamp (outside the years 1-9999)"
TS_SECONDS = "_aws.Timestamp (seconds, not milliseconds)"


class _Event(Protocol):
    timestamp: int
    message: str


@dataclass(frozen=True, slots=True)
class Datapoint:
    """One value of one metric, as CloudWatch would extract it.

    ``count`` is how many samples the value stands for (1, or the OpenTelemetry
    ``Counts`` entry). ``declared`` is False for a numeric top-level member that
    no directive declares (Lambda Insights keeps ``fd_use`` there): it carries the
    record's first namespace and every dimension key the record names.
    """

    namespace: str
    metric: str
    dimensions: dict[str, str]
    timestamp: int
    value: float
    count: float = 1.0
    unit: str | None = None
    resolution: int = 60
    declared: bool = True


@dataclass
class ParseStats:
    """What a parse saw. ``parsing_errors``/``validation_errors`` count records by reason.

    They mirror CloudWatch's ``EMFParsingErrors`` (not JSON) and
    ``EMFValidationErrors`` (JSON, but not valid EMF).
    """

    events: int = 0
    records: int = 0
    datapoints: int = 0
    skipped: int = 0  # events that are not EMF at all (plain text, JSON without _aws)
    parsing_errors: Counter[str] = field(default_factory=Counter)
    validation_errors: Counter[str] = field(default_factory=Counter)
    # both kinds per file (its path), when the caller reads files (fdscope.metrics)
    by_file: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def emf_parsing_errors(self) -> int:
        return sum(self.parsing_errors.values())

    @property
    def emf_validation_errors(self) -> int:
        return sum(self.validation_errors.values())


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _is_number(v: object) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int too large for a float
        return False


def _name(where: str, v: object) -> str:
    if not isinstance(v, str) or not 1 <= len(v) <= MAX_NAME_LEN:
        raise EmfValidationError(where, f"must be a string of 1..{MAX_NAME_LEN} characters")
    return v


def _samples(where: str, target: object) -> list[tuple[float, float]]:
    """(value, count) pairs of one metric target: scalar, array, or {"Values", "Counts"}."""
    if _is_number(target):
        return [(float(target), 1.0)]  # type: ignore[arg-type]
    if isinstance(target, list):
        if len(target) > MAX_VALUES_PER_METRIC:
            raise EmfValidationError(where, f"more than {MAX_VALUES_PER_METRIC} values")
        if not all(_is_number(x) for x in target):
            raise EmfValidationError(where, "array values must be finite numbers")
        return [(float(x), 1.0) for x in target]
    if isinstance(target, dict):
        if "Values" in target:
            values, counts = target.get("Values"), target.get("Counts")
            if not isinstance(values, list) or not isinstance(counts, list):
                raise EmfValidationError(where, "Values and Counts must both be arrays")
            if len(values) != len(counts):
                raise EmfValidationError(where, "Values and Counts differ in length")
            if len(values) > MAX_VALUES_PER_METRIC:
                raise EmfValidationError(where, f"more than {MAX_VALUES_PER_METRIC} values")
            if not all(_is_number(x) for x in values) or not all(
                _is_number(c) and c >= 0 for c in counts
            ):
                raise EmfValidationError(where, "Values/Counts must be finite numbers, counts >= 0")
            return [(float(v), float(c)) for v, c in zip(values, counts, strict=True)]
        if {"Sum", "Count"} <= target.keys():
            # A statistic set (OpenTelemetry summaries): the mean, weighted by Count.
            s, c = target["Sum"], target["Count"]
            if not _is_number(s) or not _is_number(c) or c < 0:
                raise EmfValidationError(where, "Sum and Count must be finite numbers")
            return [(float(s) / c, float(c))] if c else []
    raise EmfValidationError(where, "must be a number, an array of numbers, or {Values, Counts}")


def parse_record(doc: dict[str, Any]) -> list[Datapoint]:  # noqa: C901
    """Datapoints of one decoded EMF document; raise EmfValidationError naming the field."""
    aws = doc.get("_aws")
    if not isinstance(aws, dict):
        raise EmfValidationError("_aws", "must be an object")
    raw_ts = aws.get("Timestamp")
    if not isinstance(raw_ts, (int, float)) or not _is_number(raw_ts) or raw_ts != int(raw_ts):
        raise EmfValidationError("_aws.Timestamp", "must be an integer (ms since the epoch)")
    ts = int(raw_ts)
    if not MIN_MS <= ts <= MAX_MS:  # a datetime cannot hold it: no chart, no ISO time
        raise EmfValidationError(TS_OUT_OF_RANGE, "outside the years 1 to 9999")
    if SECONDS_LOW <= ts < SECONDS_HIGH:  # 2001..5138 in seconds, 1970-01-12..1973 in ms
        raise EmfValidationError(TS_SECONDS, "seconds since the epoch, not milliseconds")
    directives = aws.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        raise EmfValidationError("_aws.CloudWatchMetrics", "must be an array")
    out: list[Datapoint] = []
    declared: set[str] = set()
    dim_keys: dict[str, str] = {}
    first_ns: str | None = None
    for i, d in enumerate(directives):
        w = f"_aws.CloudWatchMetrics[{i}]"
        if not isinstance(d, dict):
            raise EmfValidationError(w, "must be an object")
        ns = _name(f"{w}.Namespace", d.get("Namespace"))
        first_ns = first_ns or ns
        sets = d.get("Dimensions")
        if not isinstance(sets, list):
            raise EmfValidationError(f"{w}.Dimensions", "must be an array of arrays")
        resolved: list[dict[str, str]] = []
        for j, s in enumerate(sets):
            ws = f"{w}.Dimensions[{j}]"
            if not isinstance(s, list):
                raise EmfValidationError(ws, "must be an array of keys")
            if len(s) > MAX_DIMENSIONS_PER_SET:
                raise EmfValidationError(ws, f"more than {MAX_DIMENSIONS_PER_SET} keys")
            dims: dict[str, str] = {}
            for k in s:
                _name(ws, k)
                v = doc.get(k)
                if not isinstance(v, str) or not 1 <= len(v) <= MAX_DIMENSION_VALUE_LEN:
                    raise EmfValidationError(
                        k,
                        f"dimension target must be a string of 1..{MAX_DIMENSION_VALUE_LEN} chars",
                    )
                dims[k] = v
                dim_keys[k] = v
            resolved.append(dims)
        if not resolved:
            resolved.append({})
        metrics = d.get("Metrics")
        if not isinstance(metrics, list):
            raise EmfValidationError(f"{w}.Metrics", "must be an array")
        if len(metrics) > MAX_METRICS_PER_DIRECTIVE:
            raise EmfValidationError(f"{w}.Metrics", f"more than {MAX_METRICS_PER_DIRECTIVE}")
        for j, m in enumerate(metrics):
            wm = f"{w}.Metrics[{j}]"
            if not isinstance(m, dict):
                raise EmfValidationError(wm, "must be an object")
            name = _name(f"{wm}.Name", m.get("Name"))
            unit = m.get("Unit")
            if unit is not None and unit not in UNITS:
                raise EmfValidationError(f"{wm}.Unit", f"{unit!r} is not a CloudWatch unit")
            res = m.get("StorageResolution", 60)
            if res not in RESOLUTIONS or isinstance(res, bool):
                raise EmfValidationError(f"{wm}.StorageResolution", "must be 1 or 60")
            if name not in doc:
                raise EmfValidationError(name, "declared metric has no member")
            samples = _samples(name, doc[name])
            declared.add(name)
            for dims in resolved:
                for value, count in samples:
                    out.append(Datapoint(ns, name, dims, ts, value, count, unit, res, True))
    if first_ns is not None:
        for k, v in doc.items():
            if k not in declared and k != "_aws" and _is_number(v):
                out.append(Datapoint(first_ns, k, dict(dim_keys), ts, float(v), declared=False))
    return out


def _reason(fieldname: str) -> str:
    """``_aws.CloudWatchMetrics[0].Metrics[2].Unit`` -> ``_aws.CloudWatchMetrics.Metrics.Unit``."""
    if fieldname.startswith("_aws"):
        return re.sub(r"\[\d+\]", "", fieldname)
    return "target"  # a member a directive refers to (metric value, dimension value)


def parse_message(message: str, stats: ParseStats | None = None) -> list[Datapoint]:
    """Datapoints of one log message; [] for non-EMF text; bad EMF counted in ``stats``."""
    st = stats if stats is not None else ParseStats()
    text = message.strip()
    if not text or "_aws" not in text:
        st.skipped += 1
        return []
    if text[0] != "{":
        # Lambda may prepend metadata (time, request id) before the document.
        i = text.find("{")
        if i < 0:
            st.skipped += 1
            return []
        text = text[i:]
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        st.parsing_errors["not_json"] += 1
        return []
    if not isinstance(doc, dict):
        st.parsing_errors["not_an_object"] += 1
        return []
    if "_aws" not in doc:
        st.skipped += 1
        return []
    try:
        points = parse_record(doc)
    except EmfValidationError as exc:
        st.validation_errors[_reason(exc.field)] += 1
        return []
    st.records += 1
    st.datapoints += len(points)
    return points


def parse_events(events: Iterable[_Event], stats: ParseStats | None = None) -> Iterator[Datapoint]:
    """Datapoints of every EMF record among ``events`` (``fdscope.logs.LogEvent`` or alike).

    Never raises for bad input: non-EMF events are skipped, bad records counted in ``stats``.
    """
    st = stats if stats is not None else ParseStats()
    for ev in events:
        st.events += 1
        yield from parse_message(ev.message, st)
