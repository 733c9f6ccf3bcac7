"""Static checker for descriptor leaks and per-invocation initialisation (no code is run).

``lint(paths)`` (or ``lint_source(text)`` for one module) returns a :class:`LintResult` of :class:`Finding` objects; the reporters
``to_text``, ``to_json`` and ``to_sarif`` format it; ``RULES`` is the rule table.
"""

from __future__ import annotations

from fdscope.lint._config import Config, find_pyproject, load_config
from fdscope.lint._errors import HandlerNotFound, LintConfigError
from fdscope.lint._project import Finding, LintResult, lint, lint_source
from fdscope.lint._report import to_json, to_sarif, to_text
from fdscope.lint._rules import RULES, Rule

__all__ = [
    "Config",
    "Finding",
    "HandlerNotFound",
    "LintConfigError",
    "LintResult",
    "RULES",
    "Rule",
    "find_pyproject",
    "lint",
    "lint_source",
    "load_config",
    "to_json",
    "to_sarif",
    "to_text",
]
