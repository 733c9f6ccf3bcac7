"""pytest plugin: fail tests that leak descriptors (registered via the pytest11 entry point).

Inert unless ``--fd-leaks=warn|fail`` (or the ``fd_leaks`` ini option) turns it on; it then
compares the process's open descriptors before setup and after teardown of every test by
identity, not number, and names each leaked handle with the line that created it.
Nothing heavy is imported when pytest loads it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MODES", "pytest_addoption", "pytest_configure"]

MODES = ("off", "warn", "fail")


def _mode(value: str) -> str:
    import argparse

    if value not in MODES:
        raise argparse.ArgumentTypeError(
            f"invalid choice: {value!r} (choose from {', '.join(map(repr, MODES))})"
        )
    return value


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("fdscope", "descriptor leaks (fdscope)")
    group.addoption(
        "--fd-leaks",
        dest="fd_leaks",
        metavar="{off,warn,fail}",
        type=_mode,
        default=None,
        help="Check every test for descriptors it opened and left open: warn, fail, or off "
        "(default: the fd_leaks ini option, else off).",
    )
    group.addoption(
        "--fd-leaks-ignore",
        dest="fd_leaks_ignore",
        action="append",
        default=[],
        metavar="PATTERN",
        help="Ignore leaked handles matching kind:GLOB, path:GLOB or endpoint:GLOB (repeatable).",
    )
    parser.addini("fd_leaks", "Descriptor leak check: off, warn or fail.", default="off")
    parser.addini(
        "fd_leaks_ignore",
        "Leaked handles to ignore, one kind:GLOB / path:GLOB / endpoint:GLOB per line.",
        type="linelist",
        default=[],
    )


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers",
        "fd_leaks(mode=None, ignore=()): per-test override of --fd-leaks and extra ignore patterns",
    )
    mode = config.getoption("fd_leaks")
    if mode is None:
        mode = str(config.getini("fd_leaks") or "off").strip().lower()
        if mode not in MODES:
            import pytest

            raise pytest.UsageError(f"fd_leaks ini option: {mode!r} is not one of {MODES}")
    if mode == "off":
        return
    _skip_assert_rewriting(config)
    from fdscope.pytest_plugin._plugin import FdLeakChecker, IgnorePatternError

    patterns = list(config.getini("fd_leaks_ignore")) + list(config.getoption("fd_leaks_ignore"))
    try:
        checker = FdLeakChecker(mode, patterns)
    except IgnorePatternError as exc:  # a usage error, like a bad --fd-leaks value
        import pytest

        raise pytest.UsageError(str(exc)) from None
    config.pluginmanager.register(checker, "fdscope-fd-leaks")


def _skip_assert_rewriting(config: Any) -> None:
    """pytest marks every module of a plugin's distribution for assertion rewriting; fdscope's
    runtime modules hold no test asserts, and rewriting them costs seconds at start-up."""
    state = getattr(config, "_assertstate", None)
    try:  # pytest >= 7 keeps it in the config stash; private, so every step may fail
        from _pytest.assertion.rewrite import assertstate_key

        state = config.stash.get(assertstate_key, state)
    except (ImportError, AttributeError):
        pass
    marked = getattr(getattr(state, "hook", None), "_must_rewrite", None)
    if isinstance(marked, set):
        marked.difference_update({n for n in marked if n == "fdscope" or n.startswith("fdscope.")})
