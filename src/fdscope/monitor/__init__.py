"""The runtime monitor, standard library only: per-invocation EMF, leak watch, EMFILE report.

- ``@monitor`` wraps a handler; or, with no code change, the exec wrapper
  (:func:`wrapper_path`, ``/opt/fdscope-wrapper`` in the layer) points the
  runtime at :mod:`fdscope.monitor.entry` and chains to ``FDSCOPE_NEXT_WRAPPER``.
- Each invocation writes one EMF record in Lambda Insights' member names
  (``fd_use``, ``fd_max``, ...) plus ``fd_opened``, ``fd_closed``, ``fd_net``,
  ``new_connections``; settings in :data:`ENV_VARS`.
- The leak watch is :class:`fdscope.trend.LeakWatch`; EMFILE only with evidence
  that an open failed (errno 24/23 in the exception chain, a library's disguise
  at the limit, the monitor's own listing failing), then the full handle report
  is written through stdout (no new descriptor); a count near the limit is the
  ``fd_near_limit`` WARNING, once per crossing.
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

    from fdscope.monitor._layer import LayerError, build_layer, find_python, layer_files
    from fdscope.monitor._monitor import Monitor
    from fdscope.monitor._service import ServiceWatch

__all__ = [
    "DEFAULT_METRICS",
    "ENV_VARS",
    "UNITS",
    "Config",
    "LayerError",
    "Monitor",
    "ServiceWatch",
    "build_layer",
    "emfile_evidence",
    "find_python",
    "layer_files",
    "monitor",
    "wrapper_path",
]


def __getattr__(name: str) -> Any:
    """``Monitor``, ``ServiceWatch`` and the layer build, imported on first use.

    The decorator alone is small: the rest costs a cold start only when used.
    """
    if name == "Monitor":
        from fdscope.monitor._monitor import Monitor

        return Monitor
    if name == "ServiceWatch":
        from fdscope.monitor._service import ServiceWatch

        return ServiceWatch
    if name in ("LayerError", "build_layer", "find_python", "layer_files"):
        from fdscope.monitor import _layer

        return getattr(_layer, name)
    raise AttributeError(f"module 'fdscope.monitor' has no attribute {name!r}")


def wrapper_path() -> Path:
    """The exec wrapper script shipped with the package (``AWS_LAMBDA_EXEC_WRAPPER``)."""
    from pathlib import Path

    return Path(__file__).resolve().parent / "data" / "fdscope-wrapper"
