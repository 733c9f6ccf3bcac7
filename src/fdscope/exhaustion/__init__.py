"""Is this an exhausted descriptor table? One table of evidence, standard library only.

Each :class:`Row` of :data:`ROWS` is one piece of evidence that a process could
not get a descriptor: an errno, an exception's type and words, a library's
disguise (botocore, sqlite3, ``select()``, ``getaddrinfo``), with the regex that
finds it in a log line (valid in Python and in Logs Insights ``like /.../``),
what it means (:data:`EMFILE`, :data:`ENFILE`, :data:`OTHER`) and when it counts
(:data:`ALWAYS`; :data:`FAILED`, in a failed invocation; :data:`AT_LIMIT`, with
a process within ``FDSCOPE_EMFILE_MARGIN`` of its limit; :data:`BOTH`;
:data:`EITHER`). :func:`counts` applies that to what a reader knows.

A reader without a process count (``fdscope triage``: it has ``fd_use`` from EMF
records only sometimes, and never at the moment of the line; the origins
excepthook) passes ``at_limit=None``: an AT_LIMIT or BOTH row then follows its
``blind`` column: :data:`SURE` counts it in a failure record (an error line, a
raised exception) or a failed invocation, :data:`FAILED` only in a failed
invocation, :data:`NEVER` not at all (``gaierror -2``: too common without the
count). The decisions and their reasons: ``docs/exhaustion.md``.

Users: the monitor (:func:`fdscope.monitor.emfile_evidence`), the origins
excepthook, the local Lambda's log markers, and triage, whose CloudWatch
regexes are :func:`log_regex` over :func:`triage_rows`. Nothing is compiled at
import.
"""

from __future__ import annotations

from fdscope.exhaustion._chain import chain
from fdscope.exhaustion._table import (
    ALWAYS,
    AT_LIMIT,
    BOTH,
    EITHER,
    EMFILE,
    ENFILE,
    FAILED,
    LABELS,
    NEVER,
    NO_FD,
    OTHER,
    ROWS,
    SURE,
    Row,
    counts,
    default_margin,
    in_chain,
    log_regex,
    match_exception,
    match_line,
    row,
    safe_str,
    triage_rows,
)

__all__ = [
    "ALWAYS",
    "AT_LIMIT",
    "BOTH",
    "EITHER",
    "EMFILE",
    "ENFILE",
    "FAILED",
    "LABELS",
    "NEVER",
    "NO_FD",
    "OTHER",
    "ROWS",
    "SURE",
    "Row",
    "chain",
    "counts",
    "default_margin",
    "in_chain",
    "log_regex",
    "match_exception",
    "match_line",
    "row",
    "safe_str",
    "triage_rows",
]
