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


def describe_skipped(summary: dict[str, Any]) -> str | None:
    """What a command skipped, for stderr (once per command), naming the files; None if nothing.

    ``summary`` is :meth:`ReadStats.summary` (or the same keys from a query's statistics).
    """
    reasons: dict[str, int] = summary.get("reasons") or {}
    stopped: dict[str, str] = summary.get("stopped") or {}
    if not reasons and not stopped:
        return None
    lines: list[str] = []
    if reasons:
        why = ", ".join(f"{k} {v}" for k, v in reasons.items())
        lines.append(f"skipped {sum(reasons.values())} malformed line(s) ({why})")
    files: dict[str, dict[str, int]] = summary.get("files") or {}
    for path in list(files) + [p for p in stopped if p not in files]:
        what = [", ".join(f"{k} {v}" for k, v in files.get(path, {}).items())]
        what += [stopped[path]] if path in stopped else []
        lines.append(f"  {path}: " + "; ".join(w for w in what if w))
    return "\n".join(lines)


@dataclass(slots=True)
class ReadStats:
    """What a read saw; pass one to :func:`read_events` and read it afterwards.

    ``malformed`` counts skipped lines by reason (``bad-json``, ``not-an-event``,
    ``bad-event``, ``truncated-json``, ``bad-gzip``, ``read-error``,
    ``binary-file``, ``nul-run``, ``truncated-gzip``, ``bad-timestamp``); ``by_file`` holds
    the same counts per file (its path), and ``stopped`` says, per file, where a truncated
    compressed file ended (what came before was read); ``formats`` counts events by the format they were read in
    (``cloudwatch-json``, ``cloudwatch-jsonl``, ``tail``, ``lambda-text``,
    ``json-log``, ``insights-json``, ``s3-export``); ``bad_utf8`` counts lines
    kept with U+FFFD in place of undecodable bytes.
    """

    events: int = 0
    files: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)
    bad_utf8: int = 0
    by_file: dict[str, Counter[str]] = field(default_factory=dict)
    stopped: dict[str, str] = field(default_factory=dict)

    @property
    def malformed_total(self) -> int:
        """All skipped lines, whatever the reason."""
        return sum(self.malformed.values())

    def summary(self) -> dict[str, Any]:
        """What was skipped, as JSON: ``{"total", "reasons", "files", "stopped"}`` ({} if nothing)."""
        if not self.malformed and not self.stopped:
            return {}
        out: dict[str, Any] = {
            "total": self.malformed_total,
            "reasons": dict(sorted(self.malformed.items())),
            "files": {f: dict(sorted(c.items())) for f, c in sorted(self.by_file.items()) if c},
        }
        if self.stopped:
            out["stopped"] = dict(sorted(self.stopped.items()))
        return out
