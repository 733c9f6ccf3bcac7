"""CloudWatch Embedded Metric Format (EMF) both ways, standard library only.

Writer: build a :class:`Record` of :class:`Metric` objects and call
:func:`write_record` (or :func:`render`/:func:`dumps`); anything the
specification forbids raises :class:`~fdscope.errors.EmfValidationError`
whose ``field`` names the offending part. Records beyond 100 metrics or 100
values per metric are split.

Parser: :func:`parse_events` turns log events (``fdscope.logs.LogEvent``) into
:class:`Datapoint` objects: declared metrics (scalars, arrays, the
OpenTelemetry ``{"Values", "Counts"}`` form) once per dimension set, plus the
numeric top-level members no directive declares (``declared=False``). Bad
records are counted in :class:`ParseStats`, never raised.
"""

from __future__ import annotations

from fdscope.emf._parse import (
    MAX_MS,
    MIN_MS,
    SECONDS_HIGH,
    SECONDS_LOW,
    TS_OUT_OF_RANGE,
    TS_SECONDS,
    Datapoint,
    ParseStats,
    parse_events,
    parse_message,
    parse_record,
)
from fdscope.emf._spec import UNITS
from fdscope.emf._write import Metric, Record, dumps, render, validate, write_record
from fdscope.errors import EmfError, EmfValidationError

__all__ = [
    "MAX_MS",
    "MIN_MS",
    "SECONDS_HIGH",
    "SECONDS_LOW",
    "TS_OUT_OF_RANGE",
    "TS_SECONDS",
    "UNITS",
    "Datapoint",
    "EmfError",
    "EmfValidationError",
    "Metric",
    "ParseStats",
    "Record",
    "dumps",
    "parse_events",
    "parse_message",
    "parse_record",
    "render",
    "validate",
    "write_record",
]
