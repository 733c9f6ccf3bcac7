"""The handler the exec wrapper points the runtime at: ``fdscope.monitor.entry.handler``.

The wrapper script moved the function's own handler (``_HANDLER``) to
``FDSCOPE_HANDLER``; importing this module imports that handler, exactly as the
runtime would (errors in the user's module surface as the runtime's own init
errors), and wraps it with the monitor. With ``FDSCOPE_TRACK=1`` origins
tracking starts first, so module-level descriptors are attributed too.
"""

from __future__ import annotations

import os
import sys

from fdscope.monitor._decorator import monitor
from fdscope.monitor._handler_ref import load_handler

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

if os.environ.get("FDSCOPE_TRACK") == "1":
    try:
        import fdscope.origins  # noqa: F401  (tracking starts at import)
    except Exception as _exc:  # fail open
        sys.stderr.write(f"fdscope: origins tracking not started: {_exc}\n")

_target = os.environ.get("FDSCOPE_HANDLER", "")
original: Callable[..., Any] = load_handler(_target)
handler = monitor(original)
