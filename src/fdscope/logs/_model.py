"""The log-event record (CloudWatch Logs' model) and the reader's counters."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One log event as CloudWatch Logs keeps it (FORMATS.md section 1).

    ``timestamp`` and ``ingestionTime`` are ms since the epoch, UTC; ``message``
    is the whole event (a traceback is one multi-line event).
    """

    timestamp: int
    message: str
    logStream: str  # noqa: N815 - CloudWatch's own field name
    logGroup: str  # noqa: N815
    ingestionTime: int | None = None  # noqa: N815

    def to_dict(self) -> dict[str, Any]:
        """The event as a JSON-ready dict in the model's field names (``events.jsonl`` lines)."""
        d: dict[str, Any] = {
            "timestamp": self.timestamp,
            "message": self.message,
            "logStream": self.logStream,
            "logGroup": self.logGroup,
        }
        if self.ingestionTime is not None:
            d["ingestionTime"] = self.ingestionTime
        return d


@dataclass(slots=True)
class ReadStats:
    """What a read saw; pass one to :func:`read_events` and read it afterwards.

    ``malformed`` counts skipped lines by reason (``bad-json``, ``not-an-event``,
    ``bad-event``, ``truncated-json``, ``bad-gzip``, ``read-error``,
    ``binary-file``); ``formats`` counts events by the format they were read in
    (``cloudwatch-json``, ``cloudwatch-jsonl``, ``tail``, ``lambda-text``,
    ``json-log``, ``insights-json``, ``s3-export``); ``bad_utf8`` counts lines
    kept with U+FFFD in place of undecodable bytes.
    """

    events: int = 0
    files: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)
    bad_utf8: int = 0

    @property
    def malformed_total(self) -> int:
        """All skipped lines, whatever the reason."""
        return sum(self.malformed.values())
