"""What keeps a handle alive: the referrer path from its object to something that outlives a call.

wtfnode and lsof say where a handle was made; nothing says what holds it. For
a leaked object, :func:`retention` walks *up* the referrer graph
(``gc.get_referrers``), breadth first, until it meets a root that outlives an
invocation:

=============  ==============================================================
kind           root
=============  ==============================================================
``module``     a module-level name (``app._recent_tables``), with the line
               that binds it
``class``      a class attribute (``Cache.items``)
``logger``     a ``logging.Logger``'s handler list (``logger 'app'``)
``thread``     a ``threading.Thread`` object (its target, args or attributes)
``task``       an asyncio task; ``loop``: an asyncio event loop
``frame``      a local of a function still running in another thread or
               further up the stack (``main() at app.py:40``)
``cycle``      nothing outside: the object sits in a reference cycle that only
               the cyclic garbage collector frees (the doctor's ``gc-bound``)
=============  ==============================================================

``None`` when no root was found within the bounds (``depth`` steps up,
``budget`` seconds; each ``gc.get_referrers`` call scans the whole heap, so
both bound the cost). The caller's own stack is never followed; a suspended
generator's or coroutine's frame is followed to what holds the generator.
Standard library only; imported only when a report asks for it.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import types
from typing import Any

DEPTH = 6
BUDGET_S = 0.2

# CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR | CO_ITERABLE_COROUTINE
_SUSPENDABLE = 0x20 | 0x80 | 0x200 | 0x100


class Retention:
    """A root and the path from it down to the object (``steps``: labels, root first)."""

    __slots__ = ("kind", "name", "file", "line", "steps", "root", "path_objects")

    def __init__(
        self,
        kind: str,
        name: str,
        file: str | None,
        line: int | None,
        steps: tuple[str, ...] = (),
        root: Any = None,
        path_objects: tuple[Any, ...] = (),
    ) -> None:
        self.kind = kind
        self.name = name
        self.file = file
        self.line = line
        self.steps = steps
        self.root = root  # the module / class / logger / thread object (not serialised)
        self.path_objects = path_objects  # the objects below the root, outermost first

    def where(self) -> str:
        """``_recent_tables (app.py:12)``, ``class attribute Cache.items``, ``a reference cycle``."""
        if self.kind == "cycle":
            return "a reference cycle (freed only by the garbage collector)"
        loc = f" ({self.file}:{self.line})" if self.file and self.line else ""
        if self.kind == "module":
            return f"`{self.name}`{loc}"
        if self.kind == "class":
            return f"class attribute `{self.name}`{loc}"
        if self.kind == "logger":
            return f"the handlers of logger {self.name!r}"
        return f"{self.kind} {self.name}"

    def owner(self) -> str | None:
        """For a module or class root: ``user`` (the user's code) or ``library`` (the standard
        library's or a package's own state, such as ``subprocess._active``); else None."""
        if self.kind not in ("module", "class") or self.root is None:
            return None
        return "user" if _is_users(self.root) else "library"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "file": self.file,
            "line": self.line,
            "path": list(self.steps),
        }
        owner = self.owner()
        if owner is not None:
            out["owner"] = owner
        return out

    def __repr__(self) -> str:
        return f"Retention({self.kind}, {self.name!r}, {' -> '.join(self.steps)})"


def _type_name(obj: Any) -> str:
    return type(obj).__name__


def _label(referrer: Any, child: Any) -> str:
    """How ``referrer`` points at ``child``: ``[3]``, ``['key']``, ``.attr``, or its type."""
    if isinstance(referrer, dict):
        for k, v in referrer.items():
            if v is child:
                return f".{k}" if isinstance(k, str) else f"[{_short_repr(k)}]"
        return "(key)"
    if isinstance(referrer, (list, tuple)):
        for i, v in enumerate(referrer):
            if v is child:
                return f"[{i}]"
        return "[?]"
    if isinstance(referrer, (set, frozenset)):
        return "{...}"
    if isinstance(referrer, types.CellType):
        return "(closure)"
    try:
        attrs = vars(referrer)
    except TypeError:
        attrs = None
    if isinstance(attrs, dict):
        for k, v in attrs.items():
            if v is child:
                return f".{k}"
    for k in getattr(type(referrer), "__slots__", ()) or ():
        if isinstance(k, str) and getattr(referrer, k, None) is child:
            return f".{k}"
    return f"({_type_name(referrer)})"


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = _type_name(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _binding_line(filename: str | None, name: str) -> int | None:
    """The first line of ``filename`` that binds ``name`` at module level (cheap text scan)."""
    if not filename or not filename.endswith(".py"):
        return None
    try:
        with open(filename, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if not line.startswith(name):
                    continue
                rest = line[len(name) :].lstrip()
                if rest[:1] in ("=", ":") and not rest.startswith("=="):
                    return number
                if rest.startswith(",") or rest.startswith("+="):
                    return number
    except OSError:
        return None
    return None


def _short(filename: str | None, code_root: str | None) -> str | None:
    if not filename:
        return None
    if code_root:
        try:
            rel = os.path.relpath(filename, code_root)
        except ValueError:
            rel = filename
        if not rel.startswith(".."):
            return rel
    return os.path.basename(filename)


def _module_file(mod: Any) -> str | None:
    """A module's file; for ``__main__`` after its script ended (Python deletes its
    ``__file__`` then: reports at exit), the script named by ``sys.argv[0]``."""
    filename = getattr(mod, "__file__", None)
    if filename is None and getattr(mod, "__name__", None) == "__main__":
        argv0 = sys.argv[0] if sys.argv else ""
        if argv0.endswith(".py") and os.path.isfile(argv0):
            filename = os.path.abspath(argv0)
    return filename


class _Roots:
    """Recognises roots among referrers; built once per :func:`retention` call."""

    def __init__(self) -> None:
        self.module_dicts: dict[int, Any] = {}
        for mod in list(sys.modules.values()):
            d = getattr(mod, "__dict__", None)
            if isinstance(d, dict):
                self.module_dicts[id(d)] = mod
        logging = sys.modules.get("logging")
        self.logger_type = getattr(logging, "Logger", None)
        threading = sys.modules.get("threading")
        self.thread_type = getattr(threading, "Thread", None)
        asyncio = sys.modules.get("asyncio")
        self.task_type = getattr(asyncio, "Task", None)
        self.loop_type = getattr(asyncio, "AbstractEventLoop", None)

    def root(self, ref: Any, child: Any, code_root: str | None) -> Retention | None:
        """A Retention when ``ref`` (holding ``child``) is a root, else None."""
        mod = self.module_dicts.get(id(ref))
        if mod is not None:
            name = _label(ref, child).lstrip(".")
            filename = _module_file(mod)
            return Retention(
                "module",
                f"{mod.__name__}.{name}",
                _short(filename, code_root),
                _binding_line(filename, name),
                root=mod,
            )
        if isinstance(ref, type):
            attr = "?"
            for k, v in vars(ref).items():
                if v is child:
                    attr = k
            mod = sys.modules.get(ref.__module__)
            filename = getattr(mod, "__file__", None)
            # the class's namespace dict itself: the next step down names the attribute
            name = ref.__qualname__ if attr == "?" else f"{ref.__qualname__}.{attr}"
            return Retention("class", name, _short(filename, code_root), None, root=ref)
        for kind, typ in (
            ("logger", self.logger_type),
            ("thread", self.thread_type),
            ("task", self.task_type),
            ("loop", self.loop_type),
        ):
            if typ is not None and isinstance(ref, typ):
                name = getattr(ref, "name", None) or _type_name(ref)
                label = _label(ref, child)
                steps = (label,) if label.startswith((".", "[")) else ()
                return Retention(kind, str(name), None, None, steps, root=ref)
        return None


def retention(
    obj: Any,
    *,
    depth: int = DEPTH,
    budget: float = BUDGET_S,
    code_root: str | None = None,
    ignore: tuple[Any, ...] = (),
) -> Retention | None:
    """The nearest root that keeps ``obj`` alive, with the path down to it; None if not found.

    ``ignore``: objects that hold ``obj`` only for the caller (its own lists, records).
    A class's namespace dict is followed to its class (a class attribute is a root);
    an instance's ``__dict__`` to its instance.
    """
    deadline = time.perf_counter() + budget
    walk = _Walk(obj, code_root, ignore)
    frontier: list[Any] = [obj]
    walk.skip.add(id(frontier))
    closed = True  # every referrer met was visited: a cycle if no root is found
    step = 0.0  # how long the last level took: a level is one heap scan, as long as the last
    for _level in range(depth):
        now = time.perf_counter()
        if now + step > deadline:  # the next scan would overrun the budget: stop before it
            return walk.fallback
        found, nxt = walk.level(frontier)
        step = time.perf_counter() - now
        if found is not None:
            return found
        if not nxt:
            break
        frontier = nxt
    else:
        closed = False
    if walk.fallback is not None:
        return walk.fallback
    if closed and len(walk.seen) > 1:
        # nothing but the object's own cycle points at it: garbage the collector will free
        return Retention("cycle", _type_name(obj), None, None, ("cycle",))
    return None


class _Walk:
    """The state of one upward walk: what was seen, how to walk back down, what to skip."""

    def __init__(self, obj: Any, code_root: str | None, ignore: tuple[Any, ...]) -> None:
        self.roots = _Roots()
        self.code_root = code_root
        self.own_frames: set[int] = set()
        f: types.FrameType | None = sys._getframe()
        while f is not None:
            self.own_frames.add(id(f))
            f = f.f_back
        # id(referrer) -> (the child it holds, the label): how to walk back down from a root
        self.parent: dict[int, tuple[Any, str]] = {}
        self.seen: set[int] = {id(obj)}
        self.skip: set[int] = {id(self.parent), id(self.seen), id(ignore), *map(id, ignore)}
        weakref = sys.modules.get("weakref")
        registry = getattr(getattr(weakref, "finalize", None), "_registry", None)
        if registry is not None:
            # finalizers hold their arguments until the object they watch dies: not a holder
            self.skip.add(id(registry))
        self.fallback: Retention | None = None

    def level(self, frontier: list[Any]) -> tuple[Retention | None, list[Any]]:
        """One level up: a root found, or the next frontier (one heap scan for all of it)."""
        by_id = {id(x): x for x in frontier}
        held = _held_by_running_frame(by_id, self.own_frames, self.code_root)
        if held is not None:
            return _finish(held[0], held[1], self.parent), []
        # without the own stack: a list holding this frame, held by this frame, would
        # keep both alive after the return, and the next walk would find it (a "frame")
        refs = [r for r in gc.get_referrers(*frontier) if id(r) not in self.own_frames]
        nxt: list[Any] = []
        self.skip.update((id(refs), id(by_id), id(nxt)))
        for ref in refs:
            if id(ref) in self.skip:
                continue
            child = next((c for c in gc.get_referents(ref) if id(c) in by_id), None)
            if child is None:
                continue
            found = self._root(ref, child)
            if found is not None:
                return found, []
            if id(ref) not in self.seen:
                self.seen.add(id(ref))
                step = (child, _label(ref, child))
                self.skip.add(id(step))
                self.parent[id(ref)] = step
                nxt.append(ref)
        return None, nxt

    def _root(self, ref: Any, child: Any) -> Retention | None:
        """The answer when ``ref`` is a root worth giving; a library's root is kept aside."""
        if isinstance(ref, types.FrameType) and not ref.f_code.co_flags & _SUSPENDABLE:
            code = ref.f_code
            where = f"{code.co_name}() at {_short(code.co_filename, self.code_root)}:{ref.f_lineno}"
            return _finish(Retention("frame", where, None, None, root=ref), child, self.parent)
        found = self.roots.root(ref, child, self.code_root)
        if found is None:
            return None
        if found.kind not in ("module", "class") or _is_users(found.root):
            return _finish(found, child, self.parent)
        # a library's or the standard library's own state: keep looking for the user's
        # name, and answer with this one if none is found
        if self.fallback is None:
            self.fallback = _finish(found, child, self.parent)
        self.seen.add(id(ref))  # never walk up through a module's or class's namespace
        return None


def _held_by_running_frame(
    by_id: dict[int, Any], own_frames: set[int], code_root: str | None
) -> tuple[Retention, Any] | None:
    """A local of a function running in another thread that is one of ``by_id``'s objects.

    A running frame's locals are invisible to ``gc.get_referrers`` (CPython 3.11+ keeps
    them outside any object the collector traverses), so the other threads' stacks are
    read directly.
    """
    try:
        frames = sys._current_frames()
    except Exception:
        return None
    # the own thread's entry is this very frame: kept in ``frames``, it would hold itself
    # (and, through f_back, the walk's frame and every object it saw) in a cycle
    frames.pop(_thread_ident(), None)
    for top in frames.values():
        f: types.FrameType | None = top
        while f is not None:
            if id(f) not in own_frames:
                try:
                    values = list(f.f_locals.values())
                except Exception:
                    values = []
                for value in values:
                    if id(value) in by_id:
                        code = f.f_code
                        where = f"{code.co_name}() at {_short(code.co_filename, code_root)}:{f.f_lineno}"
                        return Retention("frame", where, None, None, root=f), value
            f = f.f_back
    return None


def _thread_ident() -> int:
    import _thread

    return _thread.get_ident()


def _is_users(root: Any) -> bool:
    """A module or class of the user's code (not the standard library's, a package's, fdscope's)."""
    from fdscope.origins import _judge

    mod = (
        root
        if isinstance(root, types.ModuleType)
        else sys.modules.get(getattr(root, "__module__", ""))
    )
    filename = getattr(mod, "__file__", None)
    if not filename:
        return getattr(mod, "__name__", "") == "__main__"
    return _judge.judge_file(filename) == _judge.USER


def _finish(found: Retention, top: Any, parent: dict[int, tuple[Any, str]]) -> Retention:
    """Fill the path: from the root's direct child down to the object.

    ``steps``: the root's name, then each attribute or index on the way down (instance
    dicts and other plumbing are left out), then the object's type:
    ``('app._recent', '[3]', '.meta', '.client', ..., 'socket')``.
    """
    steps: list[str] = [found.name, *found.steps]
    objects: list[Any] = []
    node = top
    # ``parent`` maps a referrer to (the child it holds, the label): walk down from ``top``
    while True:
        objects.append(node)
        step = parent.get(id(node))
        if step is None:
            break
        child, label = step
        if label.startswith((".", "[")):
            steps.append(label)
        node = child
    steps.append(_type_name(node))
    if found.kind == "class" and "." not in found.name and len(steps) > 2:
        found.name += steps.pop(1)  # Cache + .items: the attribute of the class
        steps[0] = found.name
    found.steps = tuple(steps)
    found.path_objects = tuple(objects)
    return found


# types a downward search never enters: code and namespaces (every path through them is
# a path through some module), and leaves
_NOT_ENTERED = (
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.CodeType,
    types.FrameType,
    type,
    str,
    bytes,
    int,
    float,
    complex,
    bool,
    type(None),
)


_SKIPPED = frozenset(_NOT_ENTERED)
_PLAIN = frozenset((dict, list, tuple, set, frozenset))


def _user_roots(code_root: str | None) -> list[tuple[Retention, Any]]:
    """Module-level names and class attributes of the user's modules, with their values."""
    out: list[tuple[Retention, Any]] = []
    for mod in list(sys.modules.values()):
        if not isinstance(mod, types.ModuleType) or not _is_users(mod):
            continue
        filename = _module_file(mod)
        short = _short(filename, code_root)
        try:
            names = list(vars(mod).items())
        except TypeError:
            continue
        for name, value in names:
            if name.startswith("__"):
                continue
            if isinstance(value, type):
                if getattr(value, "__module__", None) != mod.__name__:
                    continue
                for attr, v in list(vars(value).items()):
                    if attr.startswith("__") or isinstance(v, _NOT_ENTERED):
                        continue
                    qual = f"{value.__qualname__}.{attr}"
                    out.append((Retention("class", qual, short, None, root=value), v))
                continue
            if isinstance(value, _NOT_ENTERED):
                continue
            found = Retention(
                "module", f"{mod.__name__}.{name}", short, _binding_line(filename, name), root=mod
            )
            out.append((found, value))
    return out


def held_from_roots(
    targets: list[Any],
    *,
    depth: int = 16,
    budget: float = BUDGET_S,
    code_root: str | None = None,
) -> dict[int, Retention]:
    """Which of ``targets`` a module-level name or class attribute of the user's code reaches.

    The downward counterpart of :func:`retention`: one breadth-first walk over
    ``gc.get_referents`` from every user root at once (modules, functions, classes and
    frames are not entered), so a handle deep inside a library's objects (a boto3
    client's pool: a dozen steps) costs one pass over what those roots reach, not a
    heap scan per step. Returns ``{id(target): Retention}`` for the targets found
    within ``depth`` steps and ``budget`` seconds; each path is the shortest.
    """
    deadline = time.perf_counter() + budget
    want = {id(t) for t in targets}
    found: dict[int, Retention] = {}
    if not want:
        return found
    # id(obj) -> (parent object or None, index of the root)
    parent: dict[int, tuple[Any, int]] = {}
    roots = _user_roots(code_root)
    frontier: list[Any] = []
    for index, (_root, value) in enumerate(roots):
        if id(value) in parent:
            continue
        parent[id(value)] = (None, index)
        frontier.append(value)
    for value in frontier:
        if id(value) in want:
            found[id(value)] = _down_path(value, parent, roots)
    for _level in range(depth):
        if len(found) == len(want) or not frontier:
            break
        nxt: list[Any] = []
        i = 0
        while i < len(frontier):  # the frontier grows while it is read (instance dicts)
            obj = frontier[i]
            i += 1
            if i % 256 == 0 and time.perf_counter() > deadline:
                return found
            for child, same_level in _children(obj, parent):
                if id(child) in want:
                    found[id(child)] = _down_path(child, parent, roots)
                (frontier if same_level else nxt).append(child)
        frontier = nxt
    return found


def _children(obj: Any, parent: dict[int, tuple[Any, int]]) -> list[tuple[Any, bool]]:
    """The objects ``obj`` refers to that the downward walk enters, each recorded in
    ``parent``; True beside an instance's own ``__dict__`` (no step of its own)."""
    own = None
    if type(obj) not in _PLAIN:
        try:
            own = obj.__dict__
        except Exception:
            own = None
    out: list[tuple[Any, bool]] = []
    for child in gc.get_referents(obj):
        key = id(child)
        if key in parent:
            continue
        ctp = type(child)
        if ctp in _SKIPPED or (ctp not in _PLAIN and isinstance(child, _NOT_ENTERED)):
            continue
        parent[key] = (obj, -1)
        out.append((child, child is own))
    return out


def _down_path(
    obj: Any, parent: dict[int, tuple[Any, int]], roots: list[tuple[Retention, Any]]
) -> Retention:
    """The Retention of ``obj`` found walking down: its root and the steps from it."""
    chain: list[Any] = [obj]
    node = obj
    while True:
        up, index = parent[id(node)]
        if up is None:
            break
        chain.append(up)
        node = up
    chain.reverse()  # the root's value first
    base = roots[index][0]
    steps = [base.name]
    for above, below in zip(chain, chain[1:], strict=False):
        label = _label(above, below)
        if label.startswith((".", "[")):
            steps.append(label)
    steps.append(_type_name(obj))
    return Retention(
        base.kind,
        base.name,
        base.file,
        base.line,
        tuple(steps),
        root=base.root,
        path_objects=tuple(chain),
    )
