"""The layering, checked from the source: no reach-ins, no hidden lookups, the contract holds.

Import Linter (``[tool.importlinter]`` in pyproject.toml, run by ``make test``) checks
every import statement, at module level and inside functions. What it cannot see is
checked here from the syntax tree:

- an import of another package's private module or name (``fdscope.handles._model``
  from ``fdscope.origins``): what one package needs of another is exported by the
  other's ``__init__``; ``fdscope.<pkg>._x`` inside ``fdscope.<pkg>`` is fine, and so
  are the root's own helpers (``fdscope._extras``);
- a module looked up by name at run time (``sys.modules``, ``importlib.import_module``,
  ``__import__``, ``find_spec``...), which no import graph sees; the few legitimate
  uses are listed in :data:`LOOKUPS_ALLOWED` with their reason;
- a string naming another package's private module (``"fdscope.handles._api"``), the
  form a lookup or a lazy table takes.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fdscope

ROOT = Path(__file__).resolve().parent.parent
SRC = Path(fdscope.__file__).resolve().parent  # src/fdscope

# module -> why it may look modules up by name (each must still do so: see the test)
LOOKUPS_ALLOWED: dict[str, str] = {
    "fdscope.cli": (
        "LazyGroup imports its OWN subcommand modules (fdscope.cli.*, listed in COMMANDS) "
        "when a command runs, so `fdscope --help` stays fast"
    ),
    "fdscope.monitor._handler_ref": (
        "imports the USER's handler module named by FDSCOPE_HANDLER, as the runtime does"
    ),
    "fdscope.monitor._connections": (
        "counts connects in socket.socket only if the program already loaded socket "
        "(sys.modules): the monitor must not import it (~3 ms of a cold start)"
    ),
    "fdscope.origins._tracker": (
        "wraps asyncio and C-call modules only if the program already loaded them "
        "(sys.modules.get): tracking must not import them"
    ),
    "fdscope.origins._report": (
        "names a user frame by the shortest public path of the USER's already loaded "
        "packages (requests.get for requests.api.get): judging frames, never importing"
    ),
    "fdscope.origins._retention": (
        "finds which loaded module or class holds a leaked handle (walks sys.modules) and "
        "recognises logging/threading/asyncio roots only if the program loaded them"
    ),
    "fdscope.origins._boot.sitecustomize": (
        "chains to the program's own sitecustomize further down sys.path"
    ),
    "fdscope.pytest_plugin._plugin": (
        "walks every loaded module's globals to find where a leaked handle is held"
    ),
}

_LOOKUP_CALLS = {
    "import_module",
    "__import__",
    "find_spec",
    "module_from_spec",
    "spec_from_file_location",
    "find_loader",
    "reload",
}
_MODULE_NAME = re.compile(r"fdscope(\.[A-Za-z_][A-Za-z0-9_]*)+")


def _modules() -> list[tuple[str, Path, bool]]:
    """(dotted name, path, is a package __init__) of every module under src/fdscope."""
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out.append((".".join(parts), path, is_pkg))
    return out


MODULES = _modules()


def _package(module: str) -> str:
    """The top-level part a module belongs to: fdscope.handles for fdscope.handles._api."""
    return ".".join(module.split(".")[:2])


def _reach_in(importer: str, target: str) -> bool:
    """True when ``target`` is a private module or name of a package other than importer's."""
    parts = target.split(".")
    if parts[0] != "fdscope" or len(parts) < 3:
        return False  # fdscope, fdscope.x and fdscope._x (the root's own helpers) are shared
    if _package(target) == _package(importer):
        return False
    return any(p.startswith("_") and not p.startswith("__") for p in parts[2:])


def _imported_names(node: ast.AST, module: str, is_pkg: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if is_pkg else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            origin = ".".join(base + ([node.module] if node.module else []))
        else:
            origin = node.module or ""
        return [origin] + [f"{origin}.{a.name}" for a in node.names]
    return []


def _is_lookup(node: ast.AST) -> bool:
    if (
        isinstance(node, ast.Attribute)
        and node.attr == "modules"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sys"
    ):
        return True
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        return name in _LOOKUP_CALLS
    return False


def _scan(module: str, path: Path, is_pkg: bool) -> tuple[list[str], list[int]]:
    """(reach-ins as "line: target", lines of run-time module lookups) of one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    reach: list[str] = []
    lookups: list[int] = []
    for node in ast.walk(tree):
        for target in _imported_names(node, module, is_pkg):
            if _reach_in(module, target):
                reach.append(f"{node.lineno}: import {target}")
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _MODULE_NAME.fullmatch(node.value)
            and _reach_in(module, node.value)
        ):
            reach.append(f"{node.lineno}: the string {node.value!r}")
        if _is_lookup(node):
            lookups.append(getattr(node, "lineno", 0))
    return reach, lookups


def test_the_scan_sees_every_package() -> None:
    names = {m for m, _, _ in MODULES}
    for pkg in ("handles", "origins", "emf", "trend", "logs", "monitor", "local", "cli"):
        assert f"fdscope.{pkg}" in names
    assert len(MODULES) > 100


def test_no_module_reaches_into_another_packages_private_module() -> None:
    found = []
    for module, path, is_pkg in MODULES:
        reach, _ = _scan(module, path, is_pkg)
        found += [f"{module}:{r}" for r in reach]
    assert found == [], "export it from the package's __init__ instead:\n" + "\n".join(found)


def test_no_module_is_looked_up_by_name_but_the_listed_ones() -> None:
    found = {}
    for module, path, is_pkg in MODULES:
        _, lookups = _scan(module, path, is_pkg)
        if lookups:
            found[module] = lookups
    unexpected = {m: lines for m, lines in found.items() if m not in LOOKUPS_ALLOWED}
    assert unexpected == {}, (
        "a run-time lookup (sys.modules, importlib) hides an import from the contract: "
        f"import the public package (lazily if it is costly) instead: {unexpected}"
    )
    stale = sorted(set(LOOKUPS_ALLOWED) - set(found))
    assert stale == [], f"allowed but no longer looking modules up: drop them: {stale}"


def test_the_cli_loads_only_its_own_subcommand_modules() -> None:
    from fdscope.cli import COMMANDS

    for target in COMMANDS.values():
        module = target.partition(":")[0]
        assert module.startswith("fdscope.cli.") and not _reach_in("fdscope.cli", module)


def test_the_scan_catches_what_it_is_for(tmp_path: Path) -> None:
    """The checks above fail on the forms they exist for (so that they can fail at all)."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import sys\n"
        "from fdscope.handles._model import KINDS\n"
        "from fdscope.handles import _api\n"
        "def f():\n"
        "    from ..logs._read import is_event_object\n"
        "    return sys.modules.get('fdscope.handles._api')\n"
        "def g():\n"
        "    import importlib\n"
        "    return importlib.import_module('fdscope.origins')\n"
    )
    reach, lookups = _scan("fdscope.origins._report", bad, False)
    assert sorted(int(r.split(":")[0]) for r in reach) == [2, 2, 3, 5, 5, 6]
    assert sorted(lookups) == [6, 9]
    same, _ = _scan("fdscope.handles._diff", bad, False)
    assert not any("handles._" in r for r in same)  # inside its own package: fine


# ----------------------------------------------------------------- the import contract
def _lint_imports() -> Path:
    exe = Path(sys.executable).parent / "lint-imports"
    assert exe.is_file(), "import-linter is a dev dependency: pip install -e '.[dev]'"
    return exe


def _run_contract(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(_lint_imports()), "--no-cache", "--no-logo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """src/ and pyproject.toml copied: the contract checks the copy (PYTHONPATH first)."""
    shutil.copytree(
        ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contract_holds_on_the_source(tree_copy: Path) -> None:
    out = _run_contract(tree_copy)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


PLANTS = {
    "a heavy dependency": ("import duckdb", "-> duckdb"),
    "an analysis module": ("from fdscope.metrics import percentile", "-> fdscope.metrics"),
}


@pytest.mark.parametrize("what", sorted(PLANTS))
def test_the_contract_catches_a_runtime_module_importing_inside_a_function(
    tree_copy: Path, what: str
) -> None:
    statement, edge = PLANTS[what]
    api = tree_copy / "src" / "fdscope" / "handles" / "_api.py"
    api.write_text(
        api.read_text(encoding="utf-8")
        + f"\n\ndef _planted() -> object:\n    {statement}  # noqa\n    return None\n",
        encoding="utf-8",
    )
    out = _run_contract(tree_copy)
    text = " ".join((out.stdout + out.stderr).split())  # the report wraps long names
    assert out.returncode != 0, text
    assert "Runtime parts: standard library only" in text and "BROKEN" in text
    assert f"fdscope.handles._api {edge}" in text
