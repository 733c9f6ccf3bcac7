"""Facts about one module: its imports, module-level names and bindings, functions and classes,
every call with its scope, and the findings and per-invocation creations the rules record.

:class:`Module` is what the project pass keeps of a file once the syntax tree is released.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from fdscope.lint._guards import under_module_test
from fdscope.lint._specs import EVICTORS, ROUTE_DECORATORS
from fdscope.lint._syntax import (
    FUNCS,
    bindings,
    dotted,
    globals_of,
    link_parents,
    parent,
    walk_scope,
)


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


_SCOPE_TYPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef})
_FUNC_TYPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda})
# the child fields of each node class the index walks (filled as classes are met)
_FIELDS: dict[type, tuple[str, ...]] = {ast.Constant: (), ast.Name: ()}


def _fields_of(cls: type) -> tuple[str, ...]:
    fields = _FIELDS[cls] = tuple(
        f
        for f in cls._fields  # type: ignore[attr-defined]
        if f not in ("ctx", "type_comment", "kind")
    )
    return fields


class Module:
    """One parsed module: imports, module names, functions, and the leak findings of its functions."""

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
        self._locals_cache: dict[int, frozenset[str]] = {}
        self._top: dict[int, str] = {}  # id(function or lambda) -> top-level function name
        self._with_parents: set[int] = set()
        self.by_node: dict[int, FunctionFacts] = {}
        self._calls_done: set[int] = set()
        self._values: dict[str, list[ast.Call]] | None = None  # see values_of
        self._evict_cache: dict[str, bool] | None = None
        # module-level ``name = value``: (kind, qualified target, dotted positional args), where
        # kind is "call" (``handler = Mangum(app)``) or "ref" (``lambda_handler = Service.handle``)
        self.assigned: dict[str, tuple[str, str, tuple[str, ...]]] = {}
        self.included: list[str] = []  # ``app.include_router(x)`` / ``register_blueprint(x)``
        self._collect_module()

    # ---- collecting ---------------------------------------------------------------------
    def _collect_module(self) -> None:
        tree = self.tree
        self._index()
        for stmt in tree.body:
            self._module_bindings(stmt)
            self._module_entry(stmt)
        for stmt in tree.body:
            if isinstance(stmt, FUNCS):
                self._add_function(stmt, stmt.name)
            elif isinstance(stmt, ast.ClassDef):
                for sub in stmt.body:
                    if isinstance(sub, FUNCS):
                        self._add_function(sub, f"{stmt.name}.{sub.name}")

    def _index(self) -> None:
        """One pass over the module: calls with their scope, imports, names used in functions."""
        calls = self.calls
        named = self.named_in_functions
        call_t, name_t, attr_t, load_t = ast.Call, ast.Name, ast.Attribute, ast.Load
        import_t, from_t = ast.Import, ast.ImportFrom
        scope_types = _SCOPE_TYPES
        node_t = ast.AST
        stack: list[tuple[Any, Any, bool, str]] = [(self.tree, self.tree, False, "")]
        pop, push = stack.pop, stack.append
        while stack:
            node, scope, inside, top = pop()
            cls = node.__class__
            if cls is call_t:
                calls.append((node, scope))
                if not inside:
                    self._called_at_module(node)
            elif cls is name_t and inside and node.ctx.__class__ is load_t:
                named.add(node.id)
            elif cls is attr_t and inside:
                named.add(node.attr)
            elif cls is import_t or cls is from_t:
                self._add_import(node)
            if cls in scope_types:
                scope, inside, top = self._enter(node, scope, inside, top)
            fields = _FIELDS.get(cls)
            if fields is None:
                fields = _fields_of(cls)
            for field_name in fields:
                value = getattr(node, field_name, None)
                if value.__class__ is list:
                    for item in value:
                        if isinstance(item, node_t):
                            push((item, scope, inside, top))
                elif isinstance(value, node_t):
                    push((value, scope, inside, top))

    def _called_at_module(self, call: ast.Call) -> None:
        name = dotted(call.func)
        if name is not None:
            self.called_at_module.add(name.rsplit(".", 1)[-1])

    def _add_import(self, node: ast.Import | ast.ImportFrom) -> None:
        imports = self.imports
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    imports[alias.asname] = alias.name
                else:
                    first = alias.name.split(".")[0]
                    imports.setdefault(first, first)
            return
        mod = ("." * node.level) + (node.module or "")
        sep = "" if mod.endswith(".") else "."
        for alias in node.names:
            if alias.name != "*":
                imports[alias.asname or alias.name] = f"{mod}{sep}{alias.name}"

    def _enter(self, node: Any, scope: Any, inside: bool, top: str) -> tuple[Any, bool, str]:
        """The index steps into a function, lambda or class: its scope, inside-ness, top name."""
        cls = node.__class__
        if cls in _FUNC_TYPES:
            if not top and cls is not ast.Lambda:
                if scope is self.tree:
                    top = node.name
                elif scope.__class__ is ast.ClassDef:
                    top = f"{scope.name}.{node.name}"
            self._top[id(node)] = top
            inside = True
        return node, inside, top

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
        self.by_node[id(node)] = facts
        for deco in node.decorator_list:
            target = deco.func if isinstance(deco, ast.Call) else deco
            if isinstance(target, ast.Attribute) and target.attr in ROUTE_DECORATORS:
                facts.is_route = True
        self.functions[qualname] = facts

    # ---- lifetime of the syntax tree ------------------------------------------------------
    def release(self) -> None:
        """Drop the syntax tree (the project pass re-parses on demand): keeps memory flat."""
        self.tree = None  # type: ignore[assignment]
        self.calls = []
        self._top.clear()
        self.by_node.clear()
        self._locals_cache.clear()
        self._with_parents.clear()
        self._values = None
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
            link_parents(scope)

    # ---- questions about names ------------------------------------------------------------
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

    def top_of(self, node: ast.AST) -> str | None:
        """The top-level function (or ``Class.method``) name recorded for a function or lambda."""
        return self._top.get(id(node))

    def top_function(self, node: ast.AST) -> str:
        """The top-level function (or ``Class.method``) ``node`` is in, "" at module level."""
        cur: ast.AST | None = node
        while cur is not None:
            top = self._top.get(id(cur))
            if top is not None:
                return top
            cur = parent(cur)
        return ""

    def is_module_name(self, name: str, scope: ast.AST) -> bool:
        """``name`` read in ``scope`` is the module's (declared global, or not a local)."""
        if name in globals_of(scope):
            return True
        if name in self.local_names(scope):
            return False
        return name in self.module_names

    def local_names(self, scope: ast.AST) -> frozenset[str]:
        """The parameters and assigned names of a function, minus its globals."""
        key = id(scope)
        cached = self._locals_cache.get(key)
        if cached is None:
            names: set[str] = set()
            if isinstance(scope, (*FUNCS, ast.Lambda)):
                a = scope.args
                for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
                    if arg is not None:
                        names.add(arg.arg)
            for node in walk_scope(scope):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
            # the difference once per scope (a copy per question was quadratic in a long function)
            cached = frozenset(names - globals_of(scope))
            self._locals_cache[key] = cached
        return cached

    def evicted(self, name: str) -> bool:
        """Something in the module removes entries of the container ``name`` (pop, del, ...)."""
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

    def values_of(self, name: str) -> list[ast.Call]:
        """Calls assigned to ``name`` anywhere in the module (``x = f()``, ``with f() as x``)."""
        if self._values is None:
            self._values = {}
            for sub in ast.walk(self.tree):
                for target, value in bindings(sub):
                    key = dotted(target)
                    if key is not None and isinstance(value, ast.Call):
                        self._values.setdefault(key, []).append(value)
        return self._values.get(name, [])

    def called_only_at_module_scope(self, name: str) -> bool:
        called_in_module = called_in_function = False
        for node, scope in self.calls:
            if isinstance(node.func, ast.Name) and node.func.id == name:
                if isinstance(scope, ast.Module):
                    called_in_module = True
                else:
                    called_in_function = True
        return called_in_module and not called_in_function

    # ---- what the rules record ------------------------------------------------------------
    def add_finding(self, node: ast.AST, code: str, call: str, name: str = "") -> None:
        self.findings.append(
            RawFinding(
                getattr(node, "lineno", 1),
                getattr(node, "col_offset", 0),
                code,
                call,
                name,
                self.top_function(node),
            )
        )

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
        for node in walk_scope(facts.node):
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
                if name is None or under_module_test(self, node, facts.node):
                    continue
                facts.calls.append((name, node.lineno))
        return facts.calls
