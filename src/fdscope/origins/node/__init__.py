"""Creation sites for Node.js: the preload ``track.js`` (``node --require``).

:data:`PRELOAD` is the file; :func:`node_options` puts it in ``NODE_OPTIONS``;
:func:`is_node` tells whether a command runs Node. The preload speaks the
same report format and channel as the Python tracker (``fdscope.origins/1``
lines to ``FDSCOPE_REPORT_FD``), see docs/origins.md.
"""

from __future__ import annotations

import os
import re

__all__ = ["PRELOAD", "is_node", "node_options"]

PRELOAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "track.js")

_NODE = re.compile(r"^(node|nodejs)(\d+(\.\d+)*)?(\.exe)?$")


def is_node(program: str) -> bool:
    """True when ``program`` (a path or a name) is a Node.js executable: ``node``, ``nodejs20``."""
    return bool(_NODE.match(os.path.basename(program)))


def node_options(existing: str | None = None) -> str:
    """``NODE_OPTIONS`` with ``--require <PRELOAD>`` first, then ``existing``."""
    path = PRELOAD.replace("\\", "\\\\").replace('"', '\\"')
    require = f'--require "{path}"'
    return f"{require} {existing}" if existing and existing.strip() else require
