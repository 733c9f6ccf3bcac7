"""The rows: every piece of evidence that a process could not get a descriptor.

A row is matched on one exception (``matches_exception``) or on one log line
(its ``log`` regex, minus its ``log_not`` regex); whether a matched row *counts*
depends on the circumstances (:func:`counts`). Regexes are compiled on first
use, never at import: the in-function monitor imports this module.
"""

from __future__ import annotations

import errno as _errno

from fdscope.exhaustion._chain import chain

TYPE_CHECKING = False  # typing costs milliseconds to import; the monitor imports this module
if TYPE_CHECKING:
    import re

    _Compiled = tuple[
        re.Pattern[str], tuple[tuple["Row", re.Pattern[str], re.Pattern[str] | None], ...]
    ]

# what a row means
EMFILE = "EMFILE"  # this process's descriptor table is full (errno 24)
ENFILE = "ENFILE"  # the system-wide file table is full (errno 23)
OTHER = "other"  # a related failure that is neither

# when a row counts
ALWAYS = "always"
FAILED = "failed"  # only when the invocation failed (or the evidence is itself a failure record)
AT_LIMIT = "at-limit"  # only with a process within FDSCOPE_EMFILE_MARGIN of its limit
BOTH = "failed+at-limit"  # both of the above
EITHER = "failed|at-limit"  # either of the above

# what an AT_LIMIT or BOTH row needs where no process count is known (triage, origins' hook)
SURE = "sure"  # a failure record (a raised exception, an error line) or a failed invocation
NEVER = "never"  # nothing: such a row is not counted without a count
# (FAILED: a failed invocation; an error line alone is not enough)

# the errnos of "no descriptor could be had"
NO_FD: tuple[int, int] = (_errno.EMFILE, _errno.ENFILE)


class Row:
    """One piece of evidence. ``exc_*`` describe the exception side, ``log``/``log_not`` the text."""

    __slots__ = (
        "name",
        "label",
        "meaning",
        "condition",
        "blind",
        "log",
        "log_not",
        "exc_base",
        "exc_type",
        "exc_errno",
        "exc_text",
        "exc_text_not",
        "says",
    )

    def __init__(
        self,
        name: str,
        label: str,
        meaning: str,
        condition: str,
        *,
        blind: str = NEVER,
        log: str | None = None,
        log_not: str | None = None,
        exc_base: type[BaseException] | None = None,
        exc_type: str | None = None,
        exc_errno: int | None = None,
        exc_text: str | None = None,
        exc_text_not: str | None = None,
        says: str = "",
    ) -> None:
        self.name = name  # unique
        self.label = label  # triage's disguise name; several rows may share one
        self.meaning = meaning  # EMFILE, ENFILE or OTHER
        self.condition = condition  # ALWAYS, FAILED, AT_LIMIT, BOTH or EITHER
        self.blind = blind  # AT_LIMIT/BOTH rows without a count: SURE, FAILED or NEVER
        self.log = log  # a regex valid in Python ``re`` and in Logs Insights ``like /.../``
        self.log_not = log_not  # a line matching this is not this row's
        self.exc_base = exc_base  # isinstance() of this; None: no exception side
        self.exc_type = exc_type  # and type(e).__name__ equal to this
        self.exc_errno = exc_errno  # and e.errno equal to this
        self.exc_text = exc_text  # and str(e) containing this
        self.exc_text_not = exc_text_not  # and not this
        self.says = says  # the evidence line's words (the monitor's report)

    def __repr__(self) -> str:
        return f"Row({self.name!r}, {self.meaning}, {self.condition})"

    def matches_exception(self, e: BaseException, text: str | None = None) -> bool:
        """This row's exception side matches ``e`` itself (not its chain).

        ``text`` is ``str(e)`` when the caller has it. May raise what ``e``'s attributes raise.
        """
        if self.exc_base is None or not isinstance(e, self.exc_base):
            return False
        if self.exc_type is not None and type(e).__name__ != self.exc_type:
            return False
        if self.exc_errno is not None and getattr(e, "errno", None) != self.exc_errno:
            return False
        if self.exc_text is not None:
            if text is None:
                text = safe_str(e)
            if self.exc_text not in text:
                return False
            if self.exc_text_not is not None and self.exc_text_not in text:
                return False
        return True


def safe_str(e: object) -> str:
    """``str(e)``, or "" when its ``__str__`` raises."""
    try:
        return str(e)
    except Exception:
        return ""


# triage's disguise names, in the order it lists them, and what each is
LABELS: dict[str, str] = {
    "errno-24": "Python's OSError text: [Errno 24]",
    "too-many-open-files": "strerror(EMFILE)",
    "emfile": "the errno name (Node.js, errno.errorcode, libraries)",
    "endpoint-connection": "botocore's EndpointConnectionError: OSError 24 deep in the chain",
    "fd-out-of-range": "select() on a descriptor >= 1024 (ValueError)",
    "enfile": "the system-wide file table is full (ENFILE), not this process's limit",
    "sqlite-cantopen": "sqlite3.OperationalError; counted only in a failing invocation",
    "getaddrinfo": "getaddrinfo could not open its files (gaierror -2); only at the limit",
}

# A new piece of evidence is one more row (a Node.js message, another library's words).
# For an exception, the first row (in this order) whose exception side matches is its row.
ROWS: tuple[Row, ...] = (
    Row(
        "errno-24",
        "errno-24",
        EMFILE,
        ALWAYS,
        log=r"\[Errno 24\]",  # an OSError's own text
        exc_base=OSError,
        exc_errno=_errno.EMFILE,
        says="errno 24 in the exception chain",
    ),
    Row(
        "errno-23",
        "enfile",
        ENFILE,
        ALWAYS,
        log=r"\[Errno 23\]",
        exc_base=OSError,
        exc_errno=_errno.ENFILE,
        says="errno 23 (ENFILE, the system's file table) in the exception chain",
    ),
    # Node.js: libuv's own error text and fields (an Error's message, or util.inspect of it:
    # "EMFILE: too many open files, open '/tmp/x'", "errno: -24", "code: 'EMFILE'"), as strong
    # as Python's [Errno 24]; also in "connect EMFILE", "spawn EMFILE" errors' objects
    Row(
        "node-uv-emfile",
        "emfile",
        EMFILE,
        ALWAYS,
        log=r"EMFILE: too many open files|errno: -24,|code: 'EMFILE'",
    ),
    Row(
        "node-uv-enfile",
        "enfile",
        ENFILE,
        ALWAYS,
        log=r"ENFILE: file table overflow|errno: -23,|code: 'ENFILE'",
    ),
    Row(
        "enfile-text",
        "enfile",
        ENFILE,
        EITHER,
        log=r"ENFILE|[Tt]oo many open files in system|Errno 23",
        exc_base=BaseException,
        exc_text="Too many open files in system",
        says="'Too many open files in system' (ENFILE) in the exception chain",
    ),
    Row(
        "too-many-open-files",
        "too-many-open-files",
        EMFILE,
        EITHER,
        log=r"[Tt]oo many open files",
        log_not=r"[Tt]oo many open files in system",
        exc_base=BaseException,
        exc_text="Too many open files",
        exc_text_not="Too many open files in system",
        says="'Too many open files' in the exception chain",
    ),
    Row("errno-24-text", "errno-24", EMFILE, EITHER, log=r"Errno 24"),
    Row("emfile-word", "emfile", EMFILE, EITHER, log=r"EMFILE"),
    Row(
        "endpoint-connection",
        "endpoint-connection",
        EMFILE,
        AT_LIMIT,
        blind=SURE,
        # the exception side is the OSError in its kwargs["error"], which the chain reaches
        log=r"EndpointConnectionError|Could not connect to the endpoint URL",
    ),
    Row(
        "fd-out-of-range",
        "fd-out-of-range",
        EMFILE,
        AT_LIMIT,
        blind=SURE,
        log=r"filedescriptor out of range",
        exc_base=ValueError,
        exc_text="filedescriptor out of range",
        says="select() descriptor beyond 1023 at the limit",
    ),
    Row(
        "sqlite-cantopen",
        "sqlite-cantopen",
        EMFILE,
        AT_LIMIT,
        blind=FAILED,
        log=r"unable to open database file",
        exc_base=Exception,
        exc_type="OperationalError",
        exc_text="unable to open database file",
        says="sqlite3 could not open its file at the limit",
    ),
    Row(
        "getaddrinfo",
        "getaddrinfo",
        EMFILE,
        AT_LIMIT,
        blind=NEVER,
        log=r"Name or service not known",
        exc_base=OSError,
        exc_type="gaierror",
        exc_errno=-2,  # EAI_NONAME: getaddrinfo could not open /etc/hosts or a socket
        says="getaddrinfo failed (gaierror -2) at the limit",
    ),
)

_BY_NAME = {r.name: r for r in ROWS}
_EXC_ROWS = tuple(r for r in ROWS if r.exc_base is not None)
_LOG_ROWS = tuple(r for r in ROWS if r.log is not None)
_compiled: _Compiled | None = None


def row(name: str) -> Row:
    """The row called ``name`` (KeyError when there is none)."""
    return _BY_NAME[name]


def counts(
    r: Row, *, sure: bool = False, failed: bool = False, at_limit: bool | None = None
) -> bool:
    """Whether a matched row is evidence here.

    ``sure``: the evidence is itself a failure record (a raised exception, an
    error-level line); ``failed``: the invocation failed; ``at_limit``: a process
    stood within the margin of its limit, ``None`` when no count is known (then
    an AT_LIMIT or BOTH row follows its ``blind`` rule).
    """
    cond = r.condition
    if cond == ALWAYS:
        return True
    fail = sure or failed
    if cond == FAILED:
        return fail
    if at_limit is None:
        if cond == EITHER:
            return fail
        return (r.blind == SURE and fail) or (r.blind == FAILED and failed)
    if cond == AT_LIMIT:
        return at_limit
    if cond == BOTH:
        return fail and at_limit
    return fail or at_limit  # EITHER


def triage_rows() -> tuple[Row, ...]:
    """The rows a reader of logs without a process count can ever count (blind not NEVER)."""
    return tuple(
        r for r in _LOG_ROWS if r.condition in (ALWAYS, FAILED, EITHER) or r.blind != NEVER
    )


def log_regex(rows: tuple[Row, ...] | None = None) -> str:
    """One regex matching a line any of ``rows`` (default: all log rows) matches.

    Valid in Python and in Logs Insights (``filter @message like /.../``); it may
    also match a line a row's ``log_not`` then excludes.
    """
    return "|".join(r.log for r in (_LOG_ROWS if rows is None else rows) if r.log)


def _patterns() -> _Compiled:
    global _compiled
    if _compiled is None:
        import re

        _compiled = (
            re.compile(log_regex()),
            tuple(
                (r, re.compile(r.log or ""), re.compile(r.log_not) if r.log_not else None)
                for r in _LOG_ROWS
            ),
        )
    return _compiled


def match_line(text: str) -> list[Row]:
    """The rows whose log side matches ``text`` (one log event), in table order."""
    anyrx, rows = _patterns()
    if anyrx.search(text) is None:
        return []
    return [r for r, rx, nrx in rows if rx.search(text) and not (nrx and nrx.search(text))]


def match_exception(e: BaseException) -> Row | None:
    """The first row whose exception side matches ``e`` itself (not its chain), or None."""
    text: str | None = None
    for r in _EXC_ROWS:
        if r.exc_text is not None and text is None:
            text = safe_str(e)
        try:
            if r.matches_exception(e, text):
                return r
        except Exception:  # a hostile attribute: this row cannot tell
            continue
    return None


def in_chain(exc: BaseException | None, limit: int = 64) -> list[tuple[Row, BaseException]]:
    """(row, exception) for each exception in ``exc``'s chain that a row matches."""
    out = []
    for e in chain(exc, limit):
        r = match_exception(e)
        if r is not None:
            out.append((r, e))
    return out


def default_margin(limit: int) -> int:
    """Descriptors below ``limit`` that count as "at the limit" when FDSCOPE_EMFILE_MARGIN is unset."""
    return max(2, min(16, limit // 64))
