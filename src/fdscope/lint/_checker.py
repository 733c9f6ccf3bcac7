"""The checker of one module: the leak rules over every call and every lifespan function.

How the parts fit, in the order a module goes through them:

- ``_facts``: :class:`~fdscope.lint._facts.Module` indexes the syntax tree in one pass (imports,
  module-level names and bindings, functions, every call with its scope) and holds what the
  rules find;
- ``_resources``: what a call creates (its :class:`~fdscope.lint._specs.Spec`), if anything;
- ``_flow``: where the created value goes (closed, handed on, managed, kept in module state);
- ``_guards``: whether a creation runs only once (lazy initialisation, caches);
- ``_decisions``: which finding that adds up to, and which creations count per invocation;
- ``_syntax``: the syntax-tree helpers they share.

The project pass (``_project``) parses each file, calls :func:`check`, and then follows
handlers through the per-invocation creations.
"""

from __future__ import annotations

from fdscope.lint._decisions import check_call, check_lifespan, is_lifespan
from fdscope.lint._facts import Module


def check(m: Module) -> None:
    """Run the leak rules over every function body; collect per-invocation facts."""
    for call, scope in m.calls:
        check_call(m, call, scope)
    for facts in m.functions.values():
        if is_lifespan(facts.node, m):
            m.ensure_parents(facts.node)
            check_lifespan(m, facts.node)
