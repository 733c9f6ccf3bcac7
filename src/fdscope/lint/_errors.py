"""Errors of the static checker (subclasses of :class:`fdscope.errors.LintError`)."""

from __future__ import annotations

from fdscope.errors import LintError


class LintConfigError(LintError):
    """``[tool.fdscope.lint]`` or a command-line setting is malformed."""


class HandlerNotFound(LintError):
    """A handler named with ``--handler`` (or in the configuration) matches no file."""
