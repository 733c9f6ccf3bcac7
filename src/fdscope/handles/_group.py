"""Handles grouped the way a person reads them, and the JSON shape of a snapshot."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from fdscope.handles._model import Handle, Snapshot

SCHEMA = "fdscope.handles/1"


@dataclass(frozen=True)
class Group:
    """Handles of one kind sharing one endpoint (remote address, path, or name)."""

    kind: str
    endpoint: str
    handles: tuple[Handle, ...]

    @property
    def count(self) -> int:
        return len(self.handles)

    @property
    def fds(self) -> tuple[int, ...]:
        return tuple(h.fd for h in self.handles)


def endpoint_of(h: Handle) -> str:
    """The grouping key: remote endpoint, else listening/bound address, path, or name."""
    if h.kind in ("tcp", "tcp6", "udp", "udp6"):
        if h.remote:
            return h.remote
        if h.local:
            return f"{h.local} ({h.state.lower() if h.state else 'bound'})"
        return "(unbound)"
    if h.kind == "unix":
        if h.remote:
            return h.remote
        if h.path:
            return h.path
        return "(unnamed)"
    if h.kind == "pipe":
        return "pipe"
    if h.path:
        return h.path + (" (deleted)" if h.deleted else "")
    return h.detail or h.family or h.kind


# a part of a file name that a program generated: a UUID, a run of hex or letters and digits
# mixed (tempfile's, serverless-express's /tmp/server-<random>.sock), a number (a pid, a port);
# compiled on first use (re's cache), not at import: the inventory is a runtime part
_GENERATED = (
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|(?<![A-Za-z0-9])(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{6,}(?![A-Za-z0-9])"
    r"|(?<![A-Za-z0-9])[0-9]{3,}(?![A-Za-z0-9])"
)
_PATH_KINDS = ("unix", "file", "dir", "fifo", "memfd")


def generalize(path: str) -> str:
    """``path`` with the generated parts of its last component as ``*``:
    ``/tmp/server-k3j9x2a1.sock`` -> ``/tmp/server-*.sock``; other paths unchanged."""
    head, sep, name = path.rpartition("/")
    star = re.sub(_GENERATED, "*", name)
    return f"{head}{sep}{star}" if star != name else path


def group(handles: tuple[Handle, ...] | list[Handle], *, patterns: bool = False) -> list[Group]:
    """Groups of (kind, endpoint), largest first, then by kind and endpoint.

    With ``patterns``, paths that differ only by a generated part share one group
    whose endpoint is the pattern (``/tmp/server-*.sock``), see :func:`generalize`.
    """
    by_key: dict[tuple[str, str], list[Handle]] = {}
    for h in handles:
        ep = endpoint_of(h)
        if patterns and h.kind in _PATH_KINDS and ep.startswith("/"):
            ep = generalize(ep)
        by_key.setdefault((h.kind, ep), []).append(h)
    groups = [Group(kind, ep, tuple(hs)) for (kind, ep), hs in by_key.items()]
    groups.sort(key=lambda g: (-g.count, g.kind, g.endpoint))
    return groups


def to_json(snap: Snapshot) -> dict:
    """The snapshot as a JSON-ready dict (``"schema": "fdscope.handles/1"``)."""
    return {
        "schema": SCHEMA,
        "pid": snap.pid,
        "time": snap.time,
        "platform": snap.platform,
        "limit": {"soft": snap.soft_limit, "hard": snap.hard_limit},
        "threads": snap.threads,
        "children": list(snap.children),
        "count": snap.count,
        "by_kind": dict(sorted(snap.by_kind().items())),
        "handles": [asdict(h) for h in snap.handles],
    }
