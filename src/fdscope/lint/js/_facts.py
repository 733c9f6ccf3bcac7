"""One JavaScript/TypeScript module indexed: imports, exports, functions, what they call and make.

Built in two passes over the tree-sitter tree: the top-level statements (imports, exports,
module state, functions, route registrations), then one walk over every node for calls and
``new`` (per-invocation construction, leak shapes, evictions, ``clearInterval``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from fdscope.lint.js import _specs
from fdscope.lint.js._parse import (
    FUNCTIONS,
    Node,
    dotted,
    inside,
    params,
    string_value,
    text,
    unwrap,
    up,
    walk,
)

ROUTE_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "del", "all", "use", "options", "head", "route"}
)
# Lambda adapters: their argument is an app whose routes run per invocation
ADAPTERS = frozenset(
    {
        "serverless-http",
        "serverless-express",
        "serverless-express.configure",
        "serverless-express.default",
        "aws-serverless-express.createServer",
        "@fastify/aws-lambda",
        "hono/aws-lambda.handle",
    }
)
_EVICT = frozenset({"delete", "shift", "pop", "splice", "clear"})
_STORE = frozenset({"push", "unshift", "set", "add"})


@dataclass(slots=True)
class Creation:
    """A per-invocation construction (FDS2xx) inside a function, unless guarded."""

    code: str
    call: str
    line: int
    col: int


@dataclass(slots=True)
class RawFinding:
    code: str
    line: int
    col: int
    call: str
    name: str
    func: str  # the top-level function it sits in ("" at module level)


@dataclass(slots=True)
class JsFunction:
    name: str
    node: Node
    params: list[str]
    creations: list[Creation] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # callee names ("f", "db.query", "new C")
    # callees called only under a test of module state (``if (inst) return inst; return setup()``)
    guarded_calls: set[str] = field(default_factory=set)
    is_route: bool = False


@dataclass(slots=True)
class Candidate:
    """A leak-shaped call inside a function, judged once the whole module is read."""

    node: Node  # the call or new expression
    kind: str
    name: str  # canonical
    scope: Node  # the innermost function
    top: str  # the top-level function's name ("" if unregistered)


def _is_function(node: Node) -> bool:
    return node is not None and node.type in FUNCTIONS


def call_text(node: Node) -> str:
    """``fs.openSync()`` / ``new http.Agent()``: the callee as written, with ``()``."""
    if node.type == "new_expression":
        ctor = node.child_by_field_name("constructor")
        name = dotted(ctor) or text(ctor)
        return f"new {name[:60]}()"
    fn = node.child_by_field_name("function")
    name = dotted(fn) or text(fn)
    return f"{name[:60]}()"


def pos(node: Node) -> tuple[int, int]:
    """(1-based line, 0-based column) of a node."""
    row, col = node.start_point
    return row + 1, col


class JsModule:
    """The facts of one module (see the module docstring)."""

    def __init__(self, root: Node, source: bytes) -> None:
        self.root = root
        self.source = source
        self.imports: dict[str, tuple[str, str]] = {}  # local -> (module spec, member path)
        self.functions: dict[str, JsFunction] = {}
        self.by_node: dict[int, JsFunction] = {}
        self.exports: dict[str, Node | str] = {}  # exported name -> value node or local name
        self.assigned: dict[str, Node] = {}  # top-level const name -> its (non-function) value
        self.top_names: set[str] = set()
        self.state: set[str] = set()  # let/var and containers: what a guard may test
        self.containers: set[str] = set()
        self.evicted: set[str] = set()
        self.cleared: set[str] = set()
        self.findings: list[RawFinding] = []
        self.candidates: list[Candidate] = []
        self.stores: list[tuple[str, RawFinding]] = []  # FDS101 unless the container evicts
        self.once: set[int] = set()  # functions run at import time (IIFE, Promise executor)
        self._reg_names: set[int] = set()
        self._top_level()
        self._walk()

    # ---- pass 1: top-level statements -------------------------------------------------------
    def _register(self, name: str, fn: Node, name_node: Node | None = None) -> JsFunction:
        f = self.functions.get(name)
        if f is None or f.node != fn:
            f = JsFunction(name, fn, params(fn))
            if name not in self.functions:
                self.functions[name] = f
            self.by_node[fn.id] = f
        if name_node is not None:
            self._reg_names.add(name_node.id)
        return f

    def _import(self, stmt: Node) -> None:
        spec = string_value(stmt.child_by_field_name("source"))
        if spec is None:
            return
        for clause in stmt.named_children:
            if clause.type != "import_clause":
                continue
            for part in clause.named_children:
                if part.type == "identifier":
                    self.imports[text(part)] = (spec, "default")
                elif part.type == "namespace_import":
                    for ident in part.named_children:
                        self.imports[text(ident)] = (spec, "")
                elif part.type == "named_imports":
                    for s in part.named_children:
                        if s.type != "import_specifier":
                            continue
                        name = s.child_by_field_name("name")
                        alias = s.child_by_field_name("alias") or name
                        self.imports[text(alias)] = (spec, text(name))

    def _require(self, value: Node) -> tuple[str, str] | None:
        """``require("m")`` -> ("m", ""); ``require("m").a.b`` -> ("m", "a.b")."""
        value = unwrap(value)
        members: list[str] = []
        while value is not None and value.type == "member_expression":
            members.insert(0, text(value.child_by_field_name("property")))
            value = unwrap(value.child_by_field_name("object"))
        if value is None or value.type != "call_expression":
            return None
        fn = value.child_by_field_name("function")
        if fn is None or text(fn) != "require":
            return None
        args = value.child_by_field_name("arguments")
        first = args.named_children[0] if args is not None and args.named_children else None
        spec = string_value(first)
        return (spec, ".".join(members)) if spec is not None else None

    def _declaration(self, decl: Node, exported: bool) -> None:
        kind = text(decl.children[0]) if decl.children else ""
        for d in decl.named_children:
            if d.type == "variable_declarator":
                self._declarator(d, kind, exported)

    def _declarator(self, d: Node, kind: str, exported: bool) -> None:
        """One ``name = value`` of a ``const``/``let``/``var`` declaration."""
        name_node = d.child_by_field_name("name")
        value = d.child_by_field_name("value")
        if name_node is None:
            return
        req = self._require(value) if value is not None else None
        if name_node.type == "object_pattern" and req is not None:
            self._destructured_require(name_node, req)
            return
        if name_node.type != "identifier":
            return
        name = text(name_node)
        self.top_names.add(name)
        if req is not None:
            self.imports[name] = req
            return
        if kind in ("let", "var"):
            self.state.add(name)
        v = unwrap(value) if value is not None else None
        if v is None:
            return
        self._declared_value(name, v, name_node)
        if exported:
            self.exports[name] = name

    def _destructured_require(self, pattern: Node, req: tuple[str, str]) -> None:
        """``const { a, b: c } = require("m")``: each name an import of ``m``."""
        for p in pattern.named_children:
            if p.type == "shorthand_property_identifier_pattern":
                member = f"{req[1]}.{text(p)}" if req[1] else text(p)
                self.imports[text(p)] = (req[0], member)
            elif p.type == "pair_pattern":
                key = text(p.child_by_field_name("key"))
                local = p.child_by_field_name("value")
                if local is not None and local.type == "identifier":
                    self.imports[text(local)] = (req[0], f"{req[1]}.{key}".strip("."))

    def _declared_value(self, name: str, v: Node, name_node: Node) -> None:
        """A declared name's value: a function, a container (module state) or another value."""
        if _is_function(v):
            self._register(name, v, name_node)
            return
        self.assigned[name] = v
        if v.type in ("array", "object") or (
            v.type == "new_expression"
            and text(v.child_by_field_name("constructor")) in ("Map", "Set", "Array")
        ):
            self.containers.add(name)
            self.state.add(name)

    def _class(self, cls: Node, exported: bool) -> None:
        name_node = cls.child_by_field_name("name")
        body = cls.child_by_field_name("body")
        if name_node is None or body is None:
            return
        cname = text(name_node)
        self.top_names.add(cname)
        for m in body.named_children:
            if m.type == "method_definition":
                mname = m.child_by_field_name("name")
                if mname is not None:
                    self._register(f"{cname}.{text(mname)}", m)
        if exported:
            self.exports[cname] = cname

    def _object_exports(self, obj: Node) -> None:
        for p in obj.named_children:
            if p.type == "shorthand_property_identifier":
                self.exports[text(p)] = text(p)
            elif p.type == "pair":
                key = p.child_by_field_name("key")
                value = p.child_by_field_name("value")
                if key is None or value is None:
                    continue
                k = string_value(key) or text(key)
                self._export_value(k, value)
            elif p.type == "method_definition":
                mname = p.child_by_field_name("name")
                if mname is not None:
                    self._register(text(mname), p)
                    self.exports[text(mname)] = p

    def _export_value(self, name: str, value: Node) -> None:
        v = unwrap(value)
        if _is_function(v):
            self._register(name, v)
            self.exports[name] = v
        elif v.type == "identifier":
            self.exports[name] = text(v)
        else:
            self.exports[name] = v

    def _assignment(self, a: Node) -> None:
        left = dotted(a.child_by_field_name("left"))
        right = a.child_by_field_name("right")
        if left is None or right is None:
            return
        if left in ("module.exports", "exports"):
            r = unwrap(right)
            if r.type == "object":
                self._object_exports(r)
            else:
                self._export_value("default", r)
                if r.type == "identifier" and text(r) in self.assigned:
                    obj = self.assigned[text(r)]
                    if obj.type == "object":
                        self._object_exports(obj)
            return
        for prefix in ("module.exports.", "exports."):
            if left.startswith(prefix) and "." not in left[len(prefix) :]:
                self._export_value(left[len(prefix) :], right)
                return

    def _export(self, stmt: Node) -> None:
        decl = stmt.child_by_field_name("declaration")
        value = stmt.child_by_field_name("value")
        if decl is not None:
            self._export_declaration(decl)
        elif value is not None or any(c.type == "default" for c in stmt.children):
            self._export_default(stmt, value)
        else:
            self._export_clause(stmt)

    def _export_declaration(self, decl: Node) -> None:
        """``export function f``, ``export const x = ...``, ``export class C``."""
        if decl.type in ("function_declaration", "generator_function_declaration"):
            n = decl.child_by_field_name("name")
            if n is not None:
                self._register(text(n), decl, n)
                self.top_names.add(text(n))
                self.exports[text(n)] = text(n)
        elif decl.type in ("lexical_declaration", "variable_declaration"):
            self._declaration(decl, True)
        elif decl.type in ("class_declaration", "abstract_class_declaration"):
            self._class(decl, True)

    def _export_default(self, stmt: Node, value: Node | None) -> None:
        """``export default <value>`` (a function, an object, any expression)."""
        v = value
        if v is None:  # export default function f() {}
            v = next((c for c in stmt.named_children if _is_function(c)), None)
        if v is None:
            return
        v = unwrap(v)
        if v.type == "object":
            self._object_exports(v)
        self._export_value("default", v)
        if _is_function(v) and v.child_by_field_name("name") is not None:
            self._register(text(v.child_by_field_name("name")), v)

    def _export_clause(self, stmt: Node) -> None:
        """``export { a, b as c }`` and ``export { handler } from "./impl"``."""
        spec = string_value(stmt.child_by_field_name("source"))
        for clause in stmt.named_children:
            if clause.type != "export_clause":
                continue
            for s in clause.named_children:
                name = s.child_by_field_name("name")
                alias = s.child_by_field_name("alias") or name
                if name is None:
                    continue
                if spec is not None:  # export { handler } from "./impl"
                    self.imports[f"{text(alias)}"] = (spec, text(name))
                self.exports[text(alias)] = text(name)

    def _routes(self, expr: Node) -> None:
        """``app.get("/x", fn)``, ``router.post(...)``, ``app.use(fn)`` at module level."""
        call = unwrap(expr)
        while call is not None and call.type == "call_expression":
            fn = call.child_by_field_name("function")
            if fn is None or fn.type != "member_expression":
                return
            method = text(fn.child_by_field_name("property"))
            args = call.child_by_field_name("arguments")
            if method in ROUTE_METHODS and args is not None:
                obj = dotted(fn.child_by_field_name("object")) or "app"
                for a in args.named_children:
                    a = unwrap(a)
                    if _is_function(a):
                        line = a.start_point[0] + 1
                        self._register(f"{obj}.{method}:{line}", a).is_route = True
                    elif a.type == "identifier" and text(a) in self.functions:
                        self.functions[text(a)].is_route = True
            call = unwrap(fn.child_by_field_name("object"))

    def _top_level(self) -> None:
        for stmt in self.root.named_children:
            t = stmt.type
            if t == "import_statement":
                self._import(stmt)
            elif t == "export_statement":
                self._export(stmt)
            elif t in ("lexical_declaration", "variable_declaration"):
                self._declaration(stmt, False)
            elif t in ("function_declaration", "generator_function_declaration"):
                n = stmt.child_by_field_name("name")
                if n is not None:
                    self._register(text(n), stmt, n)
                    self.top_names.add(text(n))
            elif t in ("class_declaration", "abstract_class_declaration"):
                self._class(stmt, False)
            elif t == "import_alias" or t == "import_require_clause":
                continue
            elif t == "expression_statement" and stmt.named_children:
                e = unwrap(stmt.named_children[0])
                if e.type == "assignment_expression":
                    self._assignment(e)
                elif e.type == "call_expression":
                    self._routes(e)
                    self._once(e)

    def _once(self, call: Node) -> None:
        """Functions a module-level call runs at import time: an IIFE, ``new Promise(fn)``,
        ``.then(fn)``."""
        fn = unwrap(call.child_by_field_name("function"))
        if _is_function(fn):
            self.once.add(fn.id)

    # ---- names ------------------------------------------------------------------------------
    def canonical(self, name: str) -> str:
        """The canonical name of a dotted callee (see ``_specs``); a local head keeps ``?``."""
        head, _, rest = name.partition(".")
        imp = self.imports.get(head)
        if imp is None:
            if head in self.top_names:
                return "?" + name
            return name
        spec, member = imp
        if spec.startswith("node:"):
            spec = spec[5:]
        spec = _specs.MODULE_ALIASES.get(spec, spec)
        if member == "default":
            member = ""
        parts = [p for p in (spec, member, rest) if p]
        return ".".join(parts)

    # ---- pass 2: every call -----------------------------------------------------------------
    def _enclosing(self, node: Node) -> tuple[Node | None, list[JsFunction], bool]:
        """(innermost function, registered functions around it, runs once at import)."""
        inner = None
        regs: list[JsFunction] = []
        once = False
        p = node.parent
        while p is not None:
            if p.type in FUNCTIONS:
                if inner is None:
                    inner = p
                f = self.by_node.get(p.id)
                if f is not None:
                    regs.append(f)
                if p.id in self.once:
                    once = True
                elif p.parent is not None and p.parent.type == "arguments":
                    call = p.parent.parent
                    if call is not None and self._runs_once_with(call):
                        once = True
            p = p.parent
        return inner, regs, once

    def _runs_once_with(self, call: Node) -> bool:
        """``new Promise(fn)`` or ``x.then(fn)`` at module level: ``fn`` runs once."""
        fn = call.child_by_field_name("function") or call.child_by_field_name("constructor")
        if fn is None:
            return False
        name = text(fn) if fn.type == "identifier" else dotted(fn) or ""
        if not (name == "Promise" or name.rsplit(".", 1)[-1] in ("then", "catch", "finally")):
            return False
        return not any(a.type in FUNCTIONS for a in inside(call, self.root))

    def _walk(self) -> None:
        fn_names = {n for n in self.functions if "." not in n and ":" not in n}
        idents: Counter[str] = Counter()
        at_module: Counter[str] = Counter()
        for node in walk(self.root):
            t = node.type
            if t == "identifier":
                s = text(node)
                if s in fn_names and node.id not in self._reg_names:
                    idents[s] += 1
            elif t == "call_expression" or t == "new_expression":
                self._call(node, at_module)
            elif t == "assignment_expression":
                self._assign(node)
            elif t == "unary_expression" and node.children and text(node.children[0]) == "delete":
                target = node.named_children[0] if node.named_children else None
                d = dotted(target.child_by_field_name("object")) if target is not None else None
                if d is not None:
                    self.evicted.add(d)
        exported = {v for v in self.exports.values() if isinstance(v, str)} | set(self.exports)
        # a function only ever called at module level runs once, like module code
        self.module_only = {n for n, c in at_module.items() if idents[n] == c and n not in exported}

    def _assign(self, node: Node) -> None:
        left = node.child_by_field_name("left")
        if left is None:
            return
        if left.type == "identifier" and text(left) in self.containers:
            if any(p.type in FUNCTIONS for p in inside(node, self.root)):
                self.evicted.add(text(left))  # reset inside a function
        elif left.type == "member_expression":
            obj = dotted(left.child_by_field_name("object"))
            if obj in self.containers and text(left.child_by_field_name("property")) == "length":
                self.evicted.add(obj)
        elif left.type == "subscript_expression":
            obj = dotted(left.child_by_field_name("object"))
            right = node.child_by_field_name("right")
            if obj in self.containers and right is not None:
                self._stored(node, obj, right)

    def _call(self, node: Node, at_module: Counter[str]) -> None:
        is_new = node.type == "new_expression"
        fn = node.child_by_field_name("constructor" if is_new else "function")
        if fn is None:
            return
        name = dotted(fn)
        inner, regs, once = self._enclosing(node)
        if name is not None and not is_new and inner is None and "." not in name:
            at_module[name] += 1
        args = node.child_by_field_name("arguments")
        if regs and name is not None:
            self._chain(regs, f"new {name}" if is_new else name, args, node)
        if name is None:
            if not is_new and fn.type == "member_expression":
                self._method_on_value(node, fn, inner, regs, once)
            return
        last = name.rsplit(".", 1)[-1]
        obj = name.rpartition(".")[0]
        if obj and last in _EVICT and obj in self.containers:
            self.evicted.add(obj)
        if name in ("clearInterval", "clearTimeout", "timers.clearInterval") and args is not None:
            for a in args.named_children:
                d = dotted(a)
                if d is not None:
                    self.cleared.add(d.rsplit(".", 1)[-1])
        if inner is not None and not once:
            self._in_function(node, name, is_new, regs, inner)

    def _in_function(
        self, node: Node, name: str, is_new: bool, regs: list[JsFunction], inner: Node
    ) -> None:
        """A call inside a function that runs per call: construction, leak shapes, stores."""
        args = node.child_by_field_name("arguments")
        last = name.rsplit(".", 1)[-1]
        obj = name.rpartition(".")[0]
        canon = self.canonical(name)
        code = _specs.per_call(canon, is_new)
        if code is not None and regs and not self.guarded(node, regs[-1].node):
            line, col = pos(node)
            c = Creation(code, call_text(node), line, col)
            for r in regs:
                r.creations.append(c)
        top = regs[-1].name if regs else ""
        kind = _specs.leak(canon, is_new)
        if kind is not None:
            self.candidates.append(Candidate(node, kind, canon, inner, top))
        if not is_new and last == "listen" and obj:
            self.candidates.append(Candidate(node, "listen", canon, inner, top))
        if not is_new and obj in self.containers and last in _STORE and args is not None:
            kids = args.named_children
            if kids:
                self._stored(node, obj, kids[-1])

    def _chain(self, regs: list[JsFunction], callee: str, args: Node | None, node: Node) -> None:
        """What the functions around a call call (for the handler's call chain), with the
        module's functions passed by name (``records.map(handleRecord)``)."""
        local = callee in self.functions or callee.partition(".")[0] in self.imports
        once = local and bool(self.state) and self.guarded(node, regs[-1].node)
        for r in regs:
            if once and callee not in r.calls:
                r.guarded_calls.add(callee)
            elif not once:
                r.guarded_calls.discard(callee)
            r.calls.append(callee)
        if args is not None:
            for a in args.named_children:
                if a.type == "identifier" and text(a) in self.functions:
                    for r in regs:
                        r.calls.append(text(a))

    def _method_on_value(
        self, node: Node, fn: Node, inner: Node | None, regs: list[JsFunction], once: bool
    ) -> None:
        """``http.createServer(...).listen(...)``: a method called on a value made in place."""
        if inner is None or once:
            return
        if text(fn.child_by_field_name("property")) == "listen":
            top = regs[-1].name if regs else ""
            self.candidates.append(Candidate(node, "listen", "", inner, top))

    def _stored(self, at: Node, container: str, value: Node) -> None:
        """FDS101: a per-call resource kept in a module-level container."""
        inner, regs, once = self._enclosing(at)
        if inner is None or once:
            return
        v = unwrap(value)
        made: Node | None = None
        if v.type in ("call_expression", "new_expression"):
            made = v
        elif v.type == "identifier":
            made = _bound_creation(text(v), inner)
        if made is None:
            return
        is_new = made.type == "new_expression"
        callee = dotted(made.child_by_field_name("constructor" if is_new else "function"))
        if callee is None:
            return
        canon = self.canonical(callee)
        if _specs.per_call(canon, is_new) is None and _specs.leak(canon, is_new) is None:
            return
        if self._keyed_guard(at, container, inner):
            return
        line, col = pos(made)
        top = regs[-1].name if regs else ""
        self.stores.append(
            (container, RawFinding("FDS101", line, col, call_text(made), container, top))
        )

    def _keyed_guard(self, at: Node, container: str, scope: Node) -> bool:
        """Filled once per key: ``if (!cache.has(k))``/``if (!cache[k])`` around the store, or
        a guard clause that returns before it."""
        for p in inside(at, scope):
            if p.type in ("if_statement", "ternary_expression"):
                cond = p.child_by_field_name("condition")
                if cond is not None and _mentions(cond, {container}):
                    return True
        return self._guard_clause(at, scope, {container})

    # ---- guards (FDS2xx) --------------------------------------------------------------------
    def guarded(self, node: Node, scope: Node) -> bool:
        """The creation runs once, not per call: under a test of module state, after a guard
        clause that returns it, as the right side of ``x ??= ...``/``x || ...``, or in the
        ``catch`` of a ``try`` that uses module state."""
        state = self.state
        child = node
        for p in inside(node, scope.parent if scope.parent is not None else scope):
            t = p.type
            if t == "if_statement" or t == "ternary_expression":
                cond = p.child_by_field_name("condition")
                if cond is not None and cond != child and _mentions(cond, state):
                    return True
            elif t == "binary_expression":
                op = p.child_by_field_name("operator")
                left = p.child_by_field_name("left")
                if (
                    op is not None
                    and text(op) in ("||", "??")
                    and left is not None
                    and left != child
                    and _mentions(left, state)
                ):
                    return True
            elif t == "augmented_assignment_expression":
                op = p.child_by_field_name("operator")
                left = p.child_by_field_name("left")
                if op is not None and text(op) in ("||=", "??=") and _mentions(left, state):
                    return True
            elif t == "catch_clause":
                tr = p.parent
                body = tr.child_by_field_name("body") if tr is not None else None
                if body is not None and _mentions(body, state):
                    return True
            if p == scope:
                break
            child = p
        return self._guard_clause(node, scope, state)

    def _guard_clause(self, node: Node, scope: Node, names: set[str]) -> bool:
        """``if (client) return client;`` (or any return under a test of module state) before
        the statement holding ``node``."""
        child = node
        for p in [*inside(node, scope), scope]:
            if p.type == "statement_block":
                for stmt in p.named_children:
                    if stmt.start_byte >= child.start_byte:
                        break
                    if stmt.type != "if_statement":
                        continue
                    cond = stmt.child_by_field_name("condition")
                    cons = stmt.child_by_field_name("consequence")
                    if (
                        cond is not None
                        and cons is not None
                        and _mentions(cond, names)
                        and any(n.type == "return_statement" for n in walk(cons))
                    ):
                        return True
            child = p
        return False


def _mentions(node: Node, names: set[str]) -> bool:
    """Whether an expression reads a module-state name or ``this.x``."""
    for n in walk(node):
        if n.type == "identifier" and text(n) in names:
            return True
        if n.type == "member_expression":
            obj = n.child_by_field_name("object")
            if obj is not None and obj.type == "this":
                return True
    return False


def _bound_creation(name: str, scope: Node) -> Node | None:
    """The call a local ``const name = call(...)`` in ``scope`` was made by, if any."""
    for n in walk(scope):
        if n.type == "variable_declarator":
            nn = n.child_by_field_name("name")
            if nn is not None and nn.type == "identifier" and text(nn) == name:
                v = unwrap(n.child_by_field_name("value"))
                if v is not None and v.type in ("call_expression", "new_expression"):
                    return v
    return None


__all__ = ["Candidate", "Creation", "JsFunction", "JsModule", "RawFinding", "pos", "up"]
