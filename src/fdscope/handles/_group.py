"""Handles grouped the way a person reads them, and the JSON shape of a snapshot."""

from __future__ import annotations

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


def group(handles: tuple[Handle, ...] | list[Handle]) -> list[Group]:
    """Groups of (kind, endpoint), largest first, then by kind and endpoint."""
    by_key: dict[tuple[str, str], list[Handle]] = {}
    for h in handles:
        by_key.setdefault((h.kind, endpoint_of(h)), []).append(h)
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
