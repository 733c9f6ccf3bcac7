"""The JavaScript project pass: parse, handlers, call chains from them, suppression."""

from __future__ import annotations

import os
import re
import stat
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fdscope.lint._config import Config
from fdscope.lint._handlers import HandlerRef, parse_handler
from fdscope.lint._project import MAX_FILE_BYTES, Finding, _too_large, keep_shortest, real
from fdscope.lint._rules import RULES
from fdscope.lint.js import _leaks
from fdscope.lint.js._facts import ADAPTERS, JsModule
from fdscope.lint.js._parse import (
    FUNCTIONS,
    JS_SUFFIXES,
    Node,
    dotted,
    first_error,
    parser_for,
    string_value,
    text,
    unwrap,
    walk,
)

_IGNORE = re.compile(
    r"(?://|/\*)\s*(?:fdscope-ignore(?P<next>-next-line)?|noqa)\b:?"
    r"(?P<codes>\s*[A-Z]+[0-9]+(?:\s*,?\s*[A-Z]+[0-9]+)*)?",
    re.I,
)
_EVENT = ("event", "evt", "_event", "events")
_CONTEXT = ("context", "ctx", "_context", "lambdaContext", "_ctx", "_")
_LOCAL_EXTS = (".js", ".ts", ".mjs", ".cjs", ".mts", ".cts", ".jsx", ".tsx")


@dataclass(frozen=True, slots=True)
class JsResult:
    findings: tuple[Finding, ...]
    files: int
    handlers: tuple[str, ...]
    matched: frozenset[str]  # the --handler / configured handler texts found in JS files


@dataclass
class JsFile:
    path: Path
    shown: str
    module: JsModule | None
    lines: list[str]


def _parse(path: Path, shown: str) -> tuple[JsFile, Finding | None]:
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read forever
            return JsFile(path, shown, None, []), _fds002(shown, "not a regular file (a FIFO?)")
        if st.st_size > MAX_FILE_BYTES:
            return JsFile(path, shown, None, []), _fds002(shown, _too_large(st.st_size))
        data = path.read_bytes()
    except OSError as exc:
        return JsFile(path, shown, None, []), _fds001(
            shown, 1, 0, f"cannot read: {exc.strerror or exc}"
        )
    return parse_bytes(data, path, shown)


def _fds002(shown: str, why: str) -> Finding:
    rule = RULES["FDS002"]
    return Finding(shown, 1, 0, "FDS002", rule.message.format(call=why, name=""), rule.hint)


def _fds001(shown: str, line: int, col: int, why: str) -> Finding:
    rule = RULES["FDS001"]
    return Finding(shown, line, col, "FDS001", f"file does not parse: {why}", rule.hint)


def parse_bytes(data: bytes, path: Path, shown: str) -> tuple[JsFile, Finding | None]:
    """Parse one file; a syntax error is FDS001 (the file is then not checked further)."""
    if len(data) > MAX_FILE_BYTES:
        return JsFile(path, shown, None, []), _fds002(shown, _too_large(len(data)))
    lines = data.decode("utf-8", "replace").splitlines()
    suffix = path.suffix.lower()
    lang = "TypeScript" if "ts" in suffix else "JavaScript"
    try:
        tree = parser_for(suffix).parse(data)
    except (ValueError, RecursionError, MemoryError) as exc:
        return JsFile(path, shown, None, lines), _fds001(shown, 1, 0, str(exc))
    root = tree.root_node
    if root.has_error:
        bad = first_error(root) or root
        line, col = bad.start_point[0] + 1, bad.start_point[1]
        what = f"missing {bad.type!r}" if bad.is_missing else "syntax error"
        return JsFile(path, shown, None, lines), _fds001(
            shown, line, col, f"not valid {lang}: {what} (line {line})"
        )
    try:
        module = JsModule(root, data)
    except RecursionError:
        return JsFile(path, shown, None, lines), _fds001(shown, 1, 0, "too deeply nested")
    return JsFile(path, shown, module, lines), None


def suppressed(lines: list[str], line: int, code: str) -> bool:
    """``// fdscope-ignore [codes]`` / ``// noqa[: codes]`` on the line, or
    ``// fdscope-ignore-next-line [codes]`` on the line before."""
    for n, need_next in ((line, False), (line - 1, True)):
        if not 0 < n <= len(lines):
            continue
        t = lines[n - 1]
        if "//" not in t and "/*" not in t:
            continue
        for m in _IGNORE.finditer(t):
            if bool(m.group("next")) != need_next:
                continue
            codes = m.group("codes")
            if not codes:
                return True
            if any(code.upper().startswith(c.upper()) for c in re.split(r"[\s,]+", codes) if c):
                return True
    return False


class _Project:
    def __init__(self, files: list[JsFile]) -> None:
        self.files = files
        self.by_path = {real(f.path): f for f in files if f.module is not None}
        self.by_stem: dict[str, list[tuple[Path, JsFile]]] = {}  # file name without suffix
        for p, f in self.by_path.items():
            self.by_stem.setdefault(p.with_suffix("").name, []).append((p, f))
        self._local: dict[tuple[str, Path], JsFile | None] = {}

    def local(self, spec: str, origin: Path) -> JsFile | None:
        """The project file a relative ``require``/``import`` names."""
        if not spec.startswith((".", "/")):
            return None
        key = (spec, origin.parent)
        if key not in self._local:
            self._local[key] = self._find_local(spec, origin)
        return self._local[key]

    def _find_local(self, spec: str, origin: Path) -> JsFile | None:
        base = (origin.parent / spec) if not spec.startswith("/") else Path(spec)
        stem = base.with_suffix("") if base.suffix in _LOCAL_EXTS else base
        for cand in (
            base,
            *(stem.with_name(stem.name + e) for e in _LOCAL_EXTS),
            *(base / f"index{e}" for e in _LOCAL_EXTS),
        ):
            hit = self.by_path.get(real(cand))
            if hit is not None:
                return hit
        return None

    def export(self, f: JsFile, name: str, depth: int = 0) -> list[tuple[JsFile, str]]:
        """The functions an exported name runs (through re-exports and wrapper calls)."""
        m = f.module
        assert m is not None
        if depth > 4:
            return []
        value = m.exports.get(name)
        if value is None and name in m.functions:
            value = name
        if value is None:
            return []
        return self.entries(f, value, depth)

    def entries(self, f: JsFile, value: Node | str, depth: int = 0) -> list[tuple[JsFile, str]]:
        m = f.module
        assert m is not None
        if isinstance(value, str):
            return self._named_entries(f, value, depth)
        v = unwrap(value)
        if v.type in FUNCTIONS:
            hit = m.by_node.get(v.id)
            return [(f, hit.name)] if hit is not None else []
        if v.type == "identifier":
            return self.entries(f, text(v), depth + 1)
        if v.type == "member_expression" and depth < 6:
            # wrapped(h).use(x), Service.handle, obj.handle.bind(obj)
            d = dotted(v)
            if d is not None and d in m.functions:
                return [(f, d)]
            return self.entries(f, v.child_by_field_name("object"), depth + 1)
        if v.type in ("call_expression", "new_expression") and depth < 6:
            return self._call_entries(f, v, depth)
        return []

    def _named_entries(self, f: JsFile, name: str, depth: int) -> list[tuple[JsFile, str]]:
        """A name of the module: a function, a variable's value, or an import's export."""
        m = f.module
        assert m is not None
        if name in m.functions:
            return [(f, name)]
        if name in m.assigned:
            return self.entries(f, m.assigned[name], depth + 1)
        imp = m.imports.get(name)
        if imp is not None:
            other = self.local(imp[0], f.path)
            if other is not None and other.module is not None:
                member = imp[1] or "default"
                return self.export(other, member.split(".")[0], depth + 1)
        return []

    def _call_entries(self, f: JsFile, call: Node, depth: int) -> list[tuple[JsFile, str]]:
        """``wrap(handler)``, ``new App({ handler })``, ``x.use(fn)``: the functions passed in
        (and those of the callee's object)."""
        out: list[tuple[JsFile, str]] = []
        fn = call.child_by_field_name("function") or call.child_by_field_name("constructor")
        args = call.child_by_field_name("arguments")
        for a in args.named_children if args is not None else []:
            a = unwrap(a)
            if a.type in FUNCTIONS or a.type == "identifier":
                out += self.entries(f, a, depth + 1)
            elif a.type == "object":
                out += self._object_entries(f, a, depth)
        if fn is not None and fn.type == "member_expression":
            out += self.entries(f, fn, depth + 1)
        return out

    def _object_entries(self, f: JsFile, obj: Node, depth: int) -> list[tuple[JsFile, str]]:
        """An object passed to a wrapper: the functions of its values."""
        out: list[tuple[JsFile, str]] = []
        for p in obj.named_children:
            if p.type == "pair":
                val = p.child_by_field_name("value")
                if val is not None:
                    out += self.entries(f, val, depth + 1)
            elif p.type == "shorthand_property_identifier":
                out += self.entries(f, text(p), depth + 1)
        return out

    def adapter_apps(self, f: JsFile, value: Node | str) -> list[JsFile]:
        """Modules whose app a Lambda adapter wraps: their routes run per invocation."""
        m = f.module
        assert m is not None
        if isinstance(value, str):
            value = m.assigned.get(value)  # type: ignore[assignment]
            if value is None:
                return []
        out: list[JsFile] = [f]
        for n in walk(value):
            if n.type in ("identifier", "shorthand_property_identifier") and text(n) in m.imports:
                other = self.local(m.imports[text(n)][0], f.path)
                if other is not None:
                    out.append(other)
        return out

    def resolve(self, f: JsFile, caller: str, callee: str) -> tuple[JsFile, str] | None:
        """The project function a call inside ``caller`` reaches, if any."""
        m = f.module
        assert m is not None
        is_new = callee.startswith("new ")
        name = callee[4:] if is_new else callee
        if is_new and f"{name}.constructor" in m.functions:
            return f, f"{name}.constructor"
        head, _, rest = name.partition(".")
        if head == "this" and "." in caller and rest and "." not in rest:
            cls = caller.split(".")[0]
            return (f, f"{cls}.{rest}") if f"{cls}.{rest}" in m.functions else None
        if not rest and name in m.functions:
            return f, name
        imp = m.imports.get(head)
        if imp is None:
            return None
        other = self.local(imp[0], f.path)
        if other is None or other.module is None:
            return None
        member = ".".join(p for p in (imp[1] if imp[1] != "default" else "", rest) if p)
        if not member:
            member = "default"
        first = member.split(".")[0]
        if is_new and f"{first}.constructor" in other.module.functions:
            return other, f"{first}.constructor"
        hits = self.export(other, first)
        if not hits and imp[1] == "default" and rest:
            hits = self.export(other, rest.split(".")[0])
        return hits[0] if hits else None

    def find_ref(self, ref: HandlerRef) -> list[tuple[JsFile, str]]:
        hits: list[tuple[JsFile, str]] = []
        for path, f in self.by_stem.get(ref.module.rpartition("/")[2], ()):
            posix = path.with_suffix("").as_posix()
            if not (posix.endswith("/" + ref.module) or posix == ref.module):
                continue
            if ref.base is not None:
                try:
                    path.relative_to(ref.base)
                except ValueError:
                    continue
            hits += self.export(f, ref.function)
        return hits


def _cdk_refs(f: JsFile) -> list[HandlerRef]:
    """``new NodejsFunction(this, id, { entry, handler })``: the entry file's export."""
    m = f.module
    if m is None or b"NodejsFunction" not in m.source:
        return []
    out: list[HandlerRef] = []
    for n in walk(m.root):
        if n.type != "new_expression":
            continue
        ctor = dotted(n.child_by_field_name("constructor")) or ""
        if not ctor.endswith("NodejsFunction"):
            continue
        args = n.child_by_field_name("arguments")
        props = [a for a in args.named_children if a.type == "object"] if args else []
        entry: Path | None = None
        handler = "handler"
        for p in props[-1].named_children if props else []:
            if p.type != "pair":
                continue
            key = text(p.child_by_field_name("key"))
            value = unwrap(p.child_by_field_name("value"))
            if key == "handler" and string_value(value):
                handler = str(string_value(value)).rpartition(".")[2]
            elif key == "entry":
                entry = _path_expr(value, f.path.parent)
        if entry is not None:
            module = os.path.abspath(entry.with_suffix("")).lstrip("/")
            out.append(HandlerRef(module, handler, None, f"cdk ({f.path.name})"))
    return out


def _path_expr(node: Node, here: Path) -> Path | None:
    """``"lambda/x.ts"``, ``path.join(__dirname, "..", "x.ts")`` -> a path."""
    s = string_value(node)
    if s is not None:
        return here / s
    if node.type == "call_expression":
        fn = dotted(node.child_by_field_name("function")) or ""
        if fn.endswith(("path.join", "path.resolve", "join", "resolve")):
            args = node.child_by_field_name("arguments")
            parts: list[str] = []
            for a in args.named_children if args else []:
                if text(a) == "__dirname":
                    parts.append(str(here))
                elif string_value(a) is not None:
                    parts.append(str(string_value(a)))
                else:
                    return None
            return Path(*parts) if parts else None
    return None


def _is_handler_signature(params: list[str]) -> bool:
    return len(params) >= 2 and params[0] in _EVENT and params[1] in _CONTEXT


def lint_js(
    paths: Sequence[Path],
    *,
    shown: dict[Path, str],
    refs: Sequence[HandlerRef],
    config: Config,
    handler_texts: Sequence[str] = (),
    parsed: list[tuple[JsFile, Finding | None]] | None = None,
) -> JsResult:
    """Check JavaScript/TypeScript files (see the package docstring)."""
    if parsed is None:
        parsed = [_parse(p, shown.get(p, str(p))) for p in paths]
    files = [f for f, _ in parsed]
    findings: list[Finding] = [e for _, e in parsed if e is not None]
    project = _Project(files)
    findings += _leak_family(files)
    starts, matched = _starts(project, refs, config, handler_texts)
    findings += _follow(project, starts, config.follow_depth)
    lines = {f.shown: f.lines for f in files}
    kept = sorted(
        {
            fd
            for fd in findings
            if config.selected(fd.code) and not suppressed(lines.get(fd.path, []), fd.line, fd.code)
        },
        key=lambda x: (x.path, x.line, x.col, x.code, x.message),
    )
    handlers = tuple(
        sorted(f"{project.by_path[p].shown}:{fn}" for p, fn in starts if p in project.by_path)
    )
    return JsResult(tuple(kept), len(files), handlers, frozenset(matched))


def _leak_family(files: list[JsFile]) -> list[Finding]:
    """FDS1xx in every function body."""
    out: list[Finding] = []
    for f in files:
        if f.module is None:
            continue
        for raw in _leaks.check(f.module):
            rule = RULES[raw.code]
            message = rule.message.format(call=raw.call, name=raw.name).replace("  ", " ")
            out.append(Finding(f.shown, raw.line, raw.col, raw.code, message.strip(), rule.hint))
    return out


def _starts(
    project: _Project, refs: Sequence[HandlerRef], config: Config, handler_texts: Sequence[str]
) -> tuple[dict[tuple[Path, str], str], set[str]]:
    """Where per-invocation code starts: handlers from templates, CDK, ``--handler`` and
    exported names, and the route callbacks of the apps they serve."""
    starts: dict[tuple[Path, str], str] = {}
    all_refs = [r for r in refs if not r.runtime.startswith("python")]
    for f in project.files:
        all_refs += _cdk_refs(f)
    matched: set[str] = set()
    for t in handler_texts:
        ref = parse_handler(t, None, "--handler")
        if ref is not None and project.find_ref(ref):
            matched.add(t)
            all_refs.append(ref)
    route_files: list[JsFile] = []
    for ref in all_refs:
        for f, func in project.find_ref(ref):
            starts.setdefault((real(f.path), func), ref.origin)
            route_files.append(f)
    for f in project.files:
        m = f.module
        if m is None:
            continue
        for name, value in m.exports.items():
            if name not in config.handler_names:
                fn = m.functions.get(value if isinstance(value, str) else name)
                if fn is None or not _is_handler_signature(fn.params):
                    continue
            for g, func in project.export(f, name):
                starts.setdefault((real(g.path), func), "name")
            route_files += project.adapter_apps(f, value)
    _routes(route_files, starts)
    return starts, matched


def _routes(route_files: list[JsFile], starts: dict[tuple[Path, str], str]) -> None:
    """The route callbacks (``app.get(path, fn)``) of the modules a handler serves."""
    seen: set[Path] = set()
    for f in route_files:
        if f.module is None or real(f.path) in seen:
            continue
        seen.add(real(f.path))
        for name, fn in f.module.functions.items():
            if fn.is_route:
                starts.setdefault((real(f.path), name), "route")


def _follow(project: _Project, starts: dict[tuple[Path, str], str], depth: int) -> list[Finding]:
    out: dict[tuple[str, int, int, str], Finding] = {}
    for (path, func), origin in sorted(starts.items()):
        start = project.by_path.get(path)
        if start is None:
            continue
        queue: deque[tuple[JsFile, str, tuple[str, ...]]] = deque([(start, func, (func,))])
        seen: set[tuple[Path, str]] = set()
        while queue:
            f, name, chain = queue.popleft()
            if (f.path, name) in seen:
                continue
            seen.add((f.path, name))
            assert f.module is not None
            facts = f.module.functions.get(name)
            if facts is None:
                continue
            for c in facts.creations:
                keep_shortest(out, f.shown, c.line, c.col, c.code, c.call, chain, origin)
            if len(chain) > depth:
                continue
            for callee in dict.fromkeys(facts.calls):
                if callee in facts.guarded_calls:
                    continue  # only when module state is unset: once, not per invocation
                hit = project.resolve(f, name, callee)
                if hit is not None:
                    g, gname = hit
                    label = gname if g is f else f"{Path(g.shown).stem}.{gname}"
                    queue.append((g, gname, (*chain, label)))
    return list(out.values())


__all__ = ["ADAPTERS", "JS_SUFFIXES", "JsFile", "JsResult", "lint_js", "parse_bytes"]
