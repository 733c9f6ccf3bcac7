"""Does a creation run once? Lazy initialisation and the tests that guard it: ``if _c is None``,
``global _c; if _c: return _c``, a ``KeyError`` handler, ``@lru_cache``, a handler check before
``addHandler``."""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import TYPE_CHECKING

from fdscope.lint._specs import CACHE_DECORATORS, Spec
from fdscope.lint._syntax import catches_key_error, dotted, exits, globals_of, parent, walk_scope

if TYPE_CHECKING:
    from fdscope.lint._facts import Module


def guarded(node: ast.AST, scope: ast.AST, keeper: str) -> bool:
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
        if isinstance(cur, ast.ExceptHandler) and catches_key_error(cur):
            return True
        if (
            isinstance(cur, ast.BoolOp)
            and isinstance(cur.op, ast.Or)
            and any(isinstance(v, ast.Name) and v.id == name for v in cur.values)
        ):
            return True  # _x = _x or make()
        prev, cur = cur, parent(cur)
    return guard_clause(node, scope, lambda n: isinstance(n, ast.Name) and n.id == name)


def memo(node: ast.AST, scope: ast.AST, spec: Spec, keeper: str) -> bool:
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
        if isinstance(cur, ast.ExceptHandler) and catches_key_error(cur):
            return True
        prev, cur = cur, parent(cur)
    return False


def lazy(m: Module, call: ast.Call, scope: ast.AST) -> bool:
    """A creation done once: in a cached function, or under a test of module state."""
    for deco in getattr(scope, "decorator_list", ()):
        target = deco.func if isinstance(deco, ast.Call) else deco
        q = m.qualify(target) or ""
        if q in CACHE_DECORATORS or q.rsplit(".", 1)[-1] in ("cache", "lru_cache", "cached"):
            return True
    return under_module_test(m, call, scope)


def under_module_test(m: Module, node: ast.AST, scope: ast.AST) -> bool:
    """``node`` runs only when a test of module (or ``self._x``) state lets it: lazy init."""
    cur, prev = parent(node), node
    while cur is not None and cur is not scope:
        test = getattr(cur, "test", None)
        if (
            isinstance(cur, (ast.If, ast.IfExp))
            and test is not None
            and prev is not test
            and _tests_state(m, test, scope)
        ):
            return True
        if isinstance(cur, ast.ExceptHandler) and catches_key_error(cur):
            return True
        prev, cur = cur, parent(cur)
    # ``global _c; if _c: return _c`` before the creation, or ``try: _c.ping() except: _c = ...``
    names = globals_of(scope)
    return bool(names) and guard_clause(
        node, scope, lambda n: isinstance(n, ast.Name) and n.id in names
    )


def _tests_state(m: Module, test: ast.AST, scope: ast.AST) -> bool:
    """A test that reads a module-level variable or a private attribute of ``self``/``cls``."""
    for n in ast.walk(test):
        if (
            isinstance(n, ast.Name)
            and m.is_module_name(n.id, scope)
            and n.id not in m.imports
            and n.id not in m.functions
        ):
            return True
        if (
            isinstance(n, ast.Attribute)
            and n.attr.startswith("_")
            and (dotted(n) or "").startswith(("self.", "cls."))
        ):
            return True
    return False


def guard_clause(node: ast.AST, scope: ast.AST, names: Callable[[ast.AST], bool]) -> bool:
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
                    and exits(stmt.body)
                    and any(names(n) for n in ast.walk(stmt.test))
                ):
                    return True
        prev, cur = cur, parent(cur)
    return False


def handlers_guarded(m: Module, call: ast.Call, scope: ast.AST) -> bool:
    """An ``addHandler`` that cannot add a second handler when the function runs again."""
    func = call.func
    assert isinstance(func, ast.Attribute)
    # the same module-level handler object every call: logging ignores one already attached
    if (
        len(call.args) == 1
        and isinstance(call.args[0], ast.Name)
        and call.args[0].id not in m.imports
        and m.is_module_name(call.args[0].id, scope)
    ):
        return True
    if _removed_when_done(func, call, scope):
        return True
    if _per_call_logger(m, func, scope):
        # a new logger every call: a test of its handlers or a reset guards nothing; what
        # counts is a release when the run ends (a helper that removes and closes the
        # handlers, called in a ``finally:``)
        return _released_in_finally(m)
    cur = parent(call)
    while cur is not None and cur is not scope:
        if isinstance(cur, ast.If):
            text = ast.unparse(cur.test).lower()
            # logger.handlers, hasHandlers(), a _has_handler(lg) helper, a _configured flag
            if "handler" in text or "configured" in text:
                return True
            if under_module_test(m, call, scope):
                return True
        cur = parent(cur)
    # ``global _configured`` / ``if _configured: return`` before it
    names = globals_of(scope)
    if names and guard_clause(call, scope, lambda n: isinstance(n, ast.Name) and n.id in names):
        return True
    return _handlers_reset(func, call, scope)


def _handlers_reset(func: ast.Attribute, call: ast.Call, scope: ast.AST) -> bool:
    """Remove-all-then-add on the same logger before ``call``: the count stays at one."""
    receiver = ast.unparse(func.value)
    removers = {("removeHandler", receiver), ("clear", f"{receiver}.handlers")}
    for node in walk_scope(scope):
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


def _removed_when_done(func: ast.Attribute, call: ast.Call, scope: ast.AST) -> bool:
    """The same handler removed from the same logger in a ``finally:`` of this function (a
    context manager that adds a handler for one run, or add/try/finally-remove): one at a time."""
    if len(call.args) != 1:
        return False
    receiver, handler = ast.unparse(func.value), ast.unparse(call.args[0])
    for node in walk_scope(scope):
        if not isinstance(node, ast.Try):
            continue
        for stmt in node.finalbody:
            for n in ast.walk(stmt):
                if (
                    isinstance(n, ast.Call)
                    and isinstance(n.func, ast.Attribute)
                    and n.func.attr == "removeHandler"
                    and ast.unparse(n.func.value) == receiver
                    and [ast.unparse(a) for a in n.args] == [handler]
                ):
                    return True
    return False


def _per_call_logger(m: Module, func: ast.Attribute, scope: ast.AST) -> bool:
    """The receiver is ``logging.getLogger(<a name built from this call's values>)``, such as
    ``f"runs.{run_id}"`` or ``"t:" + run_id``: a logger per run, each new to ``logging``."""
    if not isinstance(func.value, ast.Name):
        return False
    receiver = func.value.id
    local = _locals_and_params(scope)
    for node in walk_scope(scope):
        if not (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == receiver for t in node.targets)
            and isinstance(node.value, ast.Call)
            and m.qualify(node.value.func) == "logging.getLogger"
            and len(node.value.args) == 1
        ):
            continue
        name = node.value.args[0]
        if isinstance(name, (ast.JoinedStr, ast.BinOp)) and any(
            isinstance(n, ast.Name) and n.id in local for n in ast.walk(name)
        ):
            return True
    return False


def _locals_and_params(scope: ast.AST) -> set[str]:
    names: set[str] = set()
    args = getattr(scope, "args", None)
    if isinstance(args, ast.arguments):
        for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
            if a is not None:
                names.add(a.arg)
    for node in walk_scope(scope):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _released_in_finally(m: Module) -> bool:
    """A module function that removes handlers and closes them, called in a ``finally:``."""
    releasers = set()
    for name, facts in m.functions.items():
        attrs = {
            n.func.attr
            for n in ast.walk(facts.node)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
        }
        if {"removeHandler", "close"} <= attrs:
            releasers.add(name.rsplit(".", 1)[-1])
    if not releasers:
        return False
    for node in ast.walk(m.tree):
        if isinstance(node, ast.Try):
            for stmt in node.finalbody:
                for n in ast.walk(stmt):
                    if (
                        isinstance(n, ast.Call)
                        and (dotted(n.func) or "").rsplit(".", 1)[-1] in releasers
                    ):
                        return True
    return False
