"""The exhaustion table: every row with a positive and a negative case, the counting rules, the chain."""

from __future__ import annotations

import errno
import socket
import sqlite3
from typing import Any

import pytest

from fdscope import exhaustion
from fdscope.exhaustion import (
    ALWAYS,
    AT_LIMIT,
    BOTH,
    EITHER,
    EMFILE,
    ENFILE,
    FAILED,
    NEVER,
    ROWS,
    SURE,
    chain,
    counts,
    in_chain,
    match_exception,
    match_line,
    row,
)


class OperationalError(Exception):
    """Named like sqlite3's and psycopg's: the row matches by name."""


# row -> (exception it matches, exception it must not, log line it matches, line it must not);
# None where the row has no such side. One comment per row says why the negative is negative.
CASES: dict[str, tuple[Any, Any, str | None, str | None]] = {
    "errno-24": (
        OSError(errno.EMFILE, "Too many open files"),
        OSError(errno.ENOENT, "No such file or directory"),  # another errno
        "OSError: [Errno 24] Too many open files: '/tmp/x'",
        "OSError: [Errno 2] No such file or directory: '/tmp/x'",
    ),
    "errno-23": (
        OSError(errno.ENFILE, "Too many open files in system"),
        OSError(errno.EMFILE, "Too many open files"),  # EMFILE is the other row
        "OSError: [Errno 23] Too many open files in system",
        "OSError: [Errno 24] Too many open files",
    ),
    "node-uv-emfile": (
        None,
        None,
        "[Error: open /tmp/x] { errno: -24, code: 'EMFILE', syscall: 'open' }",  # util.inspect
        "[Error: open /tmp/x] { errno: -2, code: 'ENOENT', syscall: 'open' }",  # another error
    ),
    "node-uv-enfile": (
        None,
        None,
        "Error: ENFILE: file table overflow, open '/tmp/x'",
        "Error: EEXIST: file already exists, open '/tmp/x'",
    ),
    "enfile-text": (
        RuntimeError("could not open: Too many open files in system"),
        RuntimeError("could not open: Too many open files"),  # the process's limit: EMFILE
        "socket: ENFILE",
        "socket: EMFILE",
    ),
    "too-many-open-files": (
        RuntimeError("could not create socket: Too many open files"),  # libpq's words
        RuntimeError("could not create socket: Too many open files in system"),  # ENFILE
        "Error: EMFILE: too many open files, open '/tmp/x'",  # Node.js, lower case
        "[Errno 23] Too many open files in system",  # ENFILE
    ),
    "errno-24-text": (
        None,
        None,
        "failed with Errno 24",
        "failed with Errno 2",
    ),
    "emfile-word": (
        None,
        None,
        "retry policy: on EMFILE back off",
        "retry policy: on ENFILE back off",
    ),
    "endpoint-connection": (
        None,  # the exception side is the OSError in kwargs["error"], reached by the chain
        None,
        'Could not connect to the endpoint URL: "https://s3.amazonaws.com/"',
        "Could not connect to the database",
    ),
    "fd-out-of-range": (
        ValueError("filedescriptor out of range in select()"),
        TypeError("filedescriptor out of range in select()"),  # only select()'s ValueError
        "ValueError: filedescriptor out of range in select()",
        "ValueError: file descriptor cannot be a negative integer (-1)",
    ),
    "sqlite-cantopen": (
        sqlite3.OperationalError("unable to open database file"),
        sqlite3.OperationalError("database is locked"),  # another OperationalError
        "sqlite3.OperationalError: unable to open database file",
        "sqlite3.OperationalError: database is locked",
    ),
    "getaddrinfo": (
        socket.gaierror(-2, "Name or service not known"),
        socket.gaierror(-3, "Temporary failure in name resolution"),  # another gaierror
        "socket.gaierror: [Errno -2] Name or service not known",
        "socket.gaierror: [Errno -3] Temporary failure in name resolution",
    ),
}


def test_every_row_has_a_case_and_every_side_is_covered() -> None:
    assert [r.name for r in ROWS] == list(CASES)  # one case per row, in table order
    for r in ROWS:
        pos_exc, neg_exc, pos_log, neg_log = CASES[r.name]
        assert (r.exc_base is not None) == (pos_exc is not None) == (neg_exc is not None), r
        assert (r.log is not None) == (pos_log is not None) == (neg_log is not None), r


def test_row_names_are_unique_and_fields_valid() -> None:
    assert len({r.name for r in ROWS}) == len(ROWS)
    for r in ROWS:
        assert r.meaning in (EMFILE, ENFILE, exhaustion.OTHER)
        assert r.condition in (ALWAYS, FAILED, AT_LIMIT, BOTH, EITHER)
        assert r.blind in (SURE, FAILED, NEVER)
        assert r.label in exhaustion.LABELS
        assert row(r.name) is r
        if r.exc_base is not None:
            assert r.says, r  # the monitor's evidence line needs words


@pytest.mark.parametrize("name", [n for n, case in CASES.items() if case[0] is not None])
def test_exception_side(name: str) -> None:
    pos, neg, _, _ = CASES[name]
    assert match_exception(pos) is row(name)
    assert match_exception(neg) is not row(name)


@pytest.mark.parametrize("name", list(CASES))
def test_log_side(name: str) -> None:
    _, _, pos, neg = CASES[name]
    assert pos is not None and neg is not None
    assert row(name) in match_line(pos)
    assert row(name) not in match_line(neg)


def test_plain_lines_match_nothing() -> None:
    assert match_line("START RequestId: 1 Version: $LATEST") == []
    assert match_line("") == []
    assert match_exception(KeyError("x")) is None


# (condition, blind, sure, failed, at_limit) -> counts; one line per rule
RULES = [
    (ALWAYS, NEVER, False, False, False, True),  # always is always
    (ALWAYS, NEVER, False, False, None, True),
    (FAILED, NEVER, False, False, True, False),  # the limit alone is not a failure
    (FAILED, NEVER, True, False, None, True),  # a failure record is one
    (FAILED, NEVER, False, True, False, True),
    (AT_LIMIT, NEVER, True, True, False, False),  # not at the limit
    (AT_LIMIT, NEVER, False, False, True, True),  # at the limit, in an ok invocation
    (BOTH, NEVER, False, False, True, False),  # at the limit but nothing failed
    (BOTH, NEVER, False, True, True, True),
    (EITHER, NEVER, False, False, True, True),
    (EITHER, NEVER, False, True, False, True),
    (EITHER, NEVER, False, False, False, False),
    (EITHER, NEVER, True, False, None, True),  # no count: a failure record suffices
    (AT_LIMIT, SURE, True, False, None, True),  # no count, blind SURE: an error line
    (AT_LIMIT, SURE, False, False, None, False),  # ... but not an INFO line
    (AT_LIMIT, FAILED, True, False, None, False),  # blind FAILED: an error line is not enough
    (AT_LIMIT, FAILED, False, True, None, True),  # a failed invocation is
    (AT_LIMIT, NEVER, True, True, None, False),  # blind NEVER: never without a count
    (BOTH, SURE, True, False, None, True),
]


@pytest.mark.parametrize("condition, blind, sure, failed, at_limit, expected", RULES)
def test_counts(
    condition: str, blind: str, sure: bool, failed: bool, at_limit: bool | None, expected: bool
) -> None:
    r = exhaustion.Row("t", "emfile", EMFILE, condition, blind=blind, log="x")
    assert counts(r, sure=sure, failed=failed, at_limit=at_limit) is expected


def test_the_four_decisions() -> None:
    """docs/exhaustion.md: select() at the limit, ENFILE is ENFILE, gaierror -2, the words alone."""
    select = row("fd-out-of-range")
    assert select.condition == AT_LIMIT and select.blind == SURE
    enfile = match_exception(OSError(errno.ENFILE, "Too many open files in system"))
    assert enfile is not None and enfile.meaning == ENFILE
    assert [r.meaning for r in match_line("[Errno 23] Too many open files in system")] == [
        ENFILE,
        ENFILE,
    ]
    gai = row("getaddrinfo")
    assert gai.condition == AT_LIMIT and gai.blind == NEVER
    wrapped = RuntimeError("could not create socket: Too many open files")  # no "Errno 24"
    assert [r.name for r, _ in in_chain(wrapped)] == ["too-many-open-files"]


# -- the chain walker ---------------------------------------------------------------------------
def _raise_from(inner: BaseException, outer: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as e:
            raise outer from e
    except BaseException as got:
        return got


def test_chain_follows_every_link() -> None:
    class Botocore(Exception):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__("Could not connect to the endpoint URL")
            self.kwargs = kwargs

    class Urllib3(Exception):
        def __init__(self, reason: BaseException) -> None:
            super().__init__("Max retries exceeded")
            self.reason = reason

    class Aiohttp(Exception):
        def __init__(self, e: BaseException) -> None:
            super().__init__("cannot connect")
            self.original_error = e

    class Group(Exception):  # ExceptionGroup (3.11+) and alike keep theirs in .exceptions
        def __init__(self, message: str, exceptions: list[BaseException]) -> None:
            super().__init__(message)
            self.exceptions = exceptions

    leaves = [OSError(24, f"leaf {i}") for i in range(6)]
    top = Group(
        "many",
        [
            Botocore(error=leaves[0]),
            Urllib3(leaves[1]),
            Aiohttp(leaves[2]),
            RuntimeError("in args", leaves[3]),
            _raise_from(leaves[4], KeyError("cause")),
        ],
    )
    top.__context__ = leaves[5]
    got = chain(top)
    assert all(leaf in got for leaf in leaves)
    assert chain(None) == []


def test_chain_survives_cycles_hostile_attributes_and_its_limit() -> None:
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    assert chain(a) == [a, b]

    class Hostile(Exception):
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("no")

        def __str__(self) -> str:
            raise RuntimeError("no text")

    h = Hostile()
    h.__cause__ = OSError(24, "x")
    assert chain(h) == [h]  # kept, not followed
    assert match_exception(h) is None  # its text cannot be had: no row

    deep: BaseException = OSError(24, "bottom")
    for i in range(100):
        deep = _raise_from(deep, RuntimeError(str(i)))
    assert len(chain(deep)) == 64
    assert len(chain(deep, limit=200)) == 101


def test_in_chain_names_each_exception_once_with_its_first_row() -> None:
    err = _raise_from(OSError(24, "Too many open files"), RuntimeError("upload failed"))
    assert [(r.name, type(e).__name__) for r, e in in_chain(err)] == [("errno-24", "OSError")]


def test_importing_compiles_nothing_and_needs_only_the_standard_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys; before = set(sys.modules); import fdscope.exhaustion as x; "
        "assert x._table._compiled is None and 're' not in set(sys.modules) - before; "
        "bad = [m for m in set(sys.modules) - before if m.split('.')[0] not in "
        "sys.stdlib_module_names and m.split('.')[0] != 'fdscope']; print(sorted(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
