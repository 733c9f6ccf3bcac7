"""The languages the local Lambda runs: :class:`Runtime` and one module per language.

:mod:`.base` is the interface (the handler, what to start, its variables, its
logs, its record in ``run.json``); :mod:`.python` is CPython with ``awslambdaric``.
"""

from __future__ import annotations

from fdscope.local.runtimes.base import Handler, HandlerError, Runtime
from fdscope.local.runtimes.python import PythonRuntime, parse_handler

__all__ = ["Handler", "HandlerError", "PythonRuntime", "Runtime", "parse_handler"]
