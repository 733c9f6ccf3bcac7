"""Optional dependencies: one door (fdscope._extras.extra) that names the extra to install.

The last tests build fresh virtual environments (no pip, no system site-packages):
with the core alone ``fdscope`` prints the hint and exits 2; with click and rich but
no duckdb, ``fdscope query`` names the query extra.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata as md
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fdscope._extras import extra
from fdscope.errors import FdscopeError, MissingExtra

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"

# top-level module -> (extra, the distribution that extra lists for it)
OPTIONAL = {
    "click": ("cli", "click"),
    "rich": ("cli", "rich"),
    "duckdb": ("query", "duckdb"),
    "matplotlib": ("plot", "matplotlib"),
    "boto3": ("aws", "boto3"),
    "botocore": ("aws", "boto3"),  # boto3 brings it
    "awslambdaric": ("lambda", "awslambdaric"),
    "psutil": ("psutil", "psutil"),
    "moto": ("local-aws", "moto"),
}

# imports of optional modules that are guarded on purpose: the absence is a path, not an error
DELIBERATE = {
    # the /proc-less fallback: HandlesError, which handles._api catches to try the next backend
    ("fdscope/handles/_psutil.py", "psutil"),
    # --engine auto: without duckdb, the standard-library reader
    ("fdscope/cli/metrics.py", "duckdb"),
    # under awslambdaric, its FaultException; under any other runtime client, None
    ("fdscope/monitor/_handler_ref.py", "awslambdaric"),
    # the child (maybe another CPython); the parent (local._runtime) requires it first
    ("fdscope/local/_child/bootstrap.py", "awslambdaric"),
}

MISSING = "fdscope_test_no_such_dependency"


def test_a_missing_module_names_the_extra() -> None:
    with pytest.raises(MissingExtra) as info, extra("aws"):
        importlib.import_module(MISSING)
    err = info.value
    assert isinstance(err, FdscopeError)
    assert str(err) == f"{MISSING} is not installed: pip install 'fdscope[aws]'"
    assert (err.extra, err.module) == ("aws", MISSING)
    assert isinstance(err.__cause__, ModuleNotFoundError)


def test_needed_for_says_what_needs_it() -> None:
    with (
        pytest.raises(MissingExtra, match=r"^the bulk path needs "),
        extra("query", "the bulk path"),
    ):
        importlib.import_module(f"{MISSING}.sub")
    with pytest.raises(MissingExtra) as info, extra("query", "the bulk path"):
        importlib.import_module(f"{MISSING}.sub")
    assert str(info.value) == f"the bulk path needs {MISSING}: pip install 'fdscope[query]'"
    assert info.value.module == MISSING  # the top-level name, not the submodule


def test_an_installed_module_that_fails_to_import_is_named_as_broken() -> None:
    broken = r"duckdb is installed but cannot be imported.*fdscope\[query\]"
    with pytest.raises(MissingExtra, match=broken), extra("query"):
        raise ImportError("cannot import name 'sqltypes' from 'duckdb'", name="duckdb")


def test_a_missing_fdscope_module_is_not_disguised_as_an_extra() -> None:
    with pytest.raises(ModuleNotFoundError) as info, extra("cli"):
        importlib.import_module("fdscope.no_such_module")
    assert not isinstance(info.value, MissingExtra)


def test_other_errors_and_success_pass_through() -> None:
    with pytest.raises(ValueError), extra("cli"):
        raise ValueError("not an import")
    with extra("cli") as block:
        import json  # noqa: F401
    assert block.name == "cli"


def _optional_imports(tree: ast.AST) -> list[tuple[ast.stmt, str, list[ast.AST]]]:
    """Every import of an optional module, with its ancestors (outermost first)."""
    found: list[tuple[ast.stmt, str, list[ast.AST]]] = []

    def walk(node: ast.AST, parents: list[ast.AST]) -> None:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.partition(".")[0]
            if top in OPTIONAL:
                found.append((node, top, parents))  # type: ignore[arg-type]
        for child in ast.iter_child_nodes(node):
            walk(child, [*parents, node])

    walk(tree, [])
    return found


def _extra_of(with_node: ast.AST) -> str | None:
    if not isinstance(with_node, ast.With) or len(with_node.items) != 1:
        return None
    call = with_node.items[0].context_expr
    if (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "extra"
        and call.args
        and isinstance(call.args[0], ast.Constant)
    ):
        return str(call.args[0].value)
    return None


def test_every_optional_import_in_src_goes_through_the_helper() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    listed = {
        name: {re.split(r"[\s<>=!~\[;]", req, maxsplit=1)[0].lower() for req in reqs}
        for name, reqs in extras.items()
    }
    seen_deliberate = set()
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for node, top, parents in _optional_imports(ast.parse(path.read_text(), str(path))):
            where = f"{rel}:{node.lineno} {top}"
            if (rel, top) in DELIBERATE:
                seen_deliberate.add((rel, top))
                continue
            block = parents[-1] if parents else None
            name = _extra_of(block) if block is not None else None
            if name is None or not isinstance(block, ast.With):
                problems.append(f"{where}: not inside 'with extra(...)'")
                continue
            want, dist = OPTIONAL[top]
            if name != want or dist not in listed.get(name, set()):
                problems.append(f"{where}: extra({name!r}), pyproject lists {dist} in {want!r}")
            if not all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in block.body):
                problems.append(f"{where}: the with block holds more than imports")
    assert problems == []
    assert seen_deliberate == DELIBERATE, "a deliberate guard is gone: update DELIBERATE"


def test_the_helper_is_standard_library_and_cheap() -> None:
    code = (
        "import sys; before = set(sys.modules); import fdscope._extras;"
        "print(sorted(m for m in set(sys.modules) - before))"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    new = out.stdout.split("'")[1::2]
    assert [m for m in new if m.partition(".")[0] not in sys.stdlib_module_names] == [
        "fdscope",
        "fdscope._extras",
        "fdscope.errors",
    ]
    assert len(new) <= 4, new  # and hardly any of the standard library (__future__)


# --- fresh virtual environments -----------------------------------------------------------


def _venv(root: Path) -> tuple[Path, Path]:
    """A venv without pip or system site-packages; fdscope from src/ (as the editable
    install does it) and its console script written from pyproject's [project.scripts]."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=60
    )
    py = root / "bin" / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
    ).stdout.strip()
    site = Path(purelib)
    (site / "fdscope_src.pth").write_text(f"{SRC}\n")
    target = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["fdscope"]
    module, _, func = target.partition(":")
    script = root / "bin" / "fdscope"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!{py}
            import sys
            from {module} import {func}
            if __name__ == '__main__':
                sys.exit({func}())
            """
        )
    )
    script.chmod(0o755)
    return py, site


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _link_distribution(name: str, site: Path, done: set[str]) -> None:
    """Make ``name`` and what it requires importable in ``site``, as installed here."""
    key = name.lower().replace("_", "-")
    if key in done:
        return
    done.add(key)
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        return  # a requirement for another platform (colorama on Windows)
    tops = {f.parts[0] for f in dist.files or [] if f.parts[0] != "__pycache__"}
    for top in tops:
        source = Path(str(dist.locate_file(top)))
        if source.exists() and not top.endswith(".pth") and not (site / top).exists():
            (site / top).symlink_to(source)
    for req in dist.requires or []:
        if ";" in req and "extra" in req.split(";", 1)[1]:
            continue
        _link_distribution(re.split(r"[\s<>=!~\[;(]", req, maxsplit=1)[0], site, done)


def _run(args: list[str | Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=60, env=_env()
    )


def _importable(py: Path) -> list[str]:
    code = (
        "import importlib.util as u;"
        f"print(sorted(m for m in {sorted(OPTIONAL)!r} if u.find_spec(m)))"
    )
    return _run([py, "-c", code]).stdout.split("'")[1::2]


@pytest.mark.slow
def test_core_only_prints_the_hint_and_exits_2(tmp_path: Path) -> None:
    py, _ = _venv(tmp_path / "core")
    assert _importable(py) == []  # really no extras here
    script = tmp_path / "core" / "bin" / "fdscope"
    argvs: list[list[str | Path]] = [[script, "--help"], [script, "query", "fields @message", "x"]]
    for argv in argvs:
        out = _run(argv)
        assert out.returncode == 2, out
        assert out.stderr == "error: click is not installed: pip install 'fdscope[cli]'\n"
        assert out.stdout == ""
    out = _run([py, "-m", "fdscope", "--help"])  # python -m fdscope too
    assert (out.returncode, "fdscope[cli]" in out.stderr, "Traceback" in out.stderr) == (
        2,
        True,
        False,
    )


@pytest.mark.slow
def test_query_without_duckdb_names_the_query_extra(tmp_path: Path) -> None:
    py, site = _venv(tmp_path / "cli")
    done: set[str] = set()
    for name in ("click", "rich"):
        _link_distribution(name, site, done)
    assert _importable(py) == ["click", "rich"]
    script = tmp_path / "cli" / "bin" / "fdscope"
    out = _run([script, "--help"])
    assert out.returncode == 0, out.stderr
    assert "query" in out.stdout
    log = tmp_path / "app.log"
    log.write_text("2024-05-01T12:00:00.000Z\tabc\tINFO\thello\n")
    out = _run([script, "query", "fields @message", log])
    assert out.returncode == 2, out
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "error: running a query on local logs needs duckdb: pip install 'fdscope[query]'"
    ]
