"""The Python runtime: CPython with the real ``awslambdaric``.

Handlers are ``module.function`` (with a code root) or ``path/to/app.py:function``;
the child is :mod:`fdscope.local._child.bootstrap` (the runtime client, with the
in-function parts fdscope adds: origins tracking, the network guard, a
collection between invocations); ``PYTHONPATH`` holds the code root and the
layers' ``python/`` folders, as ``/opt/python`` on Lambda.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fdscope._extras import extra
from fdscope.errors import DoctorError
from fdscope.local.runtimes.base import Handler, HandlerError, Runtime

if TYPE_CHECKING:
    import ast

_CHILD_DIR = Path(__file__).resolve().parent.parent / "_child"


def parse_handler(handler: str, code_root: Path | None = None) -> Handler:
    """``module.function`` (with ``code_root``) or ``path/to/app.py:function``.

    Raises :class:`HandlerError` when the form is wrong or the file is missing.
    """
    if ":" in handler:
        path_text, _, func = handler.rpartition(":")
        path = Path(path_text)
        if not func.isidentifier():
            raise HandlerError(f"bad handler {handler!r}: {func!r} is not a function name")
        if path.suffix != ".py":
            raise HandlerError(f"bad handler {handler!r}: expected path/to/file.py:function")
        if not path.is_absolute() and code_root is not None:
            path = code_root / path
        if not path.is_file():
            raise HandlerError(f"handler file not found: {path}")
        _check_defined(path, func)
        return Handler(f"{path.stem}.{func}", path.resolve().parent)
    module, dot, func = handler.rpartition(".")
    if not dot or not module or not func.isidentifier():
        raise HandlerError(f"bad handler {handler!r}: expected module.function or file.py:function")
    root = Path(code_root) if code_root is not None else Path.cwd()
    if not root.is_dir():
        raise HandlerError(f"code root is not a directory: {root}")
    base = root / module.replace(".", "/")
    if func == "py" and (root / f"{module.replace('.', '/')}.py").is_file():
        defined = _top_level_names(root / f"{module.replace('.', '/')}.py")
        own = sorted(n for n in (defined[0] - defined[1] if defined else ()) if n[0] != "_")
        shown = ", ".join(f"{handler}:{n}" for n in own[:3]) or f"{handler}:handler"
        raise HandlerError(f"bad handler {handler!r}: name the function too, e.g. {shown}")
    for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
        if candidate.is_file():
            _check_defined(candidate, func)
            break
    return Handler(handler, root.resolve())


def _top_level_names(path: Path) -> tuple[set[str], set[str]] | None:
    """(names a module binds at its top level, inside if/try/with blocks too; the ones
    of those it only imports), or None when that cannot be known statically (no parse,
    ``import *``, ``globals()``, ``exec``, a module ``__getattr__``)."""
    import ast

    try:
        source = path.read_text(encoding="utf-8", errors="replace")
        tree = ast.parse(source)
    except (OSError, SyntaxError, ValueError, RecursionError):
        return None  # the runtime reports that itself, in its own words
    if any(w in source for w in ("globals(", "exec(", "__getattr__", "setattr(")):
        return None
    names: set[str] = set()
    imported: set[str] = set()
    return (names, imported) if _bind(tree.body, names, imported) else None


def _bind(body: list[ast.stmt], names: set[str], imported: set[str]) -> bool:
    """Add the names ``body`` binds (and, of those, the imported ones); False when
    that cannot be known (``import *``)."""
    import ast

    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return False
                names.add(alias.asname or alias.name.split(".")[0])
                imported.add(alias.asname or alias.name.split(".")[0])
        else:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
            for field in ("body", "orelse", "finalbody"):
                inner = getattr(node, field, None)
                if isinstance(inner, list) and inner and not _bind(inner, names, imported):
                    return False
            for h in getattr(node, "handlers", []) or []:
                if not _bind(h.body, names, imported):
                    return False
            for case in getattr(node, "cases", []) or []:
                if not _bind(case.body, names, imported):
                    return False
    return True


def _check_defined(path: Path, func: str) -> None:
    """HandlerError when ``path`` certainly defines no ``func`` (what the runtime would
    report as Runtime.HandlerNotFound, after a cold start): say it before running."""
    defined = _top_level_names(path)
    if defined is None or func in defined[0]:
        return
    names, imported = defined
    funcs = sorted(n for n in names - imported if not n.startswith("_"))
    hint = f"; it defines {', '.join(funcs[:8])}" if funcs else ""
    raise HandlerError(f"handler {func!r} not found in {path}{hint}")


class PythonRuntime(Runtime):
    """CPython with the real ``awslambdaric``, on fdscope's or the user's interpreter.

    For a foreign interpreter (``python=...``) the runtime client and fdscope
    are linked into a staging folder appended to its ``sys.path``, with a
    pure-Python ``runtime_client`` that takes over when the native extension
    was built for another CPython version. Nothing is installed into the
    user's environment.
    """

    language = "python"
    reserved = ("_FDSCOPE_STAGING",)

    def __init__(self, python: str | None = None) -> None:
        self.python = _resolve(python) if python else sys.executable
        self._version: str | None = None
        # a foreign interpreter with its own awslambdaric (a venv of that version,
        # e.g. ``make pythons``' .venv/pythons/3.X): its native runtime client runs
        self._own_client = self.python == sys.executable

    def parse_handler(self, text: str, code_root: Path | None = None) -> Handler:
        return parse_handler(text, code_root)

    def version(self) -> str:
        if self._version is None:
            if self.python == sys.executable:
                self._version = f"{sys.version_info[0]}.{sys.version_info[1]}"
            else:
                try:
                    out = subprocess.run(
                        [self.python, "-c", _PROBE],
                        capture_output=True,
                        text=True,
                        timeout=30,
                        stdin=subprocess.DEVNULL,
                    )
                except (OSError, subprocess.TimeoutExpired) as exc:
                    raise DoctorError(f"cannot run Python interpreter {self.python}: {exc}")
                if out.returncode != 0 or not out.stdout.strip():
                    raise DoctorError(
                        f"{self.python} is not a working Python: {out.stderr.strip()[:200]}"
                    )
                version, _, own = out.stdout.strip().partition(" ")
                self._version, self._own_client = version, own == "1"
        return self._version

    def execution_env(self) -> str:
        return f"AWS_Lambda_python{self.version()}"

    def prepare(self, staging: Path) -> None:
        staging.mkdir(parents=True, exist_ok=True)
        links = {"runtime_client.py": _CHILD_DIR / "runtime_client_fallback.py"}
        self.version()  # (a foreign interpreter's own runtime client is found here)
        with extra("lambda", "the local Lambda"):  # the child runs it: say so here, not there
            import awslambdaric
        if self.python != sys.executable:
            import fdscope

            links["fdscope"] = Path(fdscope.__file__).resolve().parent
        if self.python != sys.executable and not self._own_client:
            ric_dir = Path(awslambdaric.__file__).resolve().parent
            links["awslambdaric"] = ric_dir
            for native in ric_dir.parent.glob("runtime_client*.so"):
                links[native.name] = native
            links.update(_requirement_links("awslambdaric"))
        for name, target in links.items():
            link = staging / name
            if not link.exists():
                link.symlink_to(target)

    def command(self, handler: Handler) -> list[str]:
        return [self.python, str(_CHILD_DIR / "bootstrap.py"), handler.name]

    def environment(self, handler: Handler, layers: list[Path], staging: Path) -> dict[str, str]:
        """Lambda's handler variables, ``PYTHONPATH`` (the code root, then each layer's
        ``python/lib/pythonX.Y/site-packages`` and ``python/``) and the child's own."""
        path = [str(handler.code_root)]
        version = self.version()
        for layer in layers:
            base = Path(layer) / "python"
            if not base.is_dir():
                raise HandlerError(f"layer {layer} has no python/ folder (as /opt/python needs)")
            site = base / "lib" / f"python{version}" / "site-packages"
            if site.is_dir():
                path.append(str(site.resolve()))
            path.append(str(base.resolve()))
        if self.python == sys.executable:
            # fdscope itself may come from a source checkout (the child runs
            # fdscope's interpreter, so its site-packages are on the path anyway).
            import fdscope

            path.append(str(Path(fdscope.__file__).resolve().parent.parent))
        return {
            **super().environment(handler, layers, staging),
            "PYTHONPATH": os.pathsep.join(path),
            "LAMBDA_RUNTIME_DIR": str(_CHILD_DIR),
            "_FDSCOPE_STAGING": str(staging),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }

    def init_start_line(self) -> str:
        python = self.version()
        return (
            f"INIT_START Runtime Version: python:{python}.fdscope\t"
            f"Runtime Version ARN: arn:aws:lambda:local::runtime:fdscope-python{python}\n"
        )

    def record(self) -> dict[str, Any]:
        """``runtime``, ``python`` (the version), ``interpreter`` (its path) and
        ``runtime_client``: ``own`` (the interpreter's awslambdaric, native) or
        ``linked`` (fdscope's, with the pure-Python runtime_client on another CPython)."""
        version = self.version()
        return {
            **super().record(),
            "python": version,
            "interpreter": self.python,
            "runtime_client": "own" if self._own_client else "linked",
        }


def _resolve(python: str) -> str:
    """``--python``: a path or command; ``3.12`` or ``python3.12`` that is not on PATH
    is looked for where interpreters are installed (pyenv, uv, /usr/local/bin)."""
    import re
    import shutil

    m = re.fullmatch(r"(?:python)?(3\.\d+)", python)
    if m is None or shutil.which(python):
        return python
    from fdscope.monitor import find_python

    return find_python(m.group(1)) or python


# The version of an interpreter and whether it has its own runtime client.
_PROBE = (
    "import sys, importlib.util as u; print('%d.%d' % sys.version_info[:2],"
    " int(u.find_spec('awslambdaric') is not None and u.find_spec('runtime_client') is not None))"
)


def _requirement_links(dist_name: str) -> dict[str, Path]:
    """Top-level modules of ``dist_name``'s requirements (simplejson, ...), by name.

    Packages with C speedups fall back to pure Python on another CPython.
    """
    import importlib.metadata as md
    import re

    out: dict[str, Path] = {}
    for req in md.requires(dist_name) or []:
        if ";" in req and "extra" in req.split(";", 1)[1]:
            continue
        name = re.split(r"[\s<>=!~\[;(]", req, maxsplit=1)[0]
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        tops = set((dist.read_text("top_level.txt") or "").split())
        for f in dist.files or []:
            first = f.parts[0]
            if not first.endswith((".dist-info", ".egg-info")) and first != "__pycache__":
                tops.add(first[:-3] if first.endswith(".py") else first)
        base = Path(str(dist.locate_file("")))
        for top in tops:
            for candidate in (base / top, base / f"{top}.py"):
                if candidate.exists():
                    out[candidate.name] = candidate.resolve()
    return out
