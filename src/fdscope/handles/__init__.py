"""Inventory of a process's open descriptors: what each one is, with endpoints.

``snapshot(pid)`` lists every descriptor with its kind (file, pipe, TCP/UDP/UNIX
socket, eventfd, ...), ``count(pid, tree=...)`` counts them fast, ``diff(a, b)``
compares two snapshots by handle identity, ``group(handles)`` groups them by kind
and endpoint, ``to_json(snap)`` gives the ``fdscope.handles/1`` JSON shape.

Linux reads ``/proc``; other systems fall back on psutil with unknown fields
``None``. Standard library only; never starts a process. Call ``prepare()`` early
in a process that may hit EMFILE.
"""

from __future__ import annotations

from fdscope import registry
from fdscope.errors import AccessDenied, HandlesError, ProcessGone
from fdscope.handles._api import (
    backend,
    count,
    descendants,
    diff,
    prepare,
    reserve_fd,
    snapshot,
)
from fdscope.handles._group import Group, endpoint_of, group, to_json
from fdscope.handles._model import (
    ANON_KINDS,
    KINDS,
    NET_KINDS,
    SOCKET_KINDS,
    Diff,
    Handle,
    Snapshot,
)

__all__ = [
    "ANON_KINDS",
    "KINDS",
    "NET_KINDS",
    "SOCKET_KINDS",
    "AccessDenied",
    "Diff",
    "Group",
    "Handle",
    "HandlesError",
    "ProcessGone",
    "Snapshot",
    "backend",
    "count",
    "descendants",
    "diff",
    "endpoint_of",
    "group",
    "prepare",
    "reserve_fd",
    "snapshot",
    "to_json",
]

registry.mark_loaded(__name__)  # the monitor asks, to know the import cost is paid
