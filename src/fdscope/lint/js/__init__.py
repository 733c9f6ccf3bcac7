"""``fdscope lint`` for JavaScript and TypeScript (the ``lint-js`` extra: tree-sitter grammars).

``lint_js(files, ...)`` parses ``.js .mjs .cjs .jsx .ts .mts .cts .tsx`` files, finds the Lambda
handlers (exports named like handlers, templates' Node functions, CDK ``NodejsFunction``
entries, ``--handler``), follows them through calls and local ``require``/``import``, and
returns :class:`~fdscope.lint._project.Finding` objects with the same codes, messages and
chains as for Python. Suppression: ``// fdscope-ignore FDS103`` (or ``// noqa: FDS103``) on
the finding's line, ``// fdscope-ignore-next-line FDS103`` on the line before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fdscope.lint.js._parse import JS_SUFFIXES, available

if TYPE_CHECKING:
    from fdscope.lint.js._project import JsResult


def lint_js(*args: Any, **kw: Any) -> JsResult:
    """See :func:`fdscope.lint.js._project.lint_js` (imported here lazily: fdscope.lint._project
    imports this package for its suffixes)."""
    from fdscope.lint.js._project import lint_js as run

    return run(*args, **kw)


__all__ = ["JS_SUFFIXES", "available", "lint_js"]
