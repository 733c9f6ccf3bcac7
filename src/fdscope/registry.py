"""Which costly runtime parts are loaded, asked without loading them.

The monitor sits above :mod:`fdscope.handles` and :mod:`fdscope.origins` and
imports them only when it needs them: each costs milliseconds of a cold start.
Whether it needs them depends on whether they are loaded already (the
inventory's import cost is paid; origins is there, so it may be tracking), so
each of them marks itself here when imported, and the monitor asks here.
Standard library only; imports nothing.
"""

from __future__ import annotations

__all__ = ["is_loaded", "mark_loaded"]

_loaded: set[str] = set()


def mark_loaded(module: str) -> None:
    """Called by a runtime package (``fdscope.handles``, ``fdscope.origins``) once imported."""
    _loaded.add(module)


def is_loaded(module: str) -> bool:
    """True once the package named ``module`` has been imported, in this process."""
    return module in _loaded
