"""The AST checker of one module: leak rules on every function body, and the facts
(functions, imports, calls, per-invocation creations) the project pass needs."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fdscope.lint._specs import (
    ACCEPT,
    AWS_METHOD,
    CACHE_DECORATORS,
    EVICTORS,
    FD_TAKERS,
    HTTP_VERBS,
    KEEPERS,
    MANAGER_METHODS,
    MANAGERS,
    NON_OWNING,
    ROUTE_DECORATORS,
    SPECS,
    STREAM,
    STREAM_READERS,
    Spec,
)

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_TRANSPARENT = (ast.Await, ast.Starred)


@dataclass(frozen=True, slots=True)
class RawFinding:
    """A finding before the project pass adds the path and the per-invocation chain."""

    line: int
    col: int
    code: str
    call: str
    name: str = ""
    func: str = ""  # the top-level function (or Class.method) it is in


@dataclass(slots=True)
class Creation:
    """A per-invocation-family call inside a function: the project pass reports it from handlers."""

    line: int
    col: int
    code: str
    call: str


@dataclass(slots=True)
class FunctionFacts:
    """What the project pass needs about one function."""

    qualname: str
    node: Any  # ast.FunctionDef | ast.AsyncFunctionDef; None once the module is released
    params: tuple[str, ...]
    creations: list[Creation] = field(default_factory=list)
    calls: list[tuple[str, int]] = field(default_factory=list)  # (dotted callee, line), unguarded
    is_route: bool = False


def _parents(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child._fds_parent = node  # type: ignore[attr-defined]


def parent(node: ast.AST) -> ast.AST | None:
    return getattr(node, "_fds_parent", None)


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class Module:
    """One parsed module: imports, module names, and the leak findings of its functions."""

    def __init__(self, tree: ast.Module, source: str) -> None:
        self.tree = tree
        self.source = source
        self.imports: dict[str, str] = {}  # local name -> dotted target
        self.module_names: set[str] = set()
        self.functions: dict[str, FunctionFacts] = {}
        self.findings: list[RawFinding] = []
        self.called_at_module: set[str] = set()  # last name part of calls made at import time
        self.named_in_functions: set[str] = set()  # every name/attribute read inside a function
        self.calls: list[tuple[ast.Call, ast.AST]] = []  # every call and its scope
        self._locals_cache: dict[int, tuple[set[str], set[str]]] = {}
        self._top: dict[int, str] = {}  # id(function or lambda) -> top-level function name
        self._with_parents: set[int] = set()
        self._by_node: dict[int, FunctionFacts] = {}
        self._calls_done: set[int] = set()
        # module-level ``name = value``: (kind, qualified target, dotted positional args), where
        # kind is "call" (``handler = Mangum(app)``) or "ref" (``lambda_handler = Service.handle``)
        self.assigned: dict[str, tuple[str, str, tuple[str, ...]]] = {}
        self.included: list[str] = []  # ``app.include_router(x)`` / ``register_blueprint(x)``
        self._collect_module()

    # ---- module facts -------------------------------------------------------------------
    def _collect_module(self) -> None:
        tree = self.tree
        self._index()
        for stmt in tree.body:
            self._module_bindings(stmt)
            self._module_entry(stmt)
        for stmt in tree.body:
            if isinstance(stmt, _FUNCS):
                self._add_function(stmt, stmt.name)
            elif isinstance(stmt, ast.ClassDef):
                for sub in stmt.body:
                    if isinstance(sub, _FUNCS):
                        self._add_function(sub, f"{stmt.name}.{sub.name}")

    def _index(self) -> None:
        """One pass over the module: calls with their scope, imports, names used in functions."""
        calls = self.calls
        named = self.named_in_functions
        at_module = self.called_at_module
        imports = self.imports
        tops = self._top
        call_t, name_t, attr_t, load_t = ast.Call, ast.Name, ast.Attribute, ast.Load
        scope_types = {ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef}
        func_types = {ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda}
        node_t = ast.AST
        stack: list[tuple[Any, Any, bool, str]] = [(self.tree, self.tree, False, "")]
        pop, push = stack.pop, stack.append
        while stack:
            node, scope, inside, top = pop()
            cls = node.__class__
            if cls is call_t:
                calls.append((node, scope))
                if not inside:
                    name = dotted(node.func)
                    if name is not None:
                        at_module.add(name.rsplit(".", 1)[-1])
            elif cls is name_t:
                if inside and node.ctx.__class__ is load_t:
                    named.add(node.id)
            elif cls is attr_t:
                if inside:
                    named.add(node.attr)
            elif cls is ast.Import:
                for alias in node.names:
                    if alias.asname:
                        imports[alias.asname] = alias.name
                    else:
                        first = alias.name.split(".")[0]
                        imports.setdefault(first, first)
            elif cls is ast.ImportFrom:
                mod = ("." * node.level) + (node.module or "")
                sep = "" if mod.endswith(".") else "."
                for alias in node.names:
                    if alias.name != "*":
                        imports[alias.asname or alias.name] = f"{mod}{sep}{alias.name}"
            if cls in scope_types:
                if cls in func_types:
                    if not top and cls is not ast.Lambda:
                        if scope is self.tree:
                            top = node.name
                        elif scope.__class__ is ast.ClassDef:
                            top = f"{scope.name}.{node.name}"
                    tops[id(node)] = top
                    inside = True
                scope = node
            fields = _FIELDS.get(cls)
            if fields is None:
                fields = _FIELDS[cls] = tuple(
                    f for f in cls._fields if f not in ("ctx", "type_comment", "kind")
                )
            for field_name in fields:
                value = getattr(node, field_name, None)
                if value.__class__ is list:
                    for item in value:
                        if isinstance(item, node_t):
                            push((item, scope, inside, top))
                elif isinstance(value, node_t):
                    push((value, scope, inside, top))

    def release(self) -> None:
        """Drop the syntax tree (the project pass re-parses on demand): keeps memory flat."""
        self.tree = None  # type: ignore[assignment]
        self.calls = []
        self._top.clear()
        self._by_node.clear()
        self._locals_cache.clear()
        self._with_parents.clear()
        self._assigned = None
        for facts in self.functions.values():
            facts.node = None

    def _revive(self) -> None:
        fresh = Module(ast.parse(self.source), self.source)
        for name, facts in fresh.functions.items():
            mine = self.functions.get(name)
            if mine is not None:
                mine.node = facts.node
        self.tree = fresh.tree
        self.module_names = fresh.module_names

    def ensure_parents(self, scope: ast.AST) -> None:
        """Link parents inside one function (done only where a rule needs to look around)."""
        key = id(scope)
        if key not in self._with_parents:
            self._with_parents.add(key)
            _parents(scope)

    def _module_entry(self, stmt: ast.stmt) -> None:
        """Record what a module-level name is bound to, and the routers an app includes."""
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            value = stmt.value
            name = stmt.targets[0].id
            if isinstance(value, ast.Call):
                target = self.qualify(value.func)
                if target is not None:
                    args = tuple(d for a in value.args if (d := dotted(a)) is not None)
                    self.assigned[name] = ("call", target, args)
            elif (ref := dotted(value)) is not None:
                self.assigned[name] = ("ref", ref, ())
        elif (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Attribute)
            and stmt.value.func.attr in ("include_router", "register_blueprint", "mount")
        ):
            for a in stmt.value.args:
                if (d := dotted(a)) is not None:
                    self.included.append(d)

    def _module_bindings(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.module_names.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                self.module_names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        self.module_names.add(node.id)
        elif isinstance(stmt, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for sub in ast.iter_child_nodes(stmt):
                if isinstance(sub, ast.stmt):
                    self._module_bindings(sub)
                elif isinstance(sub, ast.ExceptHandler):
                    for s in sub.body:
                        self._module_bindings(s)

    def _add_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str) -> None:
        args = node.args
        params = tuple(a.arg for a in [*args.posonlyargs, *args.args])
        facts = FunctionFacts(qualname, node, params)
        self._by_node[id(node)] = facts
        for deco in node.decorator_list:
            target = deco.func if isinstance(deco, ast.Call) else deco
            if isinstance(target, ast.Attribute) and target.attr in ROUTE_DECORATORS:
                facts.is_route = True
        self.functions[qualname] = facts

    def qualify(self, node: ast.AST) -> str | None:
        """The dotted name a call target refers to, through the module's imports."""
        name = dotted(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        target = self.imports.get(head)
        if target is not None:
            return f"{target}.{rest}" if rest else target
        return name

    # ---- the leak pass ------------------------------------------------------------------
    def check(self) -> None:
        """Run the leak rules over every function body; collect per-invocation facts."""
        for call, scope in self.calls:
            self._check_call(call, scope)
        for facts in self.functions.values():
            if _is_lifespan(facts.node, self):
                self.ensure_parents(facts.node)
                self._check_lifespan(facts.node)

    def _enclosing(self, node: ast.AST) -> ast.AST | None:
        cur = parent(node)
        while cur is not None and not isinstance(cur, (*_SCOPES, ast.Module)):
            cur = parent(cur)
        return cur

    def _spec(self, call: ast.Call, scope: ast.AST | None = None) -> tuple[Spec, str] | None:
        func = call.func
        qual = self.qualify(func)
        if qual is not None:
            spec = SPECS.get(qual)
            if spec is not None and not (qual == "open" and "open" in self.module_names):
                if spec.label == "subprocess.Popen" and not _has_pipe(call):
                    return None
                if spec.label in _WRAPPERS and self._wraps_file_object(call, scope):
                    return None
                if spec.label in _POOLED and any(k.arg == "connection_pool" for k in call.keywords):
                    return None  # a client over a shared pool opens no connection of its own
                if spec.label in ("threading.Thread", "threading.Timer"):
                    if scope is not None and isinstance(scope, _FUNCS):
                        self.ensure_parents(scope)
                    if not _daemon(call):
                        return None
                return spec, qual
        if isinstance(func, ast.Attribute):
            if func.attr in ("client", "resource") and call.args and _service_literal(call.args[0]):
                return AWS_METHOD, f"{_receiver(func.value)}.{func.attr}()"
            if func.attr in HTTP_VERBS | {"stream"} and _kw_true(call, "stream"):
                return STREAM, f"{dotted(func) or func.attr}(stream=True)"
            if func.attr == "stream" and qual and qual.split(".")[0] in ("httpx",):
                return STREAM, qual
            if func.attr == "accept" and not call.args and self._socket_receiver(func.value, scope):
                return ACCEPT, f"{dotted(func) or 'accept'}()"
            if func.attr == "get_object" and call.args == [] and self._aws_receiver(func.value):
                return STREAM, f"{dotted(func) or 'get_object'}()"
        return None

    def _aws_receiver(self, node: ast.AST) -> bool:
        """A boto3 client/resource: made in place, assigned from one in this module, or ``*s3*``."""
        if isinstance(node, ast.Call):
            func = node.func
            spec = SPECS.get(self.qualify(func) or "")
            if spec is not None:
                return spec.per_call == "FDS201"
            return (
                isinstance(func, ast.Attribute)
                and func.attr in ("client", "resource")
                and bool(node.args)
                and _service_literal(node.args[0])
            )
        name = dotted(node)
        if name is None:
            return False
        if "s3" in name.rsplit(".", 1)[-1].lower():
            return True
        return any(self._aws_receiver(value) for value in self._values_of(name))

    def _values_of(self, name: str) -> list[ast.Call]:
        """Calls assigned to ``name`` anywhere in the module (``x = f()``, ``with f() as x``)."""
        if self._assigned is None:
            self._assigned = {}
            for sub in ast.walk(self.tree):
                for target, value in _bindings(sub):
                    key = dotted(target)
                    if key is not None and isinstance(value, ast.Call):
                        self._assigned.setdefault(key, []).append(value)
        return self._assigned.get(name, [])

    def _socket_receiver(self, node: ast.AST, scope: ast.AST | None) -> bool:
        """A socket made in this module (``socket.create_server(...)``, ...): a local of the
        function, a module-level name, or an attribute (``self.sock``) assigned one."""
        name = dotted(node)
        if name is None:
            return False
        if isinstance(node, ast.Name):
            if scope is None:
                return False
            where = scope if node.id in self._locals(scope) else self.tree
            values = [
                value
                for sub in _walk_scope(where)
                for target, value in _bindings(sub)
                if isinstance(target, ast.Name) and target.id == node.id
            ]
        else:
            values = list(self._values_of(name))
        return any(
            isinstance(v, ast.Call) and (self.qualify(v.func) or "") in _LISTENERS for v in values
        )

    _assigned: dict[str, list[ast.Call]] | None = None

    def _wraps_file_object(self, call: ast.Call, scope: ast.AST | None) -> bool:
        """``GzipFile(fileobj=f)``, ``ZipFile(io.BytesIO(b))``: no descriptor of its own.

        Closing such a wrapper never closes the file object it was given, so the descriptor (if
        any: a BytesIO has none) belongs to whoever opened that object.
        """
        keyword = next((k.value for k in call.keywords if k.arg == "fileobj"), None)
        first = keyword if keyword is not None else (call.args[0] if call.args else None)
        if isinstance(first, ast.Call):
            # GzipFile(fileobj=open(p)): the wrapper is what the code keeps, so it is checked
            return (self.qualify(first.func) or "") in _IN_MEMORY
        if isinstance(first, ast.Name) and isinstance(scope, _FUNCS):
            for node in _walk_scope(scope):
                if (
                    isinstance(node, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == first.id for t in node.targets)
                    and isinstance(node.value, ast.Call)
                    and (self.qualify(node.value.func) or "") in _IN_MEMORY
                ):
                    return True
        # fileobj=f: f's owner closes it; a positional name may be a path
        return keyword is not None

    def _check_call(self, call: ast.Call, scope: ast.AST) -> None:
        func = call.func
        # FDS102: logger.addHandler in a function
        if isinstance(func, ast.Attribute) and func.attr == "addHandler":
            if isinstance(scope, _FUNCS):
                self.ensure_parents(scope)
            if (
                isinstance(scope, _FUNCS)
                and not self._guarded_handlers(call, scope)
                and not self._called_only_at_module_scope(scope.name)
            ):
                self._add(call, "FDS102", f"{dotted(func) or 'addHandler'}()")
            return
        found = self._spec(call, scope)
        if found is None:
            return
        spec, label = found
        if isinstance(scope, _FUNCS):
            self.ensure_parents(scope)
        if spec.per_call and isinstance(scope, (*_FUNCS, ast.Lambda)):
            # a nested function or lambda runs when (and as often as) its top-level function does
            facts = self._by_node.get(id(scope)) or self.functions.get(self._top.get(id(scope), ""))
            if facts is not None and facts.node is not scope:
                self.ensure_parents(facts.node)
            if facts is not None and not self._lazy(call, scope) and not _loop_bound(call, spec):
                facts.creations.append(Creation(call.lineno, call.col_offset, spec.per_call, label))
        if not isinstance(scope, (_FUNCS + (ast.Lambda,))):
            return  # module and class scope run once
        if spec.rule is None and not spec.per_call:
            return
        if isinstance(scope, ast.Lambda):
            return  # a lambda returns what it makes
        self._check_creation(call, spec, label, scope)

    def _add(self, node: ast.AST, code: str, call: str, name: str = "") -> None:
        self.findings.append(
            RawFinding(
                getattr(node, "lineno", 1),
                getattr(node, "col_offset", 0),
                code,
                call,
                name,
                self._top_function(node),
            )
        )

    def _top_function(self, node: ast.AST) -> str:
        cur: ast.AST | None = node
        while cur is not None:
            top = self._top.get(id(cur))
            if top is not None:
                return top
            cur = parent(cur)
        return ""

    # ---- one creation ---------------------------------------------------------------------
    def _check_creation(
        self, call: ast.Call, spec: Spec, label: str, scope: ast.FunctionDef | ast.AsyncFunctionDef
    ) -> None:
        node: ast.AST = call
        up = parent(node)
        while isinstance(up, _TRANSPARENT):
            node, up = up, parent(up)
        disp = f"{label}()" if not label.endswith(")") else label
        rule = spec.rule
        # with X(...) [as v]
        if isinstance(up, ast.withitem):
            if label in _COMMIT_ONLY:
                self._add(call, "FDS104", disp)
            return
        if isinstance(up, ast.Call) and node is not up.func:
            callee = self.qualify(up.func) or ""
            if callee in MANAGERS or callee.rsplit(".", 1)[-1] in MANAGER_METHODS:
                return
            keeper = self._keeper(up, scope)
            if keeper is not None:
                self._add(call, "FDS101", disp, keeper)
                return
            if rule == "FDS103" and callee in NON_OWNING:
                self._add(call, "FDS103", disp)
            return
        if isinstance(up, ast.keyword):
            return
        if isinstance(up, (ast.Attribute, ast.Subscript)) and node is up.value:
            if rule == "FDS103":
                self._add(call, "FDS103", disp)
            elif rule == "FDS106" and (
                not spec.started or (isinstance(up, ast.Attribute) and up.attr == "start")
            ):
                self._add(call, "FDS106", disp)
            elif rule == "FDS105" and not (isinstance(up, ast.Attribute) and up.attr == "close"):
                self._add(call, "FDS105", disp)
            elif spec.cycle and rule == "FDS108" and not _closer_attr(up, spec):
                self._add(
                    call,
                    "FDS108",
                    disp,
                    "is used once and dropped unclosed; "
                    "its reference cycle keeps the connection until the garbage collector runs",
                )
            elif rule == "FDS107":
                attr = up.attr if isinstance(up, ast.Attribute) else ""
                if attr not in ("wait", "communicate"):
                    self._add(call, "FDS107", disp)
            return
        if isinstance(up, ast.Expr):
            if rule == "FDS103":
                self._add(call, "FDS103", disp)
            elif rule in ("FDS105", "FDS107") or (rule == "FDS106" and not spec.started):
                self._add(call, rule, disp)
            elif spec.cycle and rule == "FDS108":
                self._add(
                    call,
                    "FDS108",
                    disp,
                    "is created and dropped unclosed; it waits for the garbage collector",
                )
            elif rule == "FDS109" and "stream" in label:
                self._add(call, "FDS109", disp, "is never read or closed")
            return
        if isinstance(up, (ast.Return, ast.Yield, ast.YieldFrom)):
            return
        if isinstance(up, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and node is up.value:
            targets = up.targets if isinstance(up, ast.Assign) else [up.target]
            keepers = [
                k
                for target in targets
                if (k := self._check_target(call, target, spec, disp, scope, whole=True))
            ]
            if keepers:  # ``a.x = b.y = open(p)``: one finding naming every keeper
                self._add(call, "FDS101", disp, " and ".join(dict.fromkeys(keepers)))
            return
        # inside a literal, comprehension, conditional expression...: ownership is unclear

    def _check_target(
        self,
        call: ast.Call,
        target: ast.AST,
        spec: Spec,
        disp: str,
        scope: ast.FunctionDef | ast.AsyncFunctionDef,
        *,
        whole: bool,
    ) -> str | None:
        """Check one store target; the module state that keeps the resource (FDS101), if any."""
        if isinstance(target, (ast.Tuple, ast.List)):
            kept: list[str] = []
            if spec.fds:
                for i, elt in enumerate(target.elts):
                    if i in spec.fds:
                        k = self._check_target(call, elt, spec, disp, scope, whole=False)
                        if k:
                            kept.append(k)
            return " and ".join(kept) or None
        keeper = self._module_target(target, scope)
        if keeper is not None:
            if not self._guarded(call, scope, keeper) and not self._memo(call, scope, spec, keeper):
                return keeper
            return None
        if (
            spec.rule == "FDS108"
            and isinstance(target, ast.Attribute)
            and self._replaced_on_self(target, spec, scope)
        ):
            self._add(
                call,
                "FDS108",
                disp,
                f"kept in {dotted(target)} is never closed by its class; "
                "each call replaces the last one, still open",
            )
            return None
        if isinstance(target, ast.Name):
            if whole and spec.fds and spec.rule == "FDS103" and spec.fds != (0,):
                self._track_sequence(call, target.id, spec, disp, scope)
                return None
            if target.id == "_":
                if spec.rule == "FDS103":
                    self._add(call, "FDS103", disp)
                return None
            self._track(call, target.id, spec, disp, scope)
        return None

    def _replaced_on_self(
        self, target: ast.Attribute, spec: Spec, scope: ast.FunctionDef | ast.AsyncFunctionDef
    ) -> bool:
        """``self.out = open(p)`` in a method (not ``__init__``) of a class that never closes,
        hands on or returns ``self.out``: every call leaves the previous one open."""
        args = scope.args.posonlyargs + scope.args.args
        if not args or scope.name in _SETUP_METHODS or scope.name.startswith("__"):
            return False
        me = args[0].arg
        if not (isinstance(target.value, ast.Name) and target.value.id == me):
            return False
        top = self._top.get(id(scope), "")
        cls_name = top.split(".")[0] if "." in top else ""
        cls = next(
            (c for c in self.tree.body if isinstance(c, ast.ClassDef) and c.name == cls_name),
            None,
        )
        if cls is None or top != f"{cls_name}.{scope.name}":
            return False
        attr = target.attr
        for up in ast.walk(cls):
            for node in ast.iter_child_nodes(up):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr == attr
                    and isinstance(node.value, ast.Name)
                    and isinstance(node.ctx, ast.Load)
                ):
                    if isinstance(up, ast.Attribute) and up.attr not in spec.closers:
                        continue  # self.out.write(...): a use, not a close
                    return False  # closed, handed on, returned, tested: the class manages it
        return True

    def _module_target(self, target: ast.AST, scope: ast.AST) -> str | None:
        """The module-level state a store target writes into, or None."""
        if isinstance(target, ast.Name):
            if target.id in _globals_of(scope):
                return f"global {target.id}"
            return None
        if isinstance(target, (ast.Subscript, ast.Attribute)):
            base = target.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name) and self._is_module_name(base.id, scope):
                if isinstance(target, ast.Attribute) and base.id in self.imports:
                    if (self.qualify(target) or "").startswith(_REQUEST_STATE):
                        return None  # flask.g lives for one request (its teardown closes it)
                    return f"module attribute {dotted(target)}"
                if isinstance(target, ast.Subscript):
                    if self._evicted(base.id):
                        return None
                    return f"module-level cache {base.id}[...] (no eviction)"
                if isinstance(target, ast.Attribute) and base.id in _globals_of(scope):
                    return f"global {dotted(target)}"
        return None

    def _keeper(self, call: ast.Call, scope: ast.AST) -> str | None:
        """``CACHE.append(x)`` on module state, ``atexit.register(...)``: who keeps the argument."""
        qual = self.qualify(call.func) or ""
        if qual == "atexit.register":
            return "atexit.register()"
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in KEEPERS:
            base = func.value
            while True:  # CACHE[k].append, CACHE.x.append, CACHE.setdefault(k, []).append
                if isinstance(base, (ast.Subscript, ast.Attribute)):
                    base = base.value
                elif (
                    isinstance(base, ast.Call)
                    and isinstance(base.func, ast.Attribute)
                    and base.func.attr in ("setdefault", "get")
                ):
                    base = base.func.value
                else:
                    break
            if (
                isinstance(base, ast.Name)
                and self._is_module_name(base.id, scope)
                and base.id not in self.imports
                and not self._evicted(base.id)
            ):
                return f"module-level {dotted(func.value) or base.id}"
        return None

    def _is_module_name(self, name: str, scope: ast.AST) -> bool:
        if name in _globals_of(scope):
            return True
        if name in self._locals(scope):
            return False
        return name in self.module_names

    def _locals(self, scope: ast.AST) -> set[str]:
        key = id(scope)
        cached = self._locals_cache.get(key)
        if cached is None:
            names: set[str] = set()
            if isinstance(scope, (*_FUNCS, ast.Lambda)):
                a = scope.args
                for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
                    if arg is not None:
                        names.add(arg.arg)
            for node in _walk_scope(scope):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
            cached = (names, _globals_of(scope))
            self._locals_cache[key] = cached
        return cached[0] - cached[1]

    _evict_cache: dict[str, bool] | None = None

    def _evicted(self, name: str) -> bool:
        if self._evict_cache is None:
            self._evict_cache = {}
        hit = self._evict_cache.get(name)
        if hit is None:
            hit = False
            for node in ast.walk(self.tree):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr in EVICTORS
                    and isinstance(node.value, ast.Name)
                    and node.value.id == name
                ) or (
                    isinstance(node, ast.Delete)
                    and any(
                        isinstance(t, ast.Subscript) and dotted(t.value) == name
                        for t in node.targets
                    )
                ):
                    hit = True
                    break
            self._evict_cache[name] = hit
        return hit

    def _guarded(self, node: ast.AST, scope: ast.AST, keeper: str) -> bool:
        """Inside an ``if`` that tests the state it fills (lazy init / memo), or a KeyError handler."""
        if not keeper.startswith("global "):
            return False  # containers and atexit grow with every call, guarded or not
        name = keeper.split()[-1].split(".")[0]
        cur = parent(node)
        prev: ast.AST = node
        while cur is not None and cur is not scope:
            if (
                isinstance(cur, (ast.If, ast.While, ast.IfExp))
                and prev is not cur.test
                and any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(cur.test))
            ):
                return True
            if isinstance(cur, ast.ExceptHandler) and _catches_key_error(cur):
                return True
            if (
                isinstance(cur, ast.BoolOp)
                and isinstance(cur.op, ast.Or)
                and any(isinstance(v, ast.Name) and v.id == name for v in cur.values)
            ):
                return True  # _x = _x or make()
            prev, cur = cur, parent(cur)
        return _guard_clause(node, scope, lambda n: isinstance(n, ast.Name) and n.id == name)

    def _memo(self, node: ast.AST, scope: ast.AST, spec: Spec, keeper: str) -> bool:
        """A keyed cache of clients (no descriptor of its own until used) filled once per key."""
        if spec.rule is not None or not keeper.startswith("module-level cache "):
            return False
        name = keeper.split()[2].split("[")[0]
        cur, prev = parent(node), node
        while cur is not None and cur is not scope:
            if (
                isinstance(cur, (ast.If, ast.IfExp, ast.While))
                and prev is not cur.test
                and any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(cur.test))
            ):
                return True
            if isinstance(cur, ast.ExceptHandler) and _catches_key_error(cur):
                return True
            prev, cur = cur, parent(cur)
        return False

    def _lazy(self, call: ast.Call, scope: ast.AST) -> bool:
        """A creation done once: in a cached function, or under a test of module state."""
        for deco in getattr(scope, "decorator_list", ()):
            target = deco.func if isinstance(deco, ast.Call) else deco
            q = self.qualify(target) or ""
            if q in CACHE_DECORATORS or q.rsplit(".", 1)[-1] in ("cache", "lru_cache", "cached"):
                return True
        return self._under_module_test(call, scope)

    def _under_module_test(self, node: ast.AST, scope: ast.AST) -> bool:
        cur, prev = parent(node), node
        while cur is not None and cur is not scope:
            test = getattr(cur, "test", None)
            if isinstance(cur, (ast.If, ast.IfExp)) and test is not None and prev is not test:
                for n in ast.walk(test):
                    if (
                        isinstance(n, ast.Name)
                        and self._is_module_name(n.id, scope)
                        and n.id not in self.imports
                        and n.id not in self.functions
                    ):
                        return True
                    if (
                        isinstance(n, ast.Attribute)
                        and n.attr.startswith("_")
                        and (dotted(n) or "").startswith(("self.", "cls."))
                    ):
                        return True
            if isinstance(cur, ast.ExceptHandler) and _catches_key_error(cur):
                return True
            prev, cur = cur, parent(cur)
        # ``global _c; if _c: return _c`` before the creation, or ``try: _c.ping() except: _c = ...``
        names = _globals_of(scope)
        return bool(names) and _guard_clause(
            node, scope, lambda n: isinstance(n, ast.Name) and n.id in names
        )

    # ---- following a local name -------------------------------------------------------------
    def _uses(self, name: str, scope: ast.AST) -> Iterator[tuple[ast.AST, bool]]:
        """Loads of ``name`` in ``scope`` (climbed through subscripts): (node, inside a closure)."""
        for node in ast.walk(scope):
            if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
                inner = self._enclosing(node) is not scope
                yield node, inner

    def _track(
        self,
        call: ast.Call,
        name: str,
        spec: Spec,
        disp: str,
        scope: ast.FunctionDef | ast.AsyncFunctionDef,
    ) -> None:
        rule = spec.rule
        closed_finally = closed = managed = escaped = started = read = commit_with = False
        start_node: ast.AST | None = None
        first_close: int | None = None
        closed_always = False  # a close() on every path (else: each one is on a branch)
        branches: set[tuple[int, str]] = set()
        kept: str | None = None
        body_read = False
        for node, inner in self._uses(name, scope):
            if inner:
                closure = self._enclosing(node)
                k = self._closure_kept(closure, scope)
                if k is not None:
                    kept = k
                else:
                    escaped = True
                continue
            cur: ast.AST = node
            up = parent(cur)
            plain = False
            while isinstance(up, _TRANSPARENT) or (
                isinstance(up, ast.Subscript) and cur is up.value
            ):
                if isinstance(up, ast.Subscript) and spec is STREAM:
                    key = up.slice
                    if isinstance(key, ast.Constant) and key.value == "Body":
                        nxt = parent(up)
                        if not (isinstance(nxt, ast.Attribute) and nxt.attr not in STREAM_READERS):
                            body_read = True
                    else:
                        plain = True  # obj["ContentLength"]: a value, not the stream
                        break
                cur, up = up, parent(up)
            if plain:
                continue
            if isinstance(up, ast.Attribute) and cur is up.value:
                attr = up.attr
                call_up = parent(up)
                if attr in spec.closers:
                    if isinstance(call_up, ast.Call) and up is call_up.func:
                        closed = True
                        closed_finally = closed_finally or _in_finally(up, scope)
                        branch = _only_on_branch(up, call, name, scope)
                        if branch is None:
                            closed_always = True
                        else:
                            branches.add(branch)
                        line = getattr(up, "lineno", 0)
                        first_close = line if first_close is None else min(first_close, line)
                    elif isinstance(call_up, ast.Call):
                        q = self.qualify(call_up.func) or ""
                        if q == "atexit.register":
                            kept = "atexit.register()"
                        else:
                            closed = closed_finally = True  # a callback that runs at cleanup
                    else:
                        escaped = True
                elif attr == "start":
                    started = True
                    start_node = start_node or up
                elif attr in STREAM_READERS:
                    read = True
                elif attr in ("detach", "__enter__", "__aenter__"):
                    escaped = True
                continue
            if isinstance(up, ast.withitem):
                if spec.label in _COMMIT_ONLY:
                    commit_with = True  # ``with conn:`` ends a transaction, it does not close
                else:
                    managed = True
                continue
            if isinstance(up, ast.Call) and cur is not up.func:
                callee = self.qualify(up.func) or ""
                short = callee.rsplit(".", 1)[-1]
                if callee in MANAGERS or short in MANAGER_METHODS:
                    managed = True
                elif rule == "FDS103" and callee in FD_TAKERS:
                    closed = closed_finally = True
                elif (k := self._keeper(up, scope)) is not None:
                    kept = k
                elif callee in NON_OWNING or (rule == "FDS103" and callee.startswith("os.")):
                    pass
                elif callee in _ITERATORS and _iterated(up):
                    pass  # for n, line in enumerate(f): reads it, keeps nothing
                else:
                    escaped = True
                continue
            if isinstance(up, ast.keyword):
                escaped = True
                continue
            if isinstance(up, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and cur is up.value:
                targets = up.targets if isinstance(up, ast.Assign) else [up.target]
                for target in targets:
                    k = self._module_target(target, scope)
                    if k is not None and not self._guarded(up, scope, k):
                        kept = k
                    else:
                        escaped = True
                continue
            if _iterated(cur):
                continue  # for line in f: reads it
            if isinstance(
                up,
                (
                    ast.Compare,
                    ast.BoolOp,
                    ast.UnaryOp,
                    ast.If,
                    ast.While,
                    ast.IfExp,
                    ast.Assert,
                    ast.JoinedStr,
                    ast.FormattedValue,
                ),
            ):
                continue
            escaped = True  # returned, yielded, put in a literal, ...
        # the verdict
        if kept is not None and not closed:
            self._add(call, "FDS101", disp, kept)
            return
        if escaped or managed:
            return
        if commit_with and not closed:
            self._add(call, "FDS104", name)
            return
        if rule == "FDS103":
            if not closed:
                self._add(call, "FDS103", disp)
        elif rule == "FDS105":
            if not closed:
                self._add(call, "FDS105", disp)
        elif rule == "FDS106":
            if (started or not spec.started) and not closed:
                # a started worker is reported where it starts: that is when it holds resources
                self._add(start_node if spec.started and start_node else call, "FDS106", disp)
        elif rule == "FDS107":
            if not closed:
                self._add(call, "FDS107", disp)
        elif rule == "FDS109":
            if spec is STREAM and "get_object" in disp:
                if not body_read:
                    self._add(
                        call,
                        "FDS109",
                        disp,
                        "response's Body (a StreamingBody) is never read or closed",
                    )
            elif not (read or closed):
                self._add(call, "FDS109", disp, "is never read or closed")
        elif rule == "FDS108":
            both = any((i, "orelse") in branches for i, b in branches if b == "body")
            if not closed:
                self._add(call, "FDS108", disp, f"kept in {name!r} is never closed")
            elif not closed_finally and not closed_always and not both:
                self._add(
                    call,
                    "FDS108",
                    disp,
                    f"kept in {name!r} is closed on one branch only; the other leaves it open",
                )
            elif not closed_finally and (exit_line := self._early_exit(call, first_close, scope)):
                self._add(
                    call,
                    "FDS108",
                    disp,
                    f"kept in {name!r} is closed, but the return or raise at line {exit_line} "
                    "skips the close()",
                )

    def _early_exit(self, call: ast.AST, close_line: int | None, scope: ast.AST) -> int | None:
        """The first ``return``/``raise`` between the creation and the first close, if any."""
        if close_line is None:
            return None
        start = getattr(call, "end_lineno", None) or getattr(call, "lineno", 0)
        lines = [
            node.lineno
            for node in _walk_scope(scope)
            if isinstance(node, (ast.Return, ast.Raise)) and start < node.lineno < close_line
        ]
        return min(lines) if lines else None

    def _track_sequence(
        self, call: ast.Call, name: str, spec: Spec, disp: str, scope: ast.AST
    ) -> None:
        """``fds = os.pipe()``: closed when os.close(fds[i]) or the whole pair is handed on."""
        closed = escaped = False
        for node, _inner in self._uses(name, scope):
            cur: ast.AST = node
            up = parent(cur)
            if isinstance(up, ast.Subscript):
                cur, up = up, parent(up)
            if isinstance(up, ast.Call) and cur is not up.func:
                callee = self.qualify(up.func) or ""
                if callee in FD_TAKERS:
                    closed = True
                elif not (callee in NON_OWNING or callee.startswith("os.")):
                    escaped = True
            elif isinstance(up, (ast.Return, ast.Assign, ast.Yield, ast.For, ast.comprehension)):
                escaped = True
        if not (closed or escaped):
            self._add(call, spec.rule or "FDS103", disp)

    def _closure_kept(self, closure: ast.AST | None, scope: ast.AST) -> str | None:
        """A nested function/lambda that is stored into module state or registered at exit."""
        if closure is None:
            return None
        up = parent(closure)
        if isinstance(closure, ast.Lambda):
            if isinstance(up, ast.Call):
                return self._keeper(up, scope)
            if isinstance(up, ast.Assign):
                for t in up.targets:
                    k = self._module_target(t, scope)
                    if k is not None:
                        return k
            return None
        if isinstance(closure, _FUNCS):
            for node, _inner in self._uses(closure.name, scope):
                p = parent(node)
                if isinstance(p, ast.Call) and node is not p.func:
                    k = self._keeper(p, scope)
                    if k is not None:
                        return k
            for deco in closure.decorator_list:
                if (self.qualify(deco) or "") == "atexit.register":
                    return "atexit.register()"
        return None

    # ---- FDS102 helpers ----------------------------------------------------------------
    def _guarded_handlers(self, call: ast.Call, scope: ast.AST) -> bool:
        """An ``addHandler`` that cannot add a second handler when the function runs again."""
        func = call.func
        assert isinstance(func, ast.Attribute)
        # the same module-level handler object every call: logging ignores one already attached
        if (
            len(call.args) == 1
            and isinstance(call.args[0], ast.Name)
            and call.args[0].id not in self.imports
            and self._is_module_name(call.args[0].id, scope)
        ):
            return True
        cur = parent(call)
        while cur is not None and cur is not scope:
            if isinstance(cur, ast.If):
                text = ast.unparse(cur.test).lower()
                # logger.handlers, hasHandlers(), a _has_handler(lg) helper, a _configured flag
                if "handler" in text or "configured" in text:
                    return True
                if self._under_module_test(call, scope):
                    return True
            cur = parent(cur)
        # ``global _configured`` / ``if _configured: return`` before it
        names = _globals_of(scope)
        if names and _guard_clause(
            call, scope, lambda n: isinstance(n, ast.Name) and n.id in names
        ):
            return True
        # remove-all-then-add on the same logger: the count stays at one
        receiver = ast.unparse(func.value)
        removers = {("removeHandler", receiver), ("clear", f"{receiver}.handlers")}
        for node in _walk_scope(scope):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.lineno <= call.lineno
                and (node.func.attr, ast.unparse(node.func.value)) in removers
            ):
                return True
            if (
                isinstance(node, ast.Assign)
                and node.lineno <= call.lineno
                and any(ast.unparse(t) == f"{receiver}.handlers" for t in node.targets)
            ):
                return True
        return False

    def _called_only_at_module_scope(self, name: str) -> bool:
        called_in_module = called_in_function = False
        for node, scope in self.calls:
            if isinstance(node.func, ast.Name) and node.func.id == name:
                if isinstance(scope, ast.Module):
                    called_in_module = True
                else:
                    called_in_function = True
        return called_in_module and not called_in_function

    # ---- calls made by each function (for the per-invocation chain) ---------------------------
    def calls_of(self, facts: FunctionFacts) -> list[tuple[str, int]]:
        """Dotted callees in a function, except those under a test of module state (lazy init)."""
        if id(facts) in self._calls_done:
            return facts.calls
        self._calls_done.add(id(facts))
        if facts.node is None:
            self._revive()
        if facts.node is None:
            return facts.calls
        self.ensure_parents(facts.node)
        for node in _walk_scope(facts.node):
            if isinstance(node, ast.Call):
                name = dotted(node.func)
                func = node.func
                if (
                    name is None
                    and isinstance(func, ast.Attribute)
                    and isinstance(func.value, ast.Call)
                ):
                    made = dotted(func.value.func)  # Store().put(...): a method of a new instance
                    name = f"{made}().{func.attr}" if made else None
                if name is None or self._under_module_test(node, facts.node):
                    continue
                facts.calls.append((name, node.lineno))
        return facts.calls

    # ---- FDS110 -------------------------------------------------------------------------
    def _check_lifespan(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        yields = [n for n in _walk_scope(fn) if isinstance(n, (ast.Yield, ast.YieldFrom))]
        if not yields:
            return
        first_yield = min(y.lineno for y in yields)
        closers: set[str] = set()
        for n in _walk_scope(fn):
            if isinstance(n, (ast.With, ast.AsyncWith)) and any(
                y.lineno >= n.lineno and y.lineno <= (n.end_lineno or n.lineno) for y in yields
            ):
                # ``async with client:`` around the yield closes it after the yield
                closers.update(ast.unparse(item.context_expr) for item in n.items)
            if (
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute)
                and n.func.attr in ("close", "aclose", "shutdown", "dispose", "terminate")
                and n.lineno >= first_yield
            ):
                closers.add(ast.unparse(n.func.value))
            if isinstance(n, ast.Call) and n.lineno >= first_yield:
                for a in n.args:
                    closers.add(ast.unparse(a))
        for n in _walk_scope(fn):
            if not isinstance(n, ast.Call) or n.lineno > first_yield:
                continue
            found = self._spec(n)
            if found is None or found[0].rule is None and found[0].per_call is None:
                continue
            node: ast.AST = n
            up = parent(node)
            while isinstance(up, _TRANSPARENT):
                node, up = up, parent(up)
            if isinstance(up, ast.withitem):
                continue
            target = None
            if isinstance(up, (ast.Assign, ast.AnnAssign)):
                t = up.targets[0] if isinstance(up, ast.Assign) else up.target
                target = ast.unparse(t)
            if target is None or target not in closers:
                label = found[1]
                self._add(
                    n, "FDS110", label if label.endswith(")") else f"{label}()", repr(fn.name)
                )


# connections whose ``with`` block ends a transaction and leaves the connection open
_COMMIT_ONLY = frozenset({"sqlite3.connect", "psycopg2.connect"})
# wrappers that only iterate their argument when looped over: ``for n, x in enumerate(f)``
_ITERATORS = frozenset({"enumerate", "zip", "reversed", "sorted", "itertools.islice"})
# methods that run once per object, like __init__
_SETUP_METHODS = frozenset({"setUp", "setUpClass", "setup", "setup_method", "asyncSetUp"})
_LISTENERS = frozenset({"socket.socket", "socket.create_server", "socket.fromfd"})
_POOLED = frozenset({"redis.Redis", "redis.StrictRedis", "redis.asyncio.Redis"})
# archives and compressed streams that open a path themselves, or wrap a file object
_WRAPPERS = frozenset(
    {
        "gzip.open",
        "gzip.GzipFile",
        "bz2.open",
        "bz2.BZ2File",
        "lzma.open",
        "lzma.LZMAFile",
        "tarfile.open",
        "zipfile.ZipFile",
    }
)
# module attributes that are per-request state, not module state
_REQUEST_STATE = ("flask.g.", "quart.g.")
_IN_MEMORY = frozenset({"io.BytesIO", "io.StringIO", "BytesIO", "StringIO"})
_FIELDS: dict[type, tuple[str, ...]] = {ast.Constant: (), ast.Name: ()}


def _walk_scope(scope: ast.AST) -> Iterator[ast.AST]:
    """Nodes of a function body, not descending into nested functions, lambdas or classes."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def _globals_of(scope: ast.AST) -> set[str]:
    cached = getattr(scope, "_fds_globals", None)
    if cached is None:
        cached = set()
        if isinstance(scope, _FUNCS):
            for node in _walk_scope(scope):
                if isinstance(node, (ast.Global, ast.Nonlocal)):
                    cached.update(node.names)
        scope._fds_globals = cached  # type: ignore[attr-defined]
    return cached


def _exits(body: list[ast.stmt]) -> bool:
    return bool(body) and isinstance(body[-1], (ast.Return, ast.Raise))


def _guard_clause(node: ast.AST, scope: ast.AST, names: Callable[[ast.AST], bool]) -> bool:
    """Lazy initialisation written as a guard clause around ``node``.

    True when a statement before it (in its block or an enclosing one) is
    ``if <test of the state>: return`` (the early return of an initialised value), or when it is
    in the ``except`` of a ``try`` whose body uses the state (``try: _c.ping() except: _c = ...``).
    ``names`` tells which nodes of a test are the state.
    """
    cur, prev = parent(node), node
    while cur is not None and prev is not scope:
        if isinstance(cur, ast.ExceptHandler):
            owner = parent(cur)
            if isinstance(owner, ast.Try) and any(
                names(n) for s in owner.body for n in ast.walk(s)
            ):
                return True
        for field_name in ("body", "orelse", "finalbody"):
            block = getattr(cur, field_name, None)
            if not isinstance(block, list) or not any(stmt is prev for stmt in block):
                continue
            for stmt in block:
                if stmt is prev:
                    break
                if (
                    isinstance(stmt, ast.If)
                    and _exits(stmt.body)
                    and any(names(n) for n in ast.walk(stmt.test))
                ):
                    return True
        prev, cur = cur, parent(cur)
    return False


def _bindings(node: ast.AST) -> list[tuple[ast.AST, ast.AST]]:
    """(target, value) pairs ``node`` binds: ``x = v``, ``x: T = v``, ``with v as x``."""
    if isinstance(node, ast.Assign):
        return [(t, node.value) for t in node.targets]
    if isinstance(node, ast.AnnAssign):
        return [(node.target, node.value)] if node.value is not None else []
    if isinstance(node, ast.withitem) and node.optional_vars is not None:
        return [(node.optional_vars, node.context_expr)]
    return []


def _loop_bound(call: ast.Call, spec: Spec) -> bool:
    """``async with session.client("s3")`` (aioboto3): an async AWS client belongs to its event
    loop, and a Lambda handler running ``asyncio.run`` has a new loop per invocation, so it
    cannot be made once at module scope."""
    up = parent(call)
    return (
        spec.per_call == "FDS201"
        and isinstance(up, ast.withitem)
        and isinstance(parent(up), ast.AsyncWith)
    )


def _iterated(node: ast.AST) -> bool:
    """``node`` is what a ``for`` loop or a comprehension iterates over."""
    up = parent(node)
    return isinstance(up, (ast.For, ast.AsyncFor, ast.comprehension)) and up.iter is node


def _only_on_branch(
    close: ast.AST, creation: ast.AST, name: str, scope: ast.AST
) -> tuple[int, str] | None:
    """The ``if`` branch (id of the if, "body"/"orelse") a close() depends on; None if none.

    An ``if`` that also holds the creation, or that tests the resource itself
    (``if f is not None: f.close()``), does not count.
    """
    holders: set[int] = set()
    cur: ast.AST | None = creation
    while cur is not None and cur is not scope:
        holders.add(id(cur))
        cur = parent(cur)
    cur, prev = parent(close), close
    while cur is not None and cur is not scope:
        if id(cur) in holders:
            return None
        if isinstance(cur, ast.If) and prev is not cur.test:
            tests_it = any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(cur.test))
            if not tests_it:
                return id(cur), "body" if any(prev is s for s in cur.body) else "orelse"
        prev, cur = cur, parent(cur)
    return None


def _in_finally(node: ast.AST, scope: ast.AST) -> bool:
    cur, prev = parent(node), node
    while cur is not None and cur is not scope:
        if isinstance(cur, ast.Try) and any(prev is s for s in cur.finalbody):
            return True
        if isinstance(cur, (ast.With, ast.AsyncWith)) and prev in cur.body:
            pass
        prev, cur = cur, parent(cur)
    return False


def _receiver(node: ast.AST) -> str:
    """``session`` / ``boto3.Session(...)``: how a method's receiver reads in a message."""
    name = dotted(node)
    if name is not None:
        return name
    if isinstance(node, ast.Call):
        inner = dotted(node.func)
        if inner is not None:
            return f"{inner}(...)"
    return "(...)"


def _catches_key_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return False
    text = ast.unparse(handler.type)
    return "KeyError" in text or "LookupError" in text


def _closer_attr(up: ast.AST, spec: Spec) -> bool:
    return isinstance(up, ast.Attribute) and up.attr in spec.closers


def _kw_true(call: ast.Call, name: str) -> bool:
    return any(
        k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )


def _has_pipe(call: ast.Call) -> bool:
    for k in call.keywords:
        if k.arg in ("stdin", "stdout", "stderr"):
            name = dotted(k.value) or ""
            if name.endswith("PIPE"):
                return True
    return False


def _daemon(call: ast.Call) -> bool:
    if _kw_true(call, "daemon"):
        return True
    up = parent(call)
    if isinstance(up, ast.Assign) and isinstance(up.targets[0], ast.Name):
        name = up.targets[0].id
        scope = up
        while scope is not None and not isinstance(scope, _FUNCS):
            scope = parent(scope)
        if scope is not None:
            for node in _walk_scope(scope):
                if (
                    isinstance(node, ast.Assign)
                    and isinstance(node.targets[0], ast.Attribute)
                    and node.targets[0].attr == "daemon"
                    and dotted(node.targets[0].value) == name
                    and isinstance(node.value, ast.Constant)
                    and node.value.value is True
                ):
                    return True
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "setDaemon"
                    and dotted(node.func.value) == name
                ):
                    return True
    return False


def _service_literal(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return False
    v = node.value
    return 1 < len(v) <= 40 and v.replace("-", "").isalnum() and v.lower() == v


def _is_lifespan(fn: ast.AST, module: Module) -> bool:
    if not isinstance(fn, ast.AsyncFunctionDef):
        return False
    for deco in fn.decorator_list:
        q = module.qualify(deco) or ""
        if q.endswith("asynccontextmanager"):
            return True
    return "lifespan" in fn.name.lower()
