"""The project pass: files, parsing, handlers, the per-invocation call chains, noqa, config."""

from __future__ import annotations

import ast
import fnmatch
import io
import os
import re
import stat
import sys
import tokenize
import warnings
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from fdscope.lint._checker import check
from fdscope.lint._config import DEFAULT_EXCLUDE, Config, find_pyproject, load_config
from fdscope.lint._errors import HandlerNotFound, LintConfigError
from fdscope.lint._facts import FunctionFacts, Module
from fdscope.lint._handlers import HandlerRef, discover, from_cdk, layers, parse_handler
from fdscope.lint._rules import RULES
from fdscope.lint._specs import SPECS
from fdscope.lint.js._parse import JS_SUFFIXES

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*))?", re.I)
_EVENT = ("event", "evt", "_event", "events")
_CONTEXT = ("context", "ctx", "_context", "lambda_context", "_ctx", "_")
_DEPLOY_FILES = (
    "template.yaml",
    "template.yml",
    "template.json",
    "serverless.yml",
    "serverless.yaml",
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding: where, which rule, what, how to fix, and (per-invocation) the call chain."""

    path: str
    line: int
    col: int
    code: str
    message: str
    hint: str
    chain: tuple[str, ...] = ()

    def text(self) -> str:
        """``path:line:col: FDSnnn message``."""
        return f"{self.path}:{self.line}:{self.col + 1}: {self.code} {self.message}"


@dataclass(frozen=True, slots=True)
class LintResult:
    """All findings (sorted), how many source files were checked, the handlers found."""

    findings: tuple[Finding, ...]
    files: int
    handlers: tuple[str, ...]
    notes: tuple[str, ...] = ()  # one line each, for stderr (JavaScript not checked: no extra)

    @property
    def exit_code(self) -> int:
        return 1 if self.findings else 0


@dataclass
class _File:
    path: Path
    shown: str
    module: Module | None
    lines: list[str]
    error_at: tuple[int, int] = (1, 0)  # where FDS001 points: (line, 0-based column)
    code: str = "FDS001"  # FDS002: not checked (too large, not a regular file)


# the largest file lint checks: time and memory grow linearly, about 6 s and 250 MB per MB of
# source (bench/lint.py --scale); a larger file is reported as FDS002, never run out of memory
MAX_FILE_BYTES = 2 * 1024 * 1024


def real(path: Path) -> Path:
    """``path`` with symbolic links resolved; a link loop stays as written (made absolute)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: "Symlink loop" before Python 3.13
        return Path(os.path.abspath(path))


def _excluded(path: Path, root: Path, patterns: Sequence[str]) -> bool:
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        rel = path.as_posix()
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(path.name, p) for p in patterns)


def collect_files(
    paths: Iterable[Path], config: Config, js: list[Path] | None = None
) -> tuple[list[Path], list[Path]]:
    """Python files and deployment files (templates, serverless.yml, CDK .ts/.js) under ``paths``;
    JavaScript/TypeScript sources are added to ``js`` when given."""
    py: list[Path] = []
    other: list[Path] = []
    # patterns match from the pyproject.toml's directory (else the working directory) and, for
    # a directory walked, from that directory
    base = config.source.parent if config.source is not None else Path.cwd()
    for given in paths:
        if not given.exists():
            raise LintConfigError(f"no such file or directory: {given}")
        if not given.is_dir() and not given.is_file():
            raise LintConfigError(
                f"{given} is not a regular file or a directory (a FIFO, a device?)"
            )
        if given.is_file():
            # named files obey ``exclude`` too (the pre-commit hook names every staged file)
            if config.exclude and _excluded(Path(os.path.abspath(given)), base, config.exclude):
                continue
            if js is not None and _is_js(given.name):
                js.append(given)
            (py if given.suffix in (".py", ".pyi") or given.suffix == "" else other).append(given)
            continue
        for dirpath, dirnames, filenames in os.walk(given):
            dirnames[:] = sorted(
                d
                for d in dirnames
                if d not in DEFAULT_EXCLUDE
                and not d.endswith(".egg-info")
                and not _excluded(Path(dirpath) / d, given, config.exclude)
                and not _excluded(Path(os.path.abspath(Path(dirpath) / d)), base, config.exclude)
            )
            for name in sorted(filenames):
                p = Path(dirpath) / name
                if config.exclude and (
                    _excluded(p, given, config.exclude)
                    or _excluded(Path(os.path.abspath(p)), base, config.exclude)
                ):
                    continue
                if name.endswith(".py"):
                    py.append(p)
                    continue
                if js is not None and _is_js(name):
                    js.append(p)
                if name in _DEPLOY_FILES or (
                    name.endswith((".ts", ".js"))
                    and not name.endswith(".d.ts")
                    and "cdk" in dirpath.lower() + name.lower()
                ):
                    other.append(p)
    return py, other


def _is_js(name: str) -> bool:
    return name.endswith(JS_SUFFIXES) and not name.endswith((".d.ts", ".d.mts", ".d.cts"))


def _parse(path: Path, shown: str) -> tuple[_File, str | None]:
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read forever
            return _File(path, shown, None, [], code="FDS002"), "not a regular file (a FIFO?)"
        if st.st_size > MAX_FILE_BYTES:
            return _File(path, shown, None, [], code="FDS002"), _too_large(st.st_size)
        data = path.read_bytes()
    except OSError as exc:
        return _File(path, shown, None, []), f"cannot read: {exc.strerror or exc}"
    return _parse_bytes(data, path, shown)


def _too_large(size: int) -> str:
    return f"too large to check ({size / 2**20:.1f} MB > the {MAX_FILE_BYTES / 2**20:g} MB limit)"


def _parse_bytes(data: bytes, path: Path, shown: str) -> tuple[_File, str | None]:
    if len(data) > MAX_FILE_BYTES:
        return _File(path, shown, None, [], code="FDS002"), _too_large(len(data))
    try:
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
        source = data.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        source = data.decode("utf-8", "replace")
    lines = source.splitlines()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(data, filename=str(path))
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        at = (max(exc.lineno or 1, 1), max((exc.offset or 1) - 1, 0))
        return _File(path, shown, None, lines, at), f"{exc.msg}{where}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return _File(path, shown, None, lines), str(exc) or type(exc).__name__
    module = Module(tree, source)
    try:
        check(module)
    except RecursionError:
        return _File(path, shown, None, lines), "too deeply nested to check"
    module.release()
    return _File(path, shown, module, lines), None


def _suppressed(lines: list[str], line: int, code: str) -> bool:
    if not 0 < line <= len(lines):
        return False
    text = lines[line - 1]
    if "#" not in text:
        return False
    m = _NOQA.search(text)
    if m is None:
        return False
    codes = m.group("codes")
    if not codes:
        return True
    # a code or a prefix of one, as in the configuration (FDS1 = the leak family)
    return any(code.upper().startswith(c.strip().upper()) for c in codes.split(","))


class _Project:
    def __init__(self, files: list[_File], roots: list[Path]) -> None:
        self.files = files
        self.by_path = {real(f.path): f for f in files if f.module is not None}
        self.roots = roots

    def module_file(self, name: str, origin: Path, level: int = 0) -> _File | None:
        """The project file a (possibly relative) module name refers to."""
        parts = name.split(".") if name else []
        if level:
            base = origin.parent
            for _ in range(level - 1):
                base = base.parent
            bases = [base]
        else:
            bases = [origin.parent, *origin.parent.parents][:6] + self.roots
        for base in bases:
            for candidate in (
                base.joinpath(*parts).with_suffix(".py") if parts else None,
                base.joinpath(*parts, "__init__.py"),
            ):
                if candidate is not None:
                    hit = self.by_path.get(real(candidate))
                    if hit is not None:
                        return hit
        return None

    def find_ref(self, ref: HandlerRef) -> list[tuple[_File, str]]:
        """Files and function names a HandlerRef points at."""
        if ref.runtime == "nodejs":
            return []  # a Node.js function's handler (fdscope.lint.js)
        suffix = ref.module + ".py"
        hits: list[tuple[_File, str]] = []
        for path, f in self.by_path.items():
            posix = path.as_posix()
            if not (posix.endswith("/" + suffix) or posix == suffix):
                continue
            if ref.base is not None:
                try:
                    path.relative_to(ref.base)
                except ValueError:
                    continue
            assert f.module is not None
            if ref.function in f.module.functions or ref.function in f.module.assigned:
                hits.append((f, ref.function))
        return hits

    def included(self, f: _File) -> list[_File]:
        """Modules whose routers or blueprints ``f``'s app includes (``app.include_router(r)``)."""
        module = f.module
        assert module is not None
        out: list[_File] = []
        for name in module.included:
            head, _, rest = name.partition(".")
            target = module.imports.get(head)
            if target is None:
                continue
            # ``import routes`` / routes.router; ``from routes import router``; ``from . import r``
            candidates = [target] if rest else [target, target.rpartition(".")[0]]
            for cand in candidates:
                level = len(cand) - len(cand.lstrip("."))
                hit = self.module_file(cand.lstrip("."), f.path, level)
                if hit is not None and hit is not f:
                    out.append(hit)
                    break
        return out

    def resolve_call(self, f: _File, facts: FunctionFacts, name: str) -> tuple[_File, str] | None:
        """The project function a call inside ``facts`` reaches, if any."""
        module = f.module
        assert module is not None
        if "()." in name:
            made, _, method = name.partition("().")
            hit = self.resolve_call(f, facts, made)
            if hit is None or not hit[1].endswith(".__init__"):
                return None
            g, init = hit
            bound = f"{init.rsplit('.', 1)[0]}.{method}"
            assert g.module is not None
            return (g, bound) if bound in g.module.functions else None
        head, _, rest = name.partition(".")
        if head in ("self", "cls") and "." in facts.qualname and rest and "." not in rest:
            cls = facts.qualname.split(".")[0]
            return (f, f"{cls}.{rest}") if f"{cls}.{rest}" in module.functions else None
        if not rest:
            if head in module.functions:
                return f, head
            if f"{head}.__init__" in module.functions:
                return f, f"{head}.__init__"
            target = module.imports.get(head)
            if target is None:
                return None
            mod_name, _, func = target.rpartition(".")
            level = len(mod_name) - len(mod_name.lstrip("."))
            other = self.module_file(mod_name.lstrip("."), f.path, level)
            if other is None or other.module is None:
                return None
            if func in other.module.functions:
                return other, func
            if f"{func}.__init__" in other.module.functions:
                return other, f"{func}.__init__"
            return None
        target = module.imports.get(head)
        if target is None or "." in rest:
            return None
        level = len(target) - len(target.lstrip("."))
        other = self.module_file(target.lstrip("."), f.path, level)
        if other is None or other.module is None:
            return None
        if rest in other.module.functions:
            return other, rest
        if f"{rest}.__init__" in other.module.functions:
            return other, f"{rest}.__init__"
        return None


# web apps and their Lambda adapters: ``handler = Mangum(app)`` runs the app's routes
_APPS = frozenset(name for name, spec in SPECS.items() if spec.per_call == "FDS205")
# those that only run on Lambda: their module's routes are per-invocation code by themselves
_LAMBDA_APPS = frozenset({"mangum.Mangum", "apig_wsgi.make_lambda_handler", "chalice.Chalice"})


def _entries(module: Module, name: str, depth: int = 0) -> tuple[list[str], bool]:
    """What a module-level handler that is not a ``def`` runs: (functions, the app's routes).

    ``handler = Mangum(app)`` / ``app = Chalice(...)``: the routes; ``handler = Handler()``:
    ``Handler.__call__``; ``lambda_handler = Service.handle``: that method.
    """
    bound = module.assigned.get(name)
    if bound is None or depth > 3:
        return [], False
    kind, target, args = bound
    if kind == "ref":
        if target in module.functions:
            return [target], False
        return _entries(module, target, depth + 1) if target != name else ([], False)
    if target in _APPS:
        return [], True
    if f"{target}.__call__" in module.functions:
        return [f"{target}.__call__"], False
    routes = any(_entries(module, a, depth + 1)[1] for a in args if a != name)
    return [], routes


def _is_handler_signature(facts: FunctionFacts) -> bool:
    p = facts.params
    return len(p) == 2 and p[0] in _EVENT and p[1] in _CONTEXT


def lint(
    paths: Sequence[str | Path],
    *,
    config: Config | None = None,
    handlers: Sequence[str] = (),
) -> LintResult:
    """Check files and directories; ``handlers`` adds ``module.function`` handlers.

    Raises LintConfigError for a bad path or configuration, HandlerNotFound when a
    handler named with ``handlers`` matches no function.
    """
    if not paths:
        raise LintConfigError("no paths to check")
    given = [Path(p) for p in paths]
    if config is None:
        config = load_config(find_pyproject(given[0]))
    js_files: list[Path] = []
    py_files, deploy_files = collect_files(given, config, js_files)
    cwd = Path.cwd()
    parsed: list[tuple[_File, str | None]] = []
    for path in py_files:
        parsed.append(_parse(path, _shown(path, cwd)))
    roots = [real(p) if p.is_dir() else real(p).parent for p in given]
    roots += [r / "src" for r in roots if (r / "src").is_dir()]
    if not js_files:
        return _analyse(parsed, roots, deploy_files, config, handlers)
    return _with_js(parsed, roots, deploy_files, config, handlers, js_files, given, cwd)


def _shown(path: Path, cwd: Path) -> str:
    try:
        # the path as given (a symbolic link is named, not its target), relative to cwd
        return str(Path(os.path.abspath(path)).relative_to(cwd))
    except ValueError:
        return str(path)


def _with_js(
    parsed: list[tuple[_File, str | None]],
    roots: list[Path],
    deploy_files: list[Path],
    config: Config,
    handlers: Sequence[str],
    js_files: list[Path],
    given: list[Path],
    cwd: Path,
) -> LintResult:
    """Python and JavaScript/TypeScript together (fdscope.lint.js, the ``lint-js`` extra)."""
    from fdscope.lint import js

    if not js.available():
        if any(p.is_file() and _is_js(p.name) for p in given):
            from fdscope.lint.js._parse import parser_for

            parser_for(".js")  # named on the command line: the one-line MissingExtra
        py = _analyse(parsed, roots, deploy_files, config, handlers)
        n = len(js_files)
        note = (
            f"{n} JavaScript/TypeScript file{'s' if n != 1 else ''} not checked: "
            "pip install 'fdscope[lint-js]'"
        )
        return LintResult(py.findings, py.files, py.handlers, (*py.notes, note))
    texts = (*config.handlers, *handlers)
    result = js.lint_js(
        js_files,
        shown={p: _shown(p, cwd) for p in js_files},
        refs=discover(deploy_files),
        config=config,
        handler_texts=texts,
    )
    rest = [h for h in handlers if h not in result.matched]
    config = replace(config, handlers=tuple(h for h in config.handlers if h not in result.matched))
    py = _analyse(parsed, roots, deploy_files, config, rest)
    return LintResult(
        tuple(sorted({*py.findings, *result.findings}, key=_order)),
        py.files + result.files,
        tuple(sorted({*py.handlers, *result.handlers})),
        py.notes,
    )


def _order(x: Finding) -> tuple[str, int, int, str, str]:
    return (x.path, x.line, x.col, x.code, x.message)


def lint_source(
    source: str | bytes, path: str = "<string>", *, config: Config | None = None
) -> tuple[Finding, ...]:
    """Check one module given as text; handlers are found by name in it. Never raises on input."""
    data = source.encode("utf-8") if isinstance(source, str) else source
    if _is_js(path):
        from fdscope.lint import js
        from fdscope.lint.js._project import parse_bytes

        one = parse_bytes(data, Path(path), path)
        return js.lint_js([], shown={}, refs=(), config=config or Config(), parsed=[one]).findings
    parsed = [_parse_bytes(data, Path(path), path)]
    return _analyse(parsed, [], [], config or Config(), ()).findings


def _analyse(  # noqa: C901
    parsed: list[tuple[_File, str | None]],
    roots: list[Path],
    deploy_files: list[Path],
    config: Config,
    handlers: Sequence[str],
) -> LintResult:
    files: list[_File] = []
    errors: list[Finding] = []
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for f, error in parsed:
        shown = f.shown
        files.append(f)
        if error is not None and config.selected(f.code):
            errors.append(
                Finding(
                    shown,
                    *f.error_at,
                    f.code,
                    RULES[f.code].message.format(name=version, call=error),
                    RULES[f.code].hint,
                )
            )
    # a layer's modules import by their bare names (Lambda puts /opt/python on sys.path)
    project = _Project(files, roots + [d for d in layers(deploy_files) if d.is_dir()])
    findings: list[Finding] = list(errors)
    # the leak family: every function body, except functions that only run at import time
    called_at_module: set[str] = set()
    named_in_functions: set[str] = set()
    for f in files:
        if f.module is not None:
            called_at_module |= f.module.called_at_module
            named_in_functions |= f.module.named_in_functions
    for f in files:
        if f.module is None:
            continue
        for raw in f.module.findings:
            if (
                raw.func
                and "." not in raw.func
                and raw.func in called_at_module
                and raw.func not in named_in_functions
            ):
                continue  # runs once, at import
            rule = RULES[raw.code]
            findings.append(
                Finding(
                    f.shown,
                    raw.line,
                    raw.col,
                    raw.code,
                    rule.message.format(call=raw.call, name=raw.name),
                    rule.hint,
                )
            )
    # the per-invocation family: handlers and what they call
    refs: list[HandlerRef] = list(discover(deploy_files))
    for f in files:
        if f.module is not None and (
            "aws_cdk" in f.module.imports.values()
            or any(v.startswith("aws_cdk") for v in f.module.imports.values())
        ):
            refs.extend(from_cdk(f.path, f.module.source))
    for text in (*config.handlers, *handlers):
        ref = parse_handler(text, None, "--handler")
        if ref is None:
            raise LintConfigError(f"--handler {text!r}: expected module.function")
        if not project.find_ref(ref):
            raise HandlerNotFound(f"handler {text!r} matches no function in the given paths")
        refs.append(ref)
    starts: dict[tuple[Path, str], str] = {}
    route_files: list[_File] = []  # modules whose route functions run per invocation
    for ref in refs:
        for f, func in project.find_ref(ref):
            assert f.module is not None
            if func in f.module.functions:
                starts.setdefault((real(f.path), func), ref.origin)
                continue
            entries, routes = _entries(f.module, func)
            for entry in entries:
                starts.setdefault((real(f.path), entry), ref.origin)
            if routes:
                route_files.append(f)
    for f in files:
        if f.module is None:
            continue
        module_handlers = [
            facts
            for name, facts in f.module.functions.items()
            if "." not in name and (name in config.handler_names or _is_handler_signature(facts))
        ]
        for facts in module_handlers:
            starts.setdefault((real(f.path), facts.qualname), "name")
        # ``handler = Mangum(app)``, ``handler = Handler()`` (its __call__), ``handler = S.handle``
        routes = False
        for name, (kind, target, _args) in f.module.assigned.items():
            if name in config.handler_names and name not in f.module.functions:
                entries, entry_routes = _entries(f.module, name)
                for entry in entries:
                    starts.setdefault((real(f.path), entry), "name")
                routes = routes or entry_routes
            elif kind == "call" and target in _LAMBDA_APPS:
                routes = True  # an app or adapter that only ever runs on Lambda
        if routes or module_handlers or any(p == real(f.path) for p, _ in starts):
            route_files.append(f)
    seen_routes: set[Path] = set()
    while route_files:
        f = route_files.pop()
        if real(f.path) in seen_routes:
            continue
        seen_routes.add(real(f.path))
        assert f.module is not None
        for name, facts in f.module.functions.items():
            if facts.is_route:
                starts.setdefault((real(f.path), name), "route")
        route_files.extend(project.included(f))
    findings.extend(_follow(project, starts, config.follow_depth))
    # filters: config and noqa
    lines_of = {f.shown: f.lines for f in files}
    kept = sorted(
        {
            fd
            for fd in findings
            if config.selected(fd.code)
            and not _suppressed(lines_of.get(fd.path, []), fd.line, fd.code)
        },
        key=lambda x: (x.path, x.line, x.col, x.code, x.message),
    )
    handler_names = tuple(
        sorted(f"{project.by_path[p].shown}:{fn}" for p, fn in starts if p in project.by_path)
    )
    return LintResult(tuple(kept), len(files), handler_names)


def keep_shortest(
    out: dict[tuple[str, int, int, str], Finding],
    shown: str,
    line: int,
    col: int,
    code: str,
    call: str,
    chain: tuple[str, ...],
    origin: str,
) -> None:
    """Record a creation reached per invocation along ``chain`` (from a handler or a route,
    ``origin``), keeping the shortest chain when the same creation is reached twice."""
    key = (shown, line, col, code)
    if key in out and len(out[key].chain) <= len(chain):
        return
    rule = RULES[code]
    where = (
        f" in {'route' if origin == 'route' else 'handler'} {chain[0]!r}"
        if len(chain) == 1
        else f" (called per invocation: {' -> '.join(chain)})"
    )
    out[key] = Finding(
        shown, line, col, code, rule.message.format(call=call, name=where), rule.hint, chain
    )


def _follow(project: _Project, starts: dict[tuple[Path, str], str], depth: int) -> list[Finding]:
    out: dict[tuple[str, int, int, str], Finding] = {}
    for (path, func), origin in sorted(starts.items()):
        start = project.by_path.get(path)
        if start is None or start.module is None:
            continue
        queue: deque[tuple[_File, str, tuple[str, ...]]] = deque([(start, func, (func,))])
        seen: set[tuple[Path, str]] = set()
        while queue:
            f, name, chain = queue.popleft()
            key = (f.path, name)
            if key in seen:
                continue
            seen.add(key)
            assert f.module is not None
            facts = f.module.functions.get(name)
            if facts is None:
                continue
            for c in facts.creations:
                keep_shortest(out, f.shown, c.line, c.col, c.code, _paren(c.call), chain, origin)
            if len(chain) > depth:
                continue
            for callee, _line in f.module.calls_of(facts):
                hit = project.resolve_call(f, facts, callee)
                if hit is not None:
                    g, gname = hit
                    label = gname if g is f else f"{Path(g.shown).stem}.{gname}"
                    queue.append((g, gname, (*chain, label)))
    return list(out.values())


def _paren(call: str) -> str:
    return call if call.endswith(")") else f"{call}()"
