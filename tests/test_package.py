"""The package surface: fast import, lazy re-exports, one error tree, python -m."""

from __future__ import annotations

import subprocess
import sys

import fdscope
from fdscope import errors


def test_import_fdscope_imports_nothing_heavy() -> None:
    code = (
        "import sys, fdscope; heavy = {'duckdb', 'click', 'rich', 'matplotlib', 'boto3'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_error_is_an_fdscope_error() -> None:
    for name in dir(errors):
        obj = getattr(errors, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, Exception)
            and obj.__module__ == errors.__name__
        ):
            assert issubclass(obj, fdscope.FdscopeError), name


def test_process_errors_name_the_pid() -> None:
    assert "4242" in str(errors.ProcessGone(4242))
    assert "4242" in str(errors.AccessDenied(4242))


def test_python_dash_m_fdscope_shows_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "fdscope", "--help"], capture_output=True, text=True, check=True
    )
    assert "Usage" in out.stdout
