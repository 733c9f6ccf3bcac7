"""EMFILE: errno 24 anywhere in the chain; the disguises only at the limit; real exhaustion."""

from __future__ import annotations

import errno
import json
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from fdscope.monitor import emfile_evidence


def _chained(inner: BaseException, outer: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as e:
            raise outer from e
    except BaseException as got:
        return got


def test_botocore_hides_errno_24_two_levels_down() -> None:
    from botocore.exceptions import EndpointConnectionError

    err = EndpointConnectionError(
        endpoint_url="https://s3.amazonaws.com", error=OSError(errno.EMFILE, "Too many open files")
    )
    wrapped = _chained(err, RuntimeError("upload failed"))
    found = emfile_evidence(wrapped, at_limit=False)
    assert found and "errno 24" in found[0]


@pytest.mark.parametrize(
    "exc",
    [
        socket.gaierror(-2, "Name or service not known"),  # getaddrinfo could not open a socket
        sqlite3.OperationalError("unable to open database file"),  # sqlite3 at exhaustion
        ValueError("filedescriptor out of range in select()"),  # select() beyond 1023
    ],
)
def test_disguises_count_only_at_the_limit(exc: BaseException) -> None:
    chained = _chained(exc, KeyError("wrapped"))
    assert emfile_evidence(chained, at_limit=False) == []
    assert len(emfile_evidence(chained, at_limit=True)) == 1


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ENOENT, "No such file"),  # another errno
        socket.gaierror(-3, "Temporary failure in name resolution"),  # another gaierror
        ValueError("invalid literal"),  # another ValueError
        None,  # no exception
    ],
)
def test_other_errors_are_not_emfile(exc: BaseException | None) -> None:
    assert emfile_evidence(exc, at_limit=True) == []


def test_cycles_in_the_chain_terminate() -> None:
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    assert emfile_evidence(a, at_limit=True) == []


def test_the_disguises_are_what_real_exhaustion_raises() -> None:
    """Exhaust descriptors for real, then see what sqlite3 and select() raise, and classify it."""
    script = textwrap.dedent(
        """
        import json, os, resource, select, sqlite3, tempfile
        from fdscope.monitor import emfile_evidence
        path = os.path.join(tempfile.mkdtemp(), "db.sqlite")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1100, 1100))
        held = []
        try:
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        out = {}
        try:
            sqlite3.connect(path).execute("create table t (x)")
        except Exception as exc:
            out["sqlite"] = [type(exc).__name__, str(exc), emfile_evidence(exc, at_limit=True),
                             emfile_evidence(exc, at_limit=False)]
        try:
            select.select([held[-1]], [], [], 0)
        except Exception as exc:
            out["select"] = [type(exc).__name__, str(exc), emfile_evidence(exc, at_limit=True),
                             emfile_evidence(exc, at_limit=False)]
        print(json.dumps(out))
        """
    )
    res = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    for name in ("sqlite", "select"):
        kind, text, at_limit, not_at_limit = got[name]
        assert at_limit and not not_at_limit, (name, kind, text)
