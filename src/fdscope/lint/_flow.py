"""Where a created value goes: followed through the local name it is stored in (closed, on
which paths, handed on, managed by ``with``, started, read) or into module state (kept)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fdscope.lint._guards import guard_clause, guarded
from fdscope.lint._specs import (
    FD_TAKERS,
    KEEPERS,
    MANAGER_METHODS,
    MANAGERS,
    NON_OWNING,
    STREAM,
    STREAM_READERS,
    Spec,
)
from fdscope.lint._syntax import (
    FUNCS,
    TRANSPARENT,
    dotted,
    enclosing,
    globals_of,
    in_finally,
    iterated,
    parent,
    walk_scope,
)

if TYPE_CHECKING:
    from fdscope.lint._facts import Module

# connections whose ``with`` block ends a transaction and leaves the connection open
COMMIT_ONLY = frozenset({"sqlite3.connect", "psycopg2.connect"})
# wrappers that only iterate their argument when looped over: ``for n, x in enumerate(f)``
_ITERATORS = frozenset({"enumerate", "zip", "reversed", "sorted", "itertools.islice"})
# methods that run once per object, like __init__
_SETUP_METHODS = frozenset({"setUp", "setUpClass", "setup", "setup_method", "asyncSetUp"})
# module attributes that are per-request state, not module state
_REQUEST_STATE = ("flask.g.", "quart.g.")
# parents where a name is only tested or shown, not handed on
_LOOKS = (
    ast.Compare,
    ast.BoolOp,
    ast.UnaryOp,
    ast.If,
    ast.While,
    ast.IfExp,
    ast.Assert,
    ast.JoinedStr,
    ast.FormattedValue,
)


@dataclass(slots=True)
class Usage:
    """What the uses of a local name did with the value created into it."""

    closed: bool = False
    closed_finally: bool = False  # a close in a ``finally`` (or a cleanup callback)
    closed_always: bool = False  # a close() on every path (else: each one is on a branch)
    branches: set[tuple[int, str]] = field(default_factory=set)  # (id of the if, body/orelse)
    first_close: int | None = None  # line of the first close()
    managed: bool = False  # a ``with`` block or a context manager helper owns it
    escaped: bool = False  # handed on, returned, stored: no longer this function's to close
    started: bool = False
    start_node: ast.AST | None = None
    read: bool = False
    body_read: bool = False  # a get_object() response's ["Body"] is read or closed
    commit_with: bool = False  # ``with conn:`` of a connection that it does not close
    kept: str | None = None  # the module state (or atexit) that keeps it alive


def follow(
    m: Module, call: ast.Call, name: str, spec: Spec, scope: ast.FunctionDef | ast.AsyncFunctionDef
) -> Usage:
    """Follow every use of ``name`` in ``scope``, where ``call`` stored what it created."""
    return _Follow(m, call, name, spec, scope).run()


class _Follow:
    def __init__(
        self,
        m: Module,
        call: ast.Call,
        name: str,
        spec: Spec,
        scope: ast.FunctionDef | ast.AsyncFunctionDef,
    ) -> None:
        self.m = m
        self.call = call
        self.name = name
        self.spec = spec
        self.scope = scope
        self.use = Usage()

    def run(self) -> Usage:
        use = self.use
        for node, inner in uses(self.name, self.scope):
            if inner:
                k = closure_kept(self.m, enclosing(node), self.scope)
                if k is not None:
                    use.kept = k
                else:
                    use.escaped = True
                continue
            climbed = self._climb(node)
            if climbed is not None:
                self._place(*climbed)
        return use

    def _climb(self, node: ast.AST) -> tuple[ast.AST, ast.AST | None] | None:
        """Up through ``await``, ``*`` and subscripts; None for ``obj["ContentLength"]`` (a
        value read from the resource, not the resource)."""
        cur: ast.AST = node
        up = parent(cur)
        while isinstance(up, TRANSPARENT) or (isinstance(up, ast.Subscript) and cur is up.value):
            if isinstance(up, ast.Subscript) and self.spec is STREAM:
                key = up.slice
                if not (isinstance(key, ast.Constant) and key.value == "Body"):
                    return None
                nxt = parent(up)
                if not (isinstance(nxt, ast.Attribute) and nxt.attr not in STREAM_READERS):
                    self.use.body_read = True
            cur, up = up, parent(up)
        return cur, up

    def _place(self, cur: ast.AST, up: ast.AST | None) -> None:
        """One use, by what it is a part of."""
        use = self.use
        if isinstance(up, ast.Attribute) and cur is up.value:
            self._attribute(up)
        elif isinstance(up, ast.withitem):
            if self.spec.label in COMMIT_ONLY:
                use.commit_with = True  # ``with conn:`` ends a transaction, it does not close
            else:
                use.managed = True
        elif isinstance(up, ast.Call) and cur is not up.func:
            self._argument(up)
        elif isinstance(up, ast.keyword):
            use.escaped = True
        elif isinstance(up, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and cur is up.value:
            targets = up.targets if isinstance(up, ast.Assign) else [up.target]
            for target in targets:
                k = module_target(self.m, target, self.scope)
                if k is not None and not guarded(up, self.scope, k):
                    use.kept = k
                else:
                    use.escaped = True
        elif iterated(cur) or isinstance(up, _LOOKS):
            pass  # for line in f: reads it; if f: / f"{f}": looks at it
        else:
            use.escaped = True  # returned, yielded, put in a literal, ...

    def _attribute(self, up: ast.Attribute) -> None:
        """``name.attr``: a close, a start, a read, or a hand-over."""
        use = self.use
        attr = up.attr
        call_up = parent(up)
        if attr in self.spec.closers:
            if isinstance(call_up, ast.Call) and up is call_up.func:
                self._closed_by(up)
            elif isinstance(call_up, ast.Call):
                q = self.m.qualify(call_up.func) or ""
                if q == "atexit.register":
                    use.kept = "atexit.register()"
                else:
                    use.closed = use.closed_finally = True  # a callback that runs at cleanup
            else:
                use.escaped = True
        elif attr == "start":
            use.started = True
            use.start_node = use.start_node or up
        elif attr in STREAM_READERS:
            use.read = True
        elif attr in ("detach", "__enter__", "__aenter__"):
            use.escaped = True
        elif isinstance(call_up, ast.Call) and up is call_up.func and derived_by(attr):
            # ``resource.Table(name)``, ``session.get(url)``: a value that holds the resource
            k = kept_result(self.m, call_up, self.scope)
            if k is not None:
                use.kept = f"{k} (through .{attr}())"

    def _closed_by(self, up: ast.Attribute) -> None:
        """``name.close()``: in a finally? on one branch only? on which line?"""
        use = self.use
        use.closed = True
        use.closed_finally = use.closed_finally or in_finally(up, self.scope)
        branch = only_on_branch(up, self.call, self.name, self.scope)
        if branch is None:
            use.closed_always = True
        else:
            use.branches.add(branch)
        line = getattr(up, "lineno", 0)
        use.first_close = line if use.first_close is None else min(use.first_close, line)

    def _argument(self, up: ast.Call) -> None:
        """``f(name)``: managed, closed by an fd taker, kept, only looked at, or handed on."""
        use = self.use
        callee = self.m.qualify(up.func) or ""
        short = callee.rsplit(".", 1)[-1]
        if callee in MANAGERS or short in MANAGER_METHODS:
            use.managed = True
        elif self.spec.rule == "FDS103" and callee in FD_TAKERS:
            use.closed = use.closed_finally = True
        elif (k := keeper(self.m, up, self.scope)) is not None:
            use.kept = k
        elif wrapper(self.m, up) and (k := kept_result(self.m, up, self.scope)) is not None:
            use.kept = f"{k} (through {short}())"  # csv.reader(f), a class holding it
        elif callee in NON_OWNING or (self.spec.rule == "FDS103" and callee.startswith("os.")):
            pass
        elif callee in _ITERATORS and iterated(up):
            pass  # for n, line in enumerate(f): reads it, keeps nothing
        else:
            use.escaped = True


def uses(name: str, scope: ast.AST) -> Iterator[tuple[ast.AST, bool]]:
    """Loads of ``name`` in ``scope`` (climbed through subscripts): (node, inside a closure)."""
    # one walk per scope, indexed by name and cached on the node: a walk per resource was
    # quadratic in a long function (lint at scale, issue 15)
    index: dict[str, list[ast.Name]] | None = getattr(scope, "_fds_loads", None)
    if index is None:
        index = {}
        for node in ast.walk(scope):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                index.setdefault(node.id, []).append(node)
        scope._fds_loads = index  # type: ignore[attr-defined]
    for node in index.get(name, ()):
        yield node, enclosing(node) is not scope


def sequence_handled(m: Module, name: str, scope: ast.AST) -> bool:
    """``fds = os.pipe()``: closed when os.close(fds[i]), or the whole pair handed on."""
    closed = escaped = False
    for node, _inner in uses(name, scope):
        cur: ast.AST = node
        up = parent(cur)
        if isinstance(up, ast.Subscript):
            cur, up = up, parent(up)
        if isinstance(up, ast.Call) and cur is not up.func:
            callee = m.qualify(up.func) or ""
            if callee in FD_TAKERS:
                closed = True
            elif not (callee in NON_OWNING or callee.startswith("os.")):
                escaped = True
        elif isinstance(up, (ast.Return, ast.Assign, ast.Yield, ast.For, ast.comprehension)):
            escaped = True
    return closed or escaped


def early_exit(call: ast.expr, close_line: int | None, scope: ast.AST) -> int | None:
    """The first ``return``/``raise`` between the creation and the first close, if any."""
    if close_line is None:
        return None
    start = call.end_lineno or call.lineno
    lines = [
        node.lineno
        for node in walk_scope(scope)
        if isinstance(node, (ast.Return, ast.Raise)) and start < node.lineno < close_line
    ]
    return min(lines) if lines else None


def only_on_branch(
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


# ---- into module state -----------------------------------------------------------------
def module_target(m: Module, target: ast.AST, scope: ast.AST) -> str | None:
    """The module-level state a store target writes into, or None."""
    if isinstance(target, ast.Name):
        if target.id in globals_of(scope):
            return f"global {target.id}"
        return None
    if isinstance(target, (ast.Subscript, ast.Attribute)):
        base = target.value
        while isinstance(base, (ast.Subscript, ast.Attribute)):
            base = base.value
        if isinstance(base, ast.Name) and m.is_module_name(base.id, scope):
            if isinstance(target, ast.Attribute) and base.id in m.imports:
                if (m.qualify(target) or "").startswith(_REQUEST_STATE):
                    return None  # flask.g lives for one request (its teardown closes it)
                return f"module attribute {dotted(target)}"
            if isinstance(target, ast.Subscript):
                if m.evicted(base.id) or bounded(m, target, base.id, scope):
                    return None
                return f"module-level cache {base.id}[...] (no eviction)"
            if isinstance(target, ast.Attribute) and base.id in globals_of(scope):
                return f"global {dotted(target)}"
    return None


def keeper(m: Module, call: ast.Call, scope: ast.AST) -> str | None:
    """``CACHE.append(x)`` on module state, ``atexit.register(...)``: who keeps the argument."""
    qual = m.qualify(call.func) or ""
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
            and m.is_module_name(base.id, scope)
            and base.id not in m.imports
            and not m.evicted(base.id)
            and not bounded(m, call, base.id, scope)
        ):
            return f"module-level {dotted(func.value) or base.id}"
    return None


# methods whose result holds the object they are called on: a boto3 sub-resource
# (``resource.Table(name)``, ``s3.Bucket(b)``), an HTTP session's response, a cursor
_DERIVING = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "request", "send", "stream"}
    | {"cursor", "makefile", "get_paginator", "get_waiter"}
)
# wrappers that keep the object they are given: ``csv.reader(f)``, ``io.TextIOWrapper(raw)``
_WRAPPERS = frozenset(
    {
        "csv.reader",
        "csv.writer",
        "csv.DictReader",
        "csv.DictWriter",
        "io.TextIOWrapper",
        "io.BufferedReader",
        "io.BufferedWriter",
        "io.BufferedRandom",
        "io.BufferedRWPair",
        "gzip.GzipFile",
        "bz2.BZ2File",
        "lzma.LZMAFile",
        "zipfile.ZipFile",
        "tarfile.TarFile",
        "codecs.StreamReader",
        "codecs.StreamWriter",
        "contextlib.closing",
    }
)


def derived_by(attr: str) -> bool:
    """A method whose result holds its receiver (see ``_DERIVING``; capitalised: boto3)."""
    return attr in _DERIVING or attr[:1].isupper()


def wrapper(m: Module, call: ast.Call) -> bool:
    """A call that wraps its argument and keeps it: a known wrapper or a class of the module."""
    callee = m.qualify(call.func) or ""
    if callee in _WRAPPERS:
        return True
    name = dotted(call.func) or ""
    return any(isinstance(s, ast.ClassDef) and s.name == name for s in m.tree.body)


def kept_result(m: Module, call: ast.Call, scope: ast.AST) -> str | None:
    """The module state that keeps what ``call`` returns: ``_kept.append(call)``,
    ``_cache[k] = call``, or a wrapper of it kept so."""
    node: ast.AST = call
    up = parent(node)
    while isinstance(up, TRANSPARENT):
        node, up = up, parent(up)
    if isinstance(up, ast.Call) and node is not up.func:
        k = keeper(m, up, scope)
        if k is None and wrapper(m, up):
            return kept_result(m, up, scope)
        return k
    if isinstance(up, ast.Assign) and node is up.value:
        for target in up.targets:
            k = None if isinstance(target, ast.Name) else module_target(m, target, scope)
            if k is not None and not guarded(up, scope, k):
                return k
    return None


def bounded(m: Module, node: ast.AST, name: str, scope: ast.AST) -> bool:
    """A container that cannot grow past a size: made with ``maxsize=``/``maxlen=``
    (``cachetools.LRUCache(maxsize=8)``, ``deque(maxlen=8)``), or filled only under a test
    of its length (``if len(_cache) < 8:``, or ``if len(_cache) >= 8: return`` before)."""
    for value in m.values_of(name):
        for kw in value.keywords:
            if kw.arg in ("maxsize", "maxlen") and not (
                isinstance(kw.value, ast.Constant) and kw.value.value is None
            ):
                return True

    def sized(n: ast.AST) -> bool:
        return (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Name)
            and n.func.id == "len"
            and len(n.args) == 1
            and dotted(n.args[0]) == name
        )

    cur, prev = parent(node), node
    while cur is not None and cur is not scope:
        test = getattr(cur, "test", None)
        if (
            isinstance(cur, (ast.If, ast.While, ast.IfExp))
            and test is not None
            and prev is not test
            and any(sized(n) for n in ast.walk(test))
        ):
            return True
        prev, cur = cur, parent(cur)
    return guard_clause(node, scope, sized)


def closure_kept(m: Module, closure: ast.AST | None, scope: ast.AST) -> str | None:
    """A nested function/lambda that is stored into module state or registered at exit."""
    if closure is None:
        return None
    up = parent(closure)
    if isinstance(closure, ast.Lambda):
        if isinstance(up, ast.Call):
            return keeper(m, up, scope)
        if isinstance(up, ast.Assign):
            for t in up.targets:
                k = module_target(m, t, scope)
                if k is not None:
                    return k
        return None
    if isinstance(closure, FUNCS):
        for node, _inner in uses(closure.name, scope):
            p = parent(node)
            if isinstance(p, ast.Call) and node is not p.func:
                k = keeper(m, p, scope)
                if k is not None:
                    return k
        for deco in closure.decorator_list:
            if (m.qualify(deco) or "") == "atexit.register":
                return "atexit.register()"
    return None


def replaced_on_self(
    m: Module, target: ast.Attribute, spec: Spec, scope: ast.FunctionDef | ast.AsyncFunctionDef
) -> bool:
    """``self.out = open(p)`` in a method (not ``__init__``) of a class that never closes,
    hands on or returns ``self.out``: every call leaves the previous one open."""
    args = scope.args.posonlyargs + scope.args.args
    if not args or scope.name in _SETUP_METHODS or scope.name.startswith("__"):
        return False
    me = args[0].arg
    if not (isinstance(target.value, ast.Name) and target.value.id == me):
        return False
    top = m.top_of(scope) or ""
    cls_name = top.split(".")[0] if "." in top else ""
    cls = next(
        (c for c in m.tree.body if isinstance(c, ast.ClassDef) and c.name == cls_name),
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
