"""Compare two snapshots by handle identity, as multisets."""

from __future__ import annotations

from fdscope.handles._model import Diff, Handle, Snapshot


def diff(before: Snapshot, after: Snapshot) -> Diff:
    """What ``after`` holds that ``before`` did not (``opened``) and the reverse (``closed``).

    Handles are compared by :attr:`Handle.identity` (kind plus inode, endpoints or path
    and open mode), never by descriptor number, and counted: a file opened twice is two
    handles. A handle that stays under the same number is matched first; a number that
    now holds something else is a close and an open.
    """
    old: dict[tuple[object, ...], list[Handle]] = {}
    for h in before.handles:
        old.setdefault(h.identity, []).append(h)
    pending: list[Handle] = []
    for h in after.handles:
        group = old.get(h.identity)
        if group:
            same = next((i for i, o in enumerate(group) if o.fd == h.fd), None)
            if same is not None:
                group.pop(same)
                continue
        pending.append(h)
    opened: list[Handle] = []
    for h in pending:  # same identity under another number (dup2, renumbering)
        group = old.get(h.identity)
        if group:
            group.pop(0)
        else:
            opened.append(h)
    closed = sorted((h for group in old.values() for h in group), key=lambda h: h.fd)
    return Diff(opened=tuple(opened), closed=tuple(closed))
