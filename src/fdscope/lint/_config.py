"""``[tool.fdscope.lint]`` in pyproject.toml: which rules run, where handlers are, what is skipped."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fdscope.lint._errors import LintConfigError
from fdscope.lint._rules import RULES

DEFAULT_HANDLER_NAMES = ("handler", "lambda_handler")
DEFAULT_EXCLUDE = (
    ".git",
    ".hg",
    ".venv",
    "venv",
    ".tox",
    ".nox",
    "node_modules",
    "__pycache__",
    ".aws-sam",
    "cdk.out",
    "build",
    "dist",
    "site-packages",
    ".mypy_cache",
    ".ruff_cache",
    ".eggs",
)


@dataclass(frozen=True, slots=True)
class Config:
    """Lint settings; ``enable`` empty means every rule. Codes may be prefixes (``FDS2``)."""

    enable: tuple[str, ...] = ()
    disable: tuple[str, ...] = ()
    handlers: tuple[str, ...] = ()
    handler_names: tuple[str, ...] = DEFAULT_HANDLER_NAMES
    exclude: tuple[str, ...] = ()
    follow_depth: int = 3
    source: Path | None = field(default=None, compare=False)

    def selected(self, code: str) -> bool:
        """Whether a rule code is switched on."""
        if self.enable and not any(code.startswith(p) for p in self.enable):
            return False
        return not any(code.startswith(p) for p in self.disable)

    def with_overrides(self, **kw: Any) -> Config:
        """A copy with the given fields replaced (None values ignored)."""
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            text = path.read_text(encoding="utf-8", errors="replace")
            if "[tool.fdscope.lint]" in text:
                raise LintConfigError(
                    f"{path}: reading [tool.fdscope.lint] on Python 3.10 needs 'tomli' installed"
                ) from None
            return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, ValueError) as exc:
        raise LintConfigError(f"{path}: {exc}") from exc


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above ``start``, or None."""
    try:
        start = start.resolve()
    except (OSError, RuntimeError):  # a symbolic link loop: look from where it sits
        start = Path(os.path.abspath(start)).parent
    for d in [start, *start.parents] if start.is_dir() else list(start.parents):
        candidate = d / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _codes(value: Any, key: str, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LintConfigError(f"{path}: [tool.fdscope.lint] {key} must be a list of rule codes")
    for v in value:
        if not any(code.startswith(v.upper()) for code in RULES):
            raise LintConfigError(f"{path}: [tool.fdscope.lint] {key}: unknown rule code {v!r}")
    return tuple(v.upper() for v in value)


def _strings(value: Any, key: str, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LintConfigError(f"{path}: [tool.fdscope.lint] {key} must be a list of strings")
    return tuple(value)


def load_config(pyproject: Path | None) -> Config:
    """Read ``[tool.fdscope.lint]``; a missing file or table gives the defaults.

    Raises LintConfigError on a malformed table or unknown key.
    """
    if pyproject is None:
        return Config()
    table = _load_toml(pyproject).get("tool", {}).get("fdscope", {}).get("lint", {})
    if not isinstance(table, dict):
        raise LintConfigError(f"{pyproject}: [tool.fdscope.lint] must be a table")
    kw: dict[str, Any] = {"source": pyproject}
    for key, value in table.items():
        norm = key.replace("-", "_")
        if norm in ("enable", "select"):
            kw["enable"] = _codes(value, key, pyproject)
        elif norm in ("disable", "ignore"):
            kw["disable"] = _codes(value, key, pyproject)
        elif norm in ("handlers", "handler_names", "exclude"):
            kw[norm] = _strings(value, key, pyproject)
        elif norm == "follow_depth":
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10:
                raise LintConfigError(f"{pyproject}: follow-depth must be an integer 0-10")
            kw[norm] = value
        else:
            raise LintConfigError(f"{pyproject}: [tool.fdscope.lint] unknown key {key!r}")
    return Config(**kw)
