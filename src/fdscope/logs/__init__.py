"""Log events in CloudWatch's model, read from every source fdscope knows (standard library only).

``read_events(*sources)`` reads files, ``.gz``, directories and run directories in
any format of FORMATS.md section 1 (CloudWatch export JSON and JSON lines,
``aws logs tail`` text, raw Lambda stdout, JSON log lines) into :class:`LogEvent`;
``ReadStats`` counts what was read and what was skipped. ``pull_events`` downloads
a CloudWatch log group into JSON lines the readers read back (boto3, imported
only when it runs).
"""

from __future__ import annotations

from fdscope.errors import LogReadError
from fdscope.logs._model import LogEvent, ReadStats, describe_skipped
from fdscope.logs._pull import PullResult, pull_events
from fdscope.logs._read import is_event_object, parse_timestamp, read_events, read_lines

__all__ = [
    "LogEvent",
    "LogReadError",
    "PullResult",
    "ReadStats",
    "describe_skipped",
    "is_event_object",
    "parse_timestamp",
    "pull_events",
    "read_events",
    "read_lines",
]
