"""Syntax-tree helpers shared by the checker's modules: parents, dotted names, one function's
own nodes, and small questions about a node's place (iterated, in a ``finally``, ...)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
# wrappers a value passes through unchanged: ``await make()``, ``*make()``
TRANSPARENT = (ast.Await, ast.Starred)


def link_parents(tree: ast.AST) -> None:
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


def enclosing(node: ast.AST) -> ast.AST | None:
    """The function, lambda, class or module ``node`` is in (parents must be linked)."""
    cur = parent(node)
    while cur is not None and not isinstance(cur, (*SCOPES, ast.Module)):
        cur = parent(cur)
    return cur


def walk_scope(scope: ast.AST) -> Iterator[ast.AST]:
    """Nodes of a function body, not descending into nested functions, lambdas or classes."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def globals_of(scope: ast.AST) -> set[str]:
    """Names a function declares ``global`` or ``nonlocal`` (cached on the node)."""
    cached = getattr(scope, "_fds_globals", None)
    if cached is None:
        cached = set()
        if isinstance(scope, FUNCS):
            for node in walk_scope(scope):
                if isinstance(node, (ast.Global, ast.Nonlocal)):
                    cached.update(node.names)
        scope._fds_globals = cached  # type: ignore[attr-defined]
    return cached


def bindings(node: ast.AST) -> list[tuple[ast.AST, ast.AST]]:
    """(target, value) pairs ``node`` binds: ``x = v``, ``x: T = v``, ``with v as x``."""
    if isinstance(node, ast.Assign):
        return [(t, node.value) for t in node.targets]
    if isinstance(node, ast.AnnAssign):
        return [(node.target, node.value)] if node.value is not None else []
    if isinstance(node, ast.withitem) and node.optional_vars is not None:
        return [(node.optional_vars, node.context_expr)]
    return []


def exits(body: list[ast.stmt]) -> bool:
    """A block that ends in ``return`` or ``raise``."""
    return bool(body) and isinstance(body[-1], (ast.Return, ast.Raise))


def iterated(node: ast.AST) -> bool:
    """``node`` is what a ``for`` loop or a comprehension iterates over."""
    up = parent(node)
    return isinstance(up, (ast.For, ast.AsyncFor, ast.comprehension)) and up.iter is node


def in_finally(node: ast.AST, scope: ast.AST) -> bool:
    """``node`` is in the ``finally`` block of a ``try`` inside ``scope``."""
    cur, prev = parent(node), node
    while cur is not None and cur is not scope:
        if isinstance(cur, ast.Try) and any(prev is s for s in cur.finalbody):
            return True
        if isinstance(cur, (ast.With, ast.AsyncWith)) and prev in cur.body:
            pass
        prev, cur = cur, parent(cur)
    return False


def catches_key_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return False
    text = ast.unparse(handler.type)
    return "KeyError" in text or "LookupError" in text


def kw_true(call: ast.Call, name: str) -> bool:
    """``name=True`` among the call's keywords."""
    return any(
        k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )
