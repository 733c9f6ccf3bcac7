"""The report: the inventory of the own process joined with the creation records.

Joined by fd number AND identity (the record's object still owns the number,
or its inode is the one the inventory sees), so a reused number is never
given the old creation site.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from fdscope.handles import ANON_KINDS, SOCKET_KINDS
from fdscope.origins import _judge, _tracker

SCHEMA = "fdscope.origins/1"

_SECTIONS = (
    ("Sockets", SOCKET_KINDS),
    ("Files", ("file", "dir", "chr", "blk", "memfd")),
    ("Pipes", ("pipe", "fifo")),
    ("Event and poll handles", tuple(k for k in ANON_KINDS if k != "memfd")),
    ("Child processes", ("process",)),
    ("Threads", ("thread",)),
)


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a creation stack."""

    file: str
    line: int | None
    function: str

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "function": self.function}


@dataclass(frozen=True, slots=True)
class Site:
    """The user's line that created a handle, and the library call it made there."""

    file: str
    line: int | None
    function: str
    call: str | None  # "requests.get", "open", "subprocess.Popen"; None when unknown
    approximate: bool  # made in C code: the nearest Python call site when first seen

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "function": self.function,
            "call": self.call,
            "approximate": self.approximate,
        }

    def __str__(self) -> str:
        via = f" via {self.call}" if self.call else ""
        approx = " (approximate)" if self.approximate else ""
        return f"{self.file}:{self.line} in {self.function}{via}{approx}"


@dataclass(frozen=True, slots=True)
class Item:
    """One handle in a report: a descriptor (``fd``), or a thread / child process (``fd`` None)."""

    fd: int | None
    kind: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"fd": self.fd, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Group:
    """Handles of one kind created at one site; ``endpoint`` when they all share one."""

    site: Site
    stack: tuple[Frame, ...]
    kind: str
    endpoint: str | None
    count: int
    handles: tuple[Item, ...]
    # what keeps one of the handles alive ({kind, name, file, line, path}); only in a
    # report built with ``retention=True``, only for the top groups, None when not found
    held_by: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        d = {
            "site": self.site.as_dict(),
            "stack": [f.as_dict() for f in self.stack],
            "kind": self.kind,
            "endpoint": self.endpoint,
            "count": self.count,
            "handles": [h.as_dict() for h in self.handles],
        }
        if self.held_by is not None:
            d["held_by"] = self.held_by
        return d


@dataclass(frozen=True, slots=True)
class Report:
    """What the process holds open and where each handle came from (``fdscope.origins/1``)."""

    pid: int
    time: float
    soft_limit: int | None
    hard_limit: int | None
    count: int  # open descriptors (threads and child processes are not counted)
    groups: tuple[Group, ...]  # largest first
    unattributed: tuple[Item, ...]

    def json(self) -> dict[str, Any]:
        """The report as a dict in the ``fdscope.origins/1`` shape (FORMATS.md section 3)."""
        return {
            "schema": SCHEMA,
            "pid": self.pid,
            "time": self.time,
            "limit": {"soft": self.soft_limit, "hard": self.hard_limit},
            "count": self.count,
            "groups": [g.as_dict() for g in self.groups],
            "unattributed": [u.as_dict() for u in self.unattributed],
        }

    def text(self, *, per_group: int = 3) -> str:
        """A human report close to wtfnode's: a section per kind, each group with its site."""
        limit = f" of {self.soft_limit}" if self.soft_limit else ""
        lines = [f"fdscope: {self.count}{limit} descriptors open in process {self.pid}"]
        for title, kinds in _SECTIONS:
            groups = [g for g in self.groups if g.kind in kinds]
            if groups:
                lines.append(f"- {title}:")
                lines.extend(_group_lines(g, per_group) for g in groups)
        known = {k for _, ks in _SECTIONS for k in ks}
        other = [g for g in self.groups if g.kind not in known]
        if other:
            lines.append("- Other:")
            lines.extend(_group_lines(g, per_group) for g in other)
        if self.unattributed:
            lines.append("- Unattributed (opened before tracking, or by fdscope):")
            lines.extend(f"  fd {u.fd}: {u.detail}" for u in self.unattributed)
        return "\n".join(lines) + "\n"

    def site_lines(self, n: int = 3) -> list[str]:
        """The top ``n`` creation sites as short lines (for a leak warning)."""
        return [f"{g.count} x {g.kind}{_ep(g)} at {g.site}" for g in self.groups[:n]]


def _ep(g: Group) -> str:
    return f" {g.endpoint}" if g.endpoint else ""


def _group_lines(g: Group, per_group: int) -> str:
    head = f"  {g.count} x {g.kind}{_ep(g)}  created at {g.site}"
    if g.held_by is not None:
        head += f"\n      kept alive by {held_text(g.held_by)}"
    rest = [
        f"      {'fd ' + str(h.fd) if h.fd is not None else '-'}: {h.detail}"
        for h in g.handles[:per_group]
    ]
    if g.count > per_group:
        rest.append(f"      ... and {g.count - per_group} more")
    return "\n".join([head, *rest])


# ------------------------------------------------------------------ stacks -> frames
_lines: dict[tuple[Any, int], int | None] = {}
_names: dict[Any, str] = {}


def _line(code: Any, lasti: int) -> int | None:
    key = (code, lasti)
    if key in _lines:
        return _lines[key]
    line = None
    try:
        for start, end, ln in code.co_lines():
            if start <= lasti < end:
                line = ln
                break
    except Exception:
        line = None
    if line is None:
        line = code.co_firstlineno
    _lines[key] = line
    return line


def _qualname(code: Any) -> str:
    return getattr(code, "co_qualname", code.co_name)


def call_name(code: Any) -> str:
    """``module.qualname`` of a library function, shortened to a re-export when one exists."""
    name = _names.get(code)
    if name is not None:
        return name
    qual = _qualname(code)
    if qual.endswith(".__init__"):
        qual = qual[: -len(".__init__")]
    module = _judge.module_name(code.co_filename)
    if module is None:
        name = qual
    else:
        name = f"{module}.{qual}"
        # requests.api.get is requests.get: prefer the shortest public path to the same code.
        parts = module.split(".")
        first = qual.split(".", 1)[0]
        for i in range(1, len(parts)):
            pkg = sys.modules.get(".".join(parts[:i]))
            obj = getattr(pkg, first, None) if pkg is not None else None
            if obj is not None and _owns(obj, qual, code):
                name = f"{'.'.join(parts[:i])}.{qual}"
                break
    _names[code] = name
    return name


def _owns(obj: Any, qual: str, code: Any) -> bool:
    rest = qual.split(".")[1:]
    for attr in rest:
        obj = getattr(obj, attr, None)
        if obj is None:
            return False
    if isinstance(obj, type):
        init = getattr(obj, "__init__", None)
        return getattr(init, "__code__", None) is code
    return getattr(obj, "__code__", None) is code


def pairs(stack: tuple[Any, ...]) -> list[tuple[Any, int]]:
    """``(code, lasti)`` pairs of a recorded stack."""
    return list(zip(stack[1::2], stack[2::2], strict=True))


def frames_of(stack: tuple[Any, ...]) -> tuple[Frame, ...]:
    return tuple(
        Frame(file=code.co_filename, line=_line(code, lasti), function=_qualname(code))
        for code, lasti in pairs(stack)
    )


def site_from(stack: tuple[Any, ...], api: str, approximate: bool) -> Site:
    """The Site of a recorded stack: the user's frame and the call it made."""
    index = stack[0]
    frames = pairs(stack)
    if not frames:
        return Site(file="?", line=None, function="?", call=api or None, approximate=approximate)
    if index < 0:
        code, lasti = frames[0]
        return Site(code.co_filename, _line(code, lasti), _qualname(code), api or None, approximate)
    code, lasti = frames[index]
    if index == 1:
        call: str | None = call_name(frames[0][0])
    else:
        call = api or None
    return Site(code.co_filename, _line(code, lasti), _qualname(code), call, approximate)


# ------------------------------------------------------------------ building
def _own_fds() -> set[int]:
    """Descriptors fdscope itself holds (inventory reserve, report fd)."""
    own: set[int] = set()
    from fdscope import handles

    reserve = handles.reserve_fd()
    if reserve is not None:
        own.add(reserve)
    fd = os.environ.get("FDSCOPE_REPORT_FD")
    if fd and fd.isdigit():
        own.add(int(fd))
    return own


def held_text(held: dict[str, Any]) -> str:
    """``app._clients (app.py:6): _clients[0]._endpoint... -> socket``; a cycle in words."""
    if held.get("kind") == "cycle":
        return "a reference cycle (freed only by the garbage collector)"
    loc = f" ({held['file']}:{held['line']})" if held.get("file") and held.get("line") else ""
    kind = held.get("kind")
    what = {"module": "", "class": "class attribute "}.get(str(kind), f"{kind} ")
    path = list(held.get("path") or ())
    tail = "".join(path[1:-1]) if len(path) > 2 else ""
    if len(tail) > 100:
        tail = tail[:97] + "..."
    head = str(path[0]).rpartition(".")[2] if kind == "module" and path else ""
    shown = f": {head or (path[0] if path else '')}{tail} -> {path[-1]}" if tail else ""
    return f"{what}{held.get('name')}{loc}{shown}"


# the retention walk: the top groups only, one leaked object each, within these bounds
RETENTION_GROUPS = 3
RETENTION_DEPTH = 6  # upward referrer steps (retention())
RETENTION_DOWN_DEPTH = 16  # downward steps from the user's module-level names
RETENTION_BUDGET_S = 0.2  # per report, both walks together


def _held_by(owners: list[tuple[int, Any]], code_root: str | None) -> dict[int, dict[str, Any]]:
    """``{group index: held_by}`` for the owners given (one object per top group).

    First one downward walk from the user's module-level names and class attributes for
    all of them at once (cheap, and it reaches a handle a dozen steps inside a library's
    objects), then, for those not reached, the upward walk (:func:`retention`: a frame, a
    thread, an asyncio task, a logger, a reference cycle), sharing what is left of the
    budget. Never raises: a failed walk leaves the field out.
    """
    from fdscope.origins import _retention

    out: dict[int, dict[str, Any]] = {}
    if not owners or RETENTION_BUDGET_S <= 0:
        return out
    deadline = time.perf_counter() + RETENTION_BUDGET_S
    objs = [o for _, o in owners]
    try:
        down = _retention.held_from_roots(
            objs,
            depth=RETENTION_DOWN_DEPTH,
            budget=0.6 * RETENTION_BUDGET_S,
            code_root=code_root,
        )
    except Exception:
        down = {}
    left = []
    for index, obj in owners:
        found = down.get(id(obj))
        if found is not None:
            out[index] = found.to_json()
        else:
            left.append((index, obj))
    for n, (index, obj) in enumerate(left):
        remaining = deadline - time.perf_counter()
        if remaining <= 0.005:
            break
        try:
            up = _retention.retention(
                obj,
                depth=RETENTION_DEPTH,
                budget=remaining / (len(left) - n),
                code_root=code_root,
                ignore=(owners, objs),
            )
        except Exception:
            up = None
        if up is not None:
            out[index] = up.to_json()
    return out


def build(stack: tuple[Any, ...] | None = None, *, retention: bool = False) -> Report:
    """Join ``handles.snapshot()`` of this process with the records; see :class:`Report`.

    ``retention``: for the top groups, what keeps one of their handles alive
    (``Group.held_by``; about 200 ms at most, see :func:`_held_by`).
    """
    from fdscope import handles

    snap = handles.snapshot()
    if stack is None:
        stack = _tracker.current_stack(1)
    own = _own_fds()
    owner_of: dict[tuple[Any, ...], Any] = {}  # bucket -> a weak reference to one owner
    with _tracker._lock:
        buckets, unattributed = _bucket_handles(snap.handles, own, stack, retention, owner_of)
        extra = _live_threads()
        _add_live_processes(extra, retention, owner_of)
    merged = _merge_by_site(buckets, extra, owner_of)
    groups = [
        Group(
            site=s["site"],
            stack=frames_of(s["stack"]),
            kind=s["kind"],
            endpoint=next(iter(s["eps"])) if len(s["eps"]) == 1 else None,
            count=len(s["items"]),
            handles=tuple(s["items"]),
        )
        for s in merged.values()
    ]
    groups.sort(key=lambda g: (-g.count, g.site.file, g.site.line or 0, g.kind))
    if retention and owner_of:
        groups = _with_held_by(groups, merged, owner_of)
    return Report(
        pid=snap.pid,
        time=snap.time if snap.time else time.time(),
        soft_limit=snap.soft_limit,
        hard_limit=snap.hard_limit,
        count=snap.count,
        groups=tuple(groups),
        unattributed=tuple(unattributed),
    )


def _bucket_handles(
    snap_handles: Any,
    own: Any,
    stack: tuple[Any, ...],
    retention: bool,
    owner_of: dict[tuple[Any, ...], Any],
) -> tuple[dict[tuple[Any, ...], list[Any]], list[Item]]:
    """The open handles by their record ``(stack, api, approx, kind)``, and those without one
    (fdscope's own among them); with ``retention``, one owner per bucket into ``owner_of``.
    Called with ``_tracker._lock`` held."""
    buckets: dict[tuple[Any, ...], list[Any]] = {}
    unattributed: list[Item] = []
    for h in snap_handles:
        if h.fd in own:
            unattributed.append(Item(h.fd, h.kind, h.describe() + " (fdscope)"))
            continue
        rec = _tracker.valid_record(h.fd, h.inode)
        if rec is None and _tracker.adopt_unrecorded(h.fd, h.path, h.inode, stack):
            rec = _tracker.valid_record(h.fd, h.inode)
        if rec is None:
            unattributed.append(Item(h.fd, h.kind, h.describe()))
            continue
        _ref, _ino, api, rstack, approx, _sampled = rec
        key = (rstack, api, approx, h.kind)
        buckets.setdefault(key, []).append(h)
        if retention and key not in owner_of and _ref is not None:
            owner_of[key] = _ref
    return buckets, unattributed


def _live_threads() -> dict[tuple[Any, ...], list[Item]]:
    """The tracked threads still alive by ``(stack, api, kind)`` (dead ones forgotten once
    collected). Called with ``_tracker._lock`` held."""
    extra: dict[tuple[Any, ...], list[Item]] = {}
    for tkey, (tref, tstack) in list(_tracker._threads.items()):
        thread = tref()
        if thread is None or not thread.is_alive():
            if thread is None:
                _tracker._threads.pop(tkey, None)
            continue
        extra.setdefault((tstack, "threading.Thread.start", "thread"), []).append(
            Item(None, "thread", f"{thread.name} (ident {thread.ident}, daemon={thread.daemon})")
        )
    return extra


def _add_live_processes(
    extra: dict[tuple[Any, ...], list[Item]], retention: bool, owner_of: dict[tuple[Any, ...], Any]
) -> None:
    """The tracked child processes still running, into ``extra`` by ``(stack, api, kind)``
    (collected ones forgotten); with ``retention``, one owner per key into ``owner_of``.
    Called with ``_tracker._lock`` held."""
    for pkey, (pref, pstack) in list(_tracker._procs.items()):
        proc = pref()
        if proc is None:
            _tracker._procs.pop(pkey, None)
            continue
        if proc.returncode is None and proc.poll() is None:
            args = proc.args if isinstance(proc.args, str) else " ".join(map(str, proc.args))
            okey = (pstack, "subprocess.Popen", "process")
            extra.setdefault(okey, []).append(Item(None, "process", f"pid {proc.pid}: {args}"))
            if retention and okey not in owner_of:
                owner_of[okey] = pref


def _merge_by_site(
    buckets: dict[tuple[Any, ...], list[Any]],
    extra: dict[tuple[Any, ...], list[Item]],
    owner_of: dict[tuple[Any, ...], Any],
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Merge buckets whose stacks differ only below the site: the group is the site."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for (rstack, api, approx, kind), hs in buckets.items():
        site = site_from(rstack, api, approx)
        gkey = (site, kind)
        slot = merged.setdefault(
            gkey, {"site": site, "stack": rstack, "kind": kind, "items": [], "eps": set()}
        )
        slot["items"].extend(Item(h.fd, h.kind, h.describe()) for h in hs)
        slot["eps"].update(h.endpoint for h in hs)
        if (rstack, api, approx, kind) in owner_of:
            slot.setdefault("owner", owner_of[(rstack, api, approx, kind)])
    for (rstack, api, kind), items in extra.items():
        site = site_from(rstack, api, False)
        slot = merged.setdefault(
            (site, kind), {"site": site, "stack": rstack, "kind": kind, "items": [], "eps": {None}}
        )
        slot["items"].extend(items)
        if (rstack, api, kind) in owner_of:
            slot.setdefault("owner", owner_of[(rstack, api, kind)])
    return merged


def _with_held_by(
    groups: list[Group], merged: dict[tuple[Any, ...], dict[str, Any]], owner_of: dict[Any, Any]
) -> list[Group]:
    """The groups, the top ones with ``held_by`` filled where the walk finds a holder."""
    import dataclasses

    refs = {(s["site"], s["kind"]): s.get("owner") for s in merged.values()}
    owners: list[tuple[int, Any]] = []
    for index, g in enumerate(groups[:RETENTION_GROUPS]):
        ref = refs.get((g.site, g.kind))
        obj = ref() if ref is not None else None
        if obj is not None:
            owners.append((index, obj))
    code_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    held = _held_by(owners, code_root)
    owners.clear()
    return [
        dataclasses.replace(g, held_by=held[i]) if i in held else g for i, g in enumerate(groups)
    ]


def site_of(handle: Any) -> Site | None:
    """The creation Site of a Handle (or an fd number) of this process, or None if unknown."""
    if isinstance(handle, int):
        fd = handle
        try:
            inode: int | None = os.fstat(fd).st_ino
        except OSError:
            return None
    else:
        fd, inode = handle.fd, handle.inode
    with _tracker._lock:
        rec = _tracker.valid_record(fd, inode)
    if rec is None:
        return None
    return site_from(rec[3], rec[2], rec[4])
