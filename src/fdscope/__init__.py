"""fdscope: find and fix file-descriptor leaks in Python on AWS Lambda and in services.

The top-level package imports nothing heavy. ``fdscope.track``, ``fdscope.stop``
and ``fdscope.report`` are re-exported lazily from :mod:`fdscope.origins`.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["FdscopeError", "__version__", "report", "stop", "track"]

from fdscope.errors import FdscopeError

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of every cold start
if TYPE_CHECKING:
    from typing import Any


def __getattr__(name: str) -> Any:
    if name not in ("track", "stop", "report"):
        raise AttributeError(f"module 'fdscope' has no attribute {name!r}")
    from fdscope import origins

    return getattr(origins, name)
