"""The package surface: fast import, lazy re-exports, one error tree, python -m."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import fdscope
from fdscope import errors

ROOT = Path(__file__).resolve().parent.parent


def test_import_fdscope_imports_nothing_heavy() -> None:
    code = (
        "import sys, fdscope; heavy = {'duckdb', 'click', 'rich', 'matplotlib', 'boto3'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# Modules that do their job when imported, so they are read, not imported: each must
# define no class at all (an exception class there would escape the walk below).
_RUN_AT_IMPORT = {
    "fdscope.monitor.entry": "imports the function's handler named by FDSCOPE_HANDLER",
    "fdscope.origins._boot.sitecustomize": "starts tracking and chains the program's own",
    "fdscope.local._child.bootstrap": "runs the runtime client in the local Lambda's child",
}


def _every_module() -> list[str]:
    """Every module of the package, each imported (a module that fails to import fails)."""
    import importlib
    import pkgutil

    def broken(name: str) -> None:
        raise AssertionError(f"cannot import {name}")

    names = []
    for info in pkgutil.walk_packages(fdscope.__path__, "fdscope.", onerror=broken):
        names.append(info.name)
        if info.name not in _RUN_AT_IMPORT:
            importlib.import_module(info.name)
    return names


def _is_private_control_flow(cls: type, module: str) -> bool:
    """A ``_Name`` exception raised and caught inside its own module and named nowhere else.

    Such a class (``_NoFastPath``, ``_FastRejected``) is a jump, never an error a
    caller sees; made an FdscopeError it would turn into a user-facing error line,
    or be swallowed by an ``except FdscopeError``, the day it escaped.
    """
    if not cls.__name__.startswith("_"):
        return False
    import re

    word = re.compile(rf"\b{re.escape(cls.__name__)}\b")
    root = Path(fdscope.__file__).resolve().parent
    own = Path(sys.modules[module].__file__ or "").resolve()
    elsewhere = [p for p in root.rglob("*.py") if p != own and word.search(p.read_text())]
    assert elsewhere == [], f"{module}.{cls.__name__} is named outside its module"
    return True


def test_every_exception_class_of_every_module_is_in_the_fdscope_error_tree() -> None:
    import ast
    import inspect

    names = _every_module()
    assert {"fdscope.errors", "fdscope.pytest_plugin._plugin", "fdscope.monitor._layer"} <= set(
        names
    )
    assert len(names) > 100
    outside, seen = [], []
    for name in names:
        if name in _RUN_AT_IMPORT:
            source = Path(fdscope.__file__).resolve().parent.parent / (
                name.replace(".", "/") + ".py"
            )
            tree = ast.parse(source.read_text())
            assert not any(isinstance(n, ast.ClassDef) for n in ast.walk(tree)), name
            continue
        module = sys.modules[name]
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name or not issubclass(cls, BaseException):
                continue
            seen.append(f"{name}.{cls.__qualname__}")
            if issubclass(cls, fdscope.FdscopeError):
                continue
            if issubclass(cls, Warning):
                continue  # a warning category (FdLeakWarning, a PytestWarning): never raised
            if not issubclass(cls, Exception) and cls.__doc__ and "SIGTERM" in cls.__doc__:
                # a signal turned into an interrupt, as KeyboardInterrupt is for SIGINT
                # (local.Terminated): BaseException on purpose, so no `except Exception`
                # swallows it; not an error, so not in the error tree
                continue
            if _is_private_control_flow(cls, name):
                continue
            outside.append(f"{name}.{cls.__qualname__}")
    assert outside == [], "subclass an error of fdscope.errors: " + ", ".join(outside)
    # the walk reaches the subclasses that live beside their package, not only the tree
    for expected in (
        "fdscope.errors.MissingExtra",
        "fdscope.monitor._layer.LayerError",
        "fdscope.pytest_plugin._plugin.MarkerError",
        "fdscope.insights._errors.QuerySyntaxError",
    ):
        assert expected in seen


def test_process_errors_name_the_pid() -> None:
    assert "4242" in str(errors.ProcessGone(4242))
    assert "4242" in str(errors.AccessDenied(4242))


def test_python_dash_m_fdscope_shows_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "fdscope", "--help"], capture_output=True, text=True, check=True
    )
    assert "Usage" in out.stdout


def _pyproject() -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_is_written_once_in_fdscope_init() -> None:
    project = _pyproject()
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "fdscope.__version__"}
    literal = re.compile(rf"""["']{re.escape(fdscope.__version__)}["']""")
    reads = re.compile(r"""(version|distribution|metadata)\(\s*["']fdscope["']|package_name=""")
    written = []
    for path in sorted((ROOT / "src" / "fdscope").rglob("*.py")):
        text = path.read_text()
        rel = path.relative_to(ROOT).as_posix()
        written += [f"{rel}: version" for _ in literal.finditer(text)]
        written += [f"{rel}: {m.group(0)}" for m in reads.finditer(text)]
    assert written == ["src/fdscope/__init__.py: version"]


def test_installed_metadata_equals___version__() -> None:
    assert importlib.metadata.version("fdscope") == fdscope.__version__


def test_the_version_needs_no_package_metadata() -> None:
    # the Lambda layer carries fdscope without metadata: -S hides every installed dist-info
    code = (
        "import sys, fdscope, fdscope.monitor;"
        "print(fdscope.__version__, 'importlib.metadata' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert out.stdout.split() == [fdscope.__version__, "False"]


def test_version_option_prints___version__() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "fdscope", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout == f"fdscope, version {fdscope.__version__}\n"
