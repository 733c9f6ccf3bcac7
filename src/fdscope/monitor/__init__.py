"""The runtime monitor, standard library only: per-invocation EMF, leak watch, EMFILE report.

- ``@monitor`` wraps a handler; or, with no code change, the exec wrapper
  (:func:`wrapper_path`, ``/opt/fdscope-wrapper`` in the layer) points the
  runtime at :mod:`fdscope.monitor.entry` and chains to ``FDSCOPE_NEXT_WRAPPER``.
- Each invocation writes one EMF record in Lambda Insights' member names
  (``fd_use``, ``fd_max``, ...) plus ``fd_opened``, ``fd_closed``, ``fd_net``,
  ``new_connections``; settings in :data:`ENV_VARS`.
- The leak watch is :class:`fdscope.trend.LeakWatch`; EMFILE is the count at
  the limit first, errno 24 in the exception chain second; then the full
  handle report is written through stdout (no new descriptor).
- :class:`ServiceWatch`: the same watch as a sampler thread for services.
"""

from __future__ import annotations

from fdscope.monitor._config import DEFAULT_METRICS, ENV_VARS, UNITS, Config
from fdscope.monitor._decorator import monitor
from fdscope.monitor._emfile import evidence as emfile_evidence

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from fdscope.monitor._monitor import Monitor
    from fdscope.monitor._service import ServiceWatch

__all__ = [
    "DEFAULT_METRICS",
    "ENV_VARS",
    "UNITS",
    "Config",
    "Monitor",
    "ServiceWatch",
    "emfile_evidence",
    "monitor",
    "wrapper_path",
]


_LAZY = {"Monitor": "fdscope.monitor._monitor", "ServiceWatch": "fdscope.monitor._service"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fdscope.monitor' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def wrapper_path() -> Path:
    """The exec wrapper script shipped with the package (``AWS_LAMBDA_EXEC_WRAPPER``)."""
    from pathlib import Path

    return Path(__file__).resolve().parent / "data" / "fdscope-wrapper"
