"""tree-sitter's published grammars (the ``lint-js`` extra), loaded once, and the syntax helpers."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from fdscope._extras import extra

JS_SUFFIXES = (".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx")
_TS = (".ts", ".mts", ".cts")

Node = Any  # tree_sitter.Node (the extra may be absent: no import at module level)

FUNCTIONS = frozenset(
    {
        "function_declaration",
        "function_expression",
        "function",
        "arrow_function",
        "method_definition",
        "generator_function_declaration",
        "generator_function",
    }
)


@lru_cache(maxsize=4)
def parser_for(suffix: str) -> Any:
    """A tree-sitter parser for a file suffix (TypeScript, TSX or JavaScript with JSX)."""
    with extra("lint-js", "linting JavaScript and TypeScript"):
        import tree_sitter
        import tree_sitter_javascript
        import tree_sitter_typescript
    if suffix in _TS:
        lang = tree_sitter_typescript.language_typescript()
    elif suffix == ".tsx":
        lang = tree_sitter_typescript.language_tsx()
    else:
        lang = tree_sitter_javascript.language()
    return tree_sitter.Parser(tree_sitter.Language(lang))


def available() -> bool:
    """Whether the grammars import (the extra is installed)."""
    try:
        parser_for(".js")
    except Exception:  # noqa: BLE001 - MissingExtra or a broken install: not available
        return False
    return True


def text(node: Node) -> str:
    return node.text.decode("utf-8", "replace") if node is not None else ""


def string_value(node: Node) -> str | None:
    """The value of a string literal (or a template without substitutions)."""
    if node is None:
        return None
    if node.type == "string":
        return "".join(text(c) for c in node.named_children)
    if node.type == "template_string" and not any(
        c.type == "template_substitution" for c in node.named_children
    ):
        return text(node)[1:-1]
    return None


def unwrap(node: Node) -> Node:
    """Through ``await``, parentheses, TypeScript ``as``/``!``/``satisfies``."""
    while node is not None and node.type in (
        "await_expression",
        "parenthesized_expression",
        "as_expression",
        "non_null_expression",
        "satisfies_expression",
        "type_assertion",
    ):
        kids = node.named_children
        if not kids:
            break
        node = kids[-1] if node.type == "type_assertion" else kids[0]
    return node


def up(node: Node) -> Node:
    """The parent, climbed through ``await``/parentheses/TypeScript casts."""
    p = node.parent
    while p is not None and p.type in (
        "await_expression",
        "parenthesized_expression",
        "as_expression",
        "non_null_expression",
        "satisfies_expression",
        "type_assertion",
    ):
        p = p.parent
    return p


def dotted(node: Node) -> str | None:
    """``a.b.c`` for identifiers and member chains (``this`` included), else None."""
    node = unwrap(node)
    if node is None:
        return None
    t = node.type
    if t in ("identifier", "this", "property_identifier", "shorthand_property_identifier"):
        return text(node)
    if t == "member_expression":
        obj = dotted(node.child_by_field_name("object"))
        prop = node.child_by_field_name("property")
        if obj is None or prop is None:
            return None
        return f"{obj}.{text(prop)}"
    if t == "subscript_expression":
        obj = dotted(node.child_by_field_name("object"))
        key = string_value(node.child_by_field_name("index"))
        return f"{obj}.{key}" if obj is not None and key is not None else None
    return None


def params(fn: Node) -> list[str]:
    """Parameter names of a function node (patterns and TypeScript types read through)."""
    ps = fn.child_by_field_name("parameters") or fn.child_by_field_name("parameter")
    if ps is None:
        return []
    if ps.type == "identifier":
        return [text(ps)]
    out: list[str] = []
    for p in ps.named_children:
        if p.type in ("required_parameter", "optional_parameter"):
            p = p.child_by_field_name("pattern") or p
        if p.type == "assignment_pattern":
            p = p.child_by_field_name("left") or p
        out.append(text(p) if p.type == "identifier" else "")
    return out


def walk(node: Node) -> Iterator[Node]:
    """Every node under ``node`` (itself first), depth first, in source order."""
    cursor = node.walk()  # rooted at node: never climbs above it
    while True:
        yield cursor.node
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return


def inside(node: Node, scope: Node) -> Iterator[Node]:
    """Ancestors of ``node`` up to (not including) ``scope``."""
    p = node.parent
    while p is not None and p != scope:
        yield p
        p = p.parent


def first_error(root: Node) -> Node | None:
    """The first ERROR or MISSING node of a tree that has errors."""
    for n in walk(root):
        if n.is_error or n.is_missing:
            return n
    return None
