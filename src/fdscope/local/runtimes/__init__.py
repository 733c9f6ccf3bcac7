"""The languages the local Lambda runs: :class:`Runtime` and one module per language.

:mod:`.base` is the interface (the handler, what to start, its variables, its
logs, its record in ``run.json``); :mod:`.python` is CPython with ``awslambdaric``;
:mod:`.node` is Node.js with ``aws-lambda-ric`` (or fdscope's stand-in), and
:func:`select_runtime` picks one for a handler string.
"""

from __future__ import annotations

from fdscope.local.runtimes._node_client import NodeClient
from fdscope.local.runtimes._node_client import install_client as install_node_client
from fdscope.local.runtimes.base import Handler, HandlerError, Runtime
from fdscope.local.runtimes.node import NodeRuntime, parse_node_handler, select_runtime
from fdscope.local.runtimes.python import PythonRuntime, parse_handler

__all__ = [
    "Handler",
    "HandlerError",
    "NodeClient",
    "NodeRuntime",
    "PythonRuntime",
    "Runtime",
    "install_node_client",
    "parse_handler",
    "parse_node_handler",
    "select_runtime",
]
