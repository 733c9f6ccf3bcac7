"""Compare two snapshots by handle identity, as multisets."""

from __future__ import annotations

from fdscope.handles._model import NET_KINDS, Diff, Handle, Snapshot


def diff(before: Snapshot, after: Snapshot) -> Diff:
    """What ``after`` holds that ``before`` did not (``opened``) and the reverse (``closed``).

    Handles are compared by :attr:`Handle.identity` (kind plus inode, endpoints or path
    and open mode), never by descriptor number, and counted: a file opened twice is two
    handles. A handle that stays under the same number is matched first; a number that
    now holds something else is a close and an open.
    """
    key = _identity if _detailed(before) and _detailed(after) else _loose_identity
    old: dict[tuple[object, ...], list[Handle]] = {}
    for h in before.handles:
        old.setdefault(key(h), []).append(h)
    pending: list[Handle] = []
    for h in after.handles:
        group = old.get(key(h))
        if group:
            same = next((i for i, o in enumerate(group) if o.fd == h.fd), None)
            if same is not None:
                group.pop(same)
                continue
        pending.append(h)
    opened: list[Handle] = []
    for h in pending:  # same identity under another number (dup2, renumbering)
        group = old.get(key(h))
        if group:
            group.pop(0)
        else:
            opened.append(h)
    closed = sorted((h for group in old.values() for h in group), key=lambda h: h.fd)
    return Diff(opened=tuple(opened), closed=tuple(closed))


def _detailed(snap: Snapshot) -> bool:
    """Taken with details (fdinfo read): some handle has its flags."""
    return any(h.flags is not None for h in snap.handles)


def _identity(h: Handle) -> tuple[object, ...]:
    return h.identity


def _loose_identity(h: Handle) -> tuple[object, ...]:
    """Identity without the fdinfo-derived part (file mode, pipe end): position 3 of both."""
    ident = h.identity
    if h.kind in NET_KINDS:
        return ident
    return ident[:3] + (None,) + ident[4:]
