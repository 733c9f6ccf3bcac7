"""The tracker: wrappers, the audit-hook safety net, the registry of records.

How each creator is seen (CPython 3.10+):

=============================================  ==========================================
call                                           how
=============================================  ==========================================
``open``, ``io.open``, ``os.open``             wrapper (sees the fd)
``socket.socket`` and everything built on it   wrapper of ``socket.socket.__init__``
(``socketpair``, ``accept``,                   (sees the fd)
``create_connection``, ``fromfd``, ``dup``,
``ssl``)
``os.pipe``, ``os.pipe2``, ``os.dup``,         wrapper (CPython has no audit event)
``os.dup2``, ``os.eventfd``,
``os.memfd_create``
``select.epoll``/``kqueue``/``devpoll``        wrapper type (no audit event), also put
                                               into ``selectors``' classes
``mmap.mmap``                                  wrapper type (finds the descriptor mmap
                                               duplicates)
``subprocess.Popen``                           wrapper (the child process); its pipes
                                               come through ``os.pipe``
``sqlite3.connect`` and known C connect        wrapper that gives every descriptor the
functions (``psycopg2.connect``, …)            call made while it ran; wrapped when the
                                               module is imported (a ``sys.meta_path``
                                               watcher), or at ``track()``
``tempfile``, ``asyncio`` loops                through ``os.open`` / ``socket`` /
                                               ``select.epoll`` above
``threading.Thread.start``                     wrapper (threads are handles of their own)
anything else made in C, or through a          first seen: at the end of the next tracked
reference taken before ``track()``             call (the kernel's lowest-free number shows
                                               a gap below it) or at report time, with the
                                               stack running then, ``approximate``
same, with ``track(audit=True)``               PEP 578 audit events ``open``,
                                               ``socket.__new__``, ``sqlite3.connect``:
                                               the exact stack, bound to its fd by path or
                                               socket object at the next report
=============================================  ==========================================

Why wrappers first and audit hooks only on request: a wrapper sees the
descriptor it returns and can be removed by :func:`stop`; an audit event
fires before the descriptor exists, a hook can never be removed, and on
CPython 3.11 every ``frame.f_code`` read and every ``sys._getframe`` call
raises an audit event once any hook is installed - so a hook taxes every stack
walk in the process, tracking's own included (``bench/origins.py`` shows the
figures). With ``audit=True`` the hook returns at its first test while
tracking is off.

A record is ``(ref, ino, api, stack, approximate, sampled)`` keyed by fd:
``ref`` a weak reference to the Python object owning the fd (identity: it is
alive and its ``fileno()`` is still the fd), else ``ino`` from ``fstat``
(identity: the inode the inventory sees). A stack is a flat tuple
``(user_index, code, lasti, code, lasti, ...)``; lines are resolved only when a
report is made.
"""

from __future__ import annotations

import _thread
import _weakref
import builtins
import io
import os
import sys
from collections import deque
from typing import Any

from fdscope.origins import _judge

# ---------------------------------------------------------------- state
_active = False
_sample = 1
_depth = 8
_MAX_WALK = 64  # frames walked at most looking for the user's line

# fd -> (ref, ino, api, stack, approximate, sampled)
_reg: dict[int, tuple[Any, int | None, str, tuple[Any, ...], bool, bool]] = {}
_baseline: dict[int, int | None] = {}  # fds open when tracking started -> inode
_counts: dict[Any, int] = {}  # sampling: creations per site
_stacks: dict[Any, tuple[Any, ...]] = {}  # sampling: last recorded stack per site
# id(obj) -> (weak reference, start stack): threads started and child processes spawned
_threads: dict[int, tuple[Any, tuple[Any, ...]]] = {}
_procs: dict[int, tuple[Any, tuple[Any, ...]]] = {}
_pending: deque[tuple[str, Any, tuple[Any, ...]]] = deque(maxlen=1024)  # audit safety net
_by_file = _judge._by_file
_lock = _thread.RLock()
_hook_installed = False
_started = False  # tracking ran at least once: the baseline exists
_audit_on = False  # the audit-hook safety net is opt-in: see start()
_fork_registered = False
_warn_at = 1 << 62
_known_below = 0  # every fd below this number is recorded or in the baseline
_on_warn: Any = None
_originals: dict[tuple[Any, str], tuple[Any, Any]] = {}  # (owner, name) -> (original, ours)
_wrapper_codes: set[int] = set()  # ids of the wrappers' code objects
_fstat = os.fstat
_getframe = sys._getframe
_ref = _weakref.ref
_FDSCOPE = _judge.FDSCOPE

# Extra C-level connect functions: descriptors they make are attributed to the call.
C_CALLS = (
    "sqlite3:connect",
    "sqlite3.dbapi2:connect",
    "psycopg2:connect",
    "psycopg:connect",
    "MySQLdb:connect",
    "pymssql:connect",
    "cx_Oracle:connect",
    "oracledb:connect",
    "grpc:insecure_channel",
    "grpc:secure_channel",
    "zmq:Context",
)
_extra_calls: list[str] = []


def _code_kind(code: Any) -> int:
    return _judge.judge_file(code.co_filename)


# ---------------------------------------------------------------- stacks
def _capture(frame: Any) -> tuple[Any, ...]:
    """``(user_index, code, lasti, code, lasti, ...)``: the called library frame (if any),
    then up to ``depth`` frames from the user's; ``user_index`` -1 when no user frame ran."""
    prev = None
    f = frame
    n = 0
    kinds = _by_file  # keyed by filename: a str caches its hash, a code object does not
    while f is not None and n < _MAX_WALK:
        code = f.f_code
        if code is _handle_run_code and _task_sites:
            # the walk left an asyncio task before reaching the user's code: the task's
            # own creation site (inherited by tasks it started) says more than the
            # frame that runs the event loop
            inherited = _task_stack()
            if inherited is not None:
                return inherited
        kind = kinds.get(code.co_filename)
        if kind is None:
            kind = _code_kind(code)
        if kind == 0:  # USER
            break
        if kind != 3:  # not FDSCOPE
            prev = f
        f = f.f_back
        n += 1
    else:
        f = None
    if f is None:
        # No user frame: inside an asyncio task, the user's line that started the task
        # (asyncio.gather, create_task, anyio's task groups) is the creation site.
        if _task_sites:
            inherited = _task_stack()
            if inherited is not None:
                return inherited
        # Else keep the first frames that are not fdscope's own.
        out: list[Any] = [-1]
        f = frame
        while f is not None and len(out) < 2 * _depth + 1:
            if _code_kind(f.f_code) != _FDSCOPE:
                out.append(f.f_code)
                out.append(f.f_lasti)
            f = f.f_back
        return tuple(out)
    out = [0] if prev is None else [1, prev.f_code, prev.f_lasti]
    append = out.append
    d = _depth
    while f is not None and d:
        append(f.f_code)
        append(f.f_lasti)
        f = f.f_back
        d -= 1
    return tuple(out)


def current_stack(skip: int = 1) -> tuple[Any, ...]:
    """The stack of the caller (``skip`` frames up), in record form."""
    return _capture(_getframe(skip + 1))


# ---------------------------------------------------------------- records
def _ino(fd: int) -> int | None:
    try:
        return _fstat(fd).st_ino
    except OSError:
        return None


def _record(fd: int, obj: Any, api: str, frame: Any, approximate: bool = False) -> None:
    if fd < 0:
        return
    sampled = False
    if _sample == 1:
        if _by_file.get(frame.f_code.co_filename) == _FDSCOPE:
            return  # fdscope's own descriptors (the inventory's reserve, ...) are not the user's
        stack = _capture(frame)
    else:
        # Sampling (inlined: this is the path that must stay cheap): find the user's frame,
        # count creations there, take a full stack for the first and then one in N.
        kinds = _by_file
        f = frame
        n = 0
        while f is not None and n < _MAX_WALK:
            code = f.f_code
            kind = kinds.get(code.co_filename)
            if kind is None:
                kind = _code_kind(code)
            if kind == 0:
                break
            if kind == 3 and not n:
                return  # fdscope's own descriptors are not the user's
            f = f.f_back
            n += 1
        else:
            f = None
        if f is None:
            f = frame
        # code address (16-byte aligned, < 2**48) and offset in one int under 2**60 (fast);
        # the code stays alive in _stacks, so its address is not reused meanwhile
        key = (id(f.f_code) >> 4 << 16) | f.f_lasti
        c = _counts.get(key, 0)
        _counts[key] = c + 1
        last = _stacks.get(key) if c % _sample else None
        if last is None:
            stack = _stacks[key] = _capture(frame)
        else:
            stack = last
            sampled = True
    if obj is not None:
        try:
            ref: Any = _ref(obj)
            ino = None
        except TypeError:
            ref, ino = None, _ino(fd)
    else:
        ref, ino = None, _ino(fd)
    _reg[fd] = (ref, ino, api, stack, approximate, sampled)
    if fd > _known_below:
        _check_below(fd, stack)
    if fd >= _warn_at and _on_warn is not None:
        _on_warn()


def _known(fd: int) -> bool:
    """True when ``fd`` has a live record or is the baseline's still (identity checked)."""
    rec = _reg.get(fd)
    if rec is not None:
        ref = rec[0]
        if ref is not None:
            obj = ref()
            try:
                if obj is not None and obj.fileno() == fd:
                    return True
            except Exception:
                pass
        elif rec[1] is not None and rec[1] == _ino(fd):
            return True
        if _reg.get(fd) is rec:
            del _reg[fd]  # stale: closed, and the number reused
    base = _baseline.get(fd, -1)
    if base != -1:
        if base == _ino(fd):
            return True
        del _baseline[fd]
    return False


def _check_below(fd: int, stack: tuple[Any, ...]) -> None:
    """The kernel hands out the lowest free number, so every fd below ``fd`` is open:
    one that is neither recorded nor in the baseline was made where no wrapper saw it."""
    global _known_below
    n = _known_below
    while n < fd and _known(n):
        n += 1
    if n < fd:
        _scan(stack)
        while n < fd and _known(n):
            n += 1
    _known_below = n


def _list_fds() -> set[int]:
    """Open fds of this process (without the one the listing itself used)."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return set()
    out = set()
    for name in names:
        fd = int(name)
        try:
            _fstat(fd)
        except OSError:
            continue  # the listing's own descriptor, closed by now
        out.add(fd)
    return out


def _scan(
    stack: tuple[Any, ...],
    api: str | None = None,
    fds: set[int] | None = None,
    approximate: bool = True,
) -> None:
    """Attribute every open fd without a record: audit match first, else ``stack``."""
    found = _list_fds() if fds is None else fds
    for fd in sorted(found):
        if _known(fd):
            continue
        if not _adopt_pending(fd):
            # only if still unrecorded: another thread may have recorded its own fd (exact)
            # between the check above and now; dict.setdefault decides that atomically
            _reg.setdefault(fd, (None, _ino(fd), api or "", stack, approximate, False))


def _target(fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def _adopt_pending(fd: int, path: str | None = None, inode: int | None = None) -> bool:
    """Bind fd to a creation the audit hook saw without a wrapper (exact site)."""
    if not _pending:
        return False
    if path is None:
        path = _target(fd)
    for i in range(len(_pending) - 1, -1, -1):
        event, key, stack = _pending[i]
        if event == "socket.__new__":
            sock = key()
            if sock is None:
                continue
            try:
                same = sock.fileno() == fd
            except Exception:
                same = False
            if same:
                del _pending[i]
                _reg[fd] = (key, None, "socket.socket", stack, False, False)
                return True
        elif path is not None and key == path:
            del _pending[i]
            api = "sqlite3.connect" if event == "sqlite3.connect" else "open"
            _reg[fd] = (None, inode if inode is not None else _ino(fd), api, stack, False, False)
            return True
    return False


def valid_record(fd: int, inode: int | None) -> tuple[Any, ...] | None:
    """The live record of ``fd`` if its identity still matches, else ``None`` (stale ones go)."""
    rec = _reg.get(fd)
    if rec is None:
        return None
    ref, ino = rec[0], rec[1]
    ok = True
    if ref is not None:
        obj = ref()
        if obj is None:
            ok = False
        else:
            try:
                ok = obj.fileno() == fd
            except Exception:
                ok = False
    elif ino is not None and inode is not None:
        ok = ino == inode
    if not ok:
        global _known_below
        if _reg.get(fd) is rec:
            del _reg[fd]
        _known_below = min(_known_below, fd)
        return None
    return rec


def adopt_unrecorded(fd: int, path: str | None, inode: int | None, stack: tuple[Any, ...]) -> bool:
    """Report time: bind an unrecorded fd (audit match, else ``stack`` approximate)."""
    if not _started:
        return False  # never tracked: nothing is known about any descriptor
    if fd in _baseline and (inode is None or _baseline[fd] in (None, inode)):
        return False
    _baseline.pop(fd, None)
    if _adopt_pending(fd, path, inode):
        return True
    if stack[0] == -1:
        # No user frame running (a runtime's own connection between invocations):
        # remember it as not the user's, so the next tracked call does not claim it.
        if inode is not None:
            _baseline[fd] = inode
        return False
    _reg.setdefault(fd, (None, inode, "", stack, True, False))  # an exact record wins
    return True


def checkpoint() -> int:
    """Mark every descriptor open now that has no record as not the user's (unattributed).

    For harnesses: call it where no user code runs (before the first invocation,
    between invocations) so descriptors the runtime makes in C there are not given
    the user's next line. Returns how many were marked.
    """
    marked = 0
    with _lock:
        for fd in _list_fds():
            if not _known(fd):
                ino = _ino(fd)
                if ino is not None:
                    _baseline[fd] = ino
                    marked += 1
    return marked


def _adopt(fd: int, obj: Any, api: str, frame: Any) -> None:
    """``open(fd)`` / ``socket(fileno=fd)``: a new object for a descriptor that exists.

    The creation site stays the one that made the descriptor (``os.pipe`` then
    ``os.fdopen``: the pipe's line); only the identity moves to the new object.
    """
    rec = _reg.get(fd)
    if rec is not None and rec[0] is None and rec[1] is not None and rec[1] == _ino(fd):
        try:
            _reg[fd] = (_ref(obj), None, rec[2], rec[3], rec[4], rec[5])
            return
        except TypeError:
            return
    _record(fd, obj, api, frame)


# ---------------------------------------------------------------- wrappers
def _fd_func(orig: Any, api: str) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fd = orig(*args, **kwargs)
        if _active:
            try:
                _record(fd, None, api, _getframe(1))
            except Exception:
                pass
        return fd

    wrapper.__wrapped__ = orig  # type: ignore[attr-defined]
    wrapper.__name__ = getattr(orig, "__name__", api)
    wrapper.__doc__ = getattr(orig, "__doc__", None)
    _wrapper_codes.add(id(wrapper.__code__))
    return wrapper


def _pipe_func(orig: Any, api: str) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        pair = orig(*args, **kwargs)
        if _active:
            try:
                frame = _getframe(1)
                _record(pair[0], None, api, frame)
                _record(pair[1], None, api, frame)
            except Exception:
                pass
        return pair

    wrapper.__wrapped__ = orig  # type: ignore[attr-defined]
    wrapper.__name__ = getattr(orig, "__name__", api)
    wrapper.__doc__ = getattr(orig, "__doc__", None)
    _wrapper_codes.add(id(wrapper.__code__))
    return wrapper


def _open_func(orig: Any, api: str) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        f = orig(*args, **kwargs)
        if _active:
            try:
                if args and type(args[0]) is int:
                    _adopt(f.fileno(), f, api, _getframe(1))
                else:
                    _record(f.fileno(), f, api, _getframe(1))
            except Exception:
                pass
        return f

    wrapper.__wrapped__ = orig  # type: ignore[attr-defined]
    wrapper.__name__ = getattr(orig, "__name__", api)
    wrapper.__doc__ = getattr(orig, "__doc__", None)
    _wrapper_codes.add(id(wrapper.__code__))
    return wrapper


def _socket_init(orig: Any) -> Any:
    def __init__(
        self: Any, family: Any = -1, type: Any = -1, proto: Any = -1, fileno: Any = None
    ) -> None:  # noqa: A002
        orig(self, family, type, proto, fileno)
        if _active:
            try:
                if fileno is None:
                    _record(self.fileno(), self, "socket.socket", _getframe(1))
                else:
                    _adopt(self.fileno(), self, "socket.socket", _getframe(1))
            except Exception:
                pass

    __init__.__wrapped__ = orig  # type: ignore[attr-defined]
    _wrapper_codes.add(id(__init__.__code__))
    return __init__


class _ProxyMeta(type):
    """A stand-in for a C type that cannot be subclassed: calls are tracked, the rest delegates."""

    _orig: Any
    _api: str
    _mmap: bool

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        obj = cls._orig(*args, **kwargs)
        if not _active:
            return obj
        try:
            frame = _getframe(1)
            if cls._mmap:
                # mmap duplicates the descriptor it maps and does not show the copy: find it.
                src = args[0] if args else kwargs.get("fileno", -1)
                if src is not None and src >= 0:
                    st = _fstat(src)
                    fds = [
                        fd
                        for fd in _list_fds()
                        if fd != src and fd not in _reg and fd not in _baseline and _same(fd, st)
                    ]
                    if fds:
                        _record(max(fds), None, cls._api, frame)
            else:
                _record(obj.fileno(), obj, cls._api, frame)
        except Exception:
            pass
        return obj

    def __instancecheck__(cls, inst: Any) -> bool:
        return isinstance(inst, cls._orig)

    def __subclasscheck__(cls, sub: Any) -> bool:
        return issubclass(sub, cls._orig)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls._orig, name)


def _same(fd: int, st: Any) -> bool:
    try:
        other = _fstat(fd)
    except OSError:
        return False
    return (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino)


def _proxy(orig: Any, api: str, mmap: bool = False) -> Any:
    return _ProxyMeta(
        orig.__name__, (), {"_orig": orig, "_api": api, "_mmap": mmap, "__doc__": orig.__doc__}
    )


def _popen_init(orig: Any) -> Any:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        if _active:
            try:
                _procs[id(self)] = (_ref(self), _capture(_getframe(1)))
            except Exception:
                pass

    __init__.__wrapped__ = orig  # type: ignore[attr-defined]
    _wrapper_codes.add(id(__init__.__code__))
    return __init__


def _thread_start(orig: Any) -> Any:
    def start(self: Any) -> None:
        if _active:
            try:
                _threads[id(self)] = (_ref(self), _capture(_getframe(1)))
            except Exception:
                pass
        orig(self)

    start.__wrapped__ = orig  # type: ignore[attr-defined]
    _wrapper_codes.add(id(start.__code__))
    return start


# ---------------------------------------------------------------- asyncio tasks
# id(task) -> (creation stack, weak reference whose callback drops the entry)
_task_sites: dict[int, tuple[tuple[Any, ...], Any]] = {}
_handle_run_code: Any = None  # asyncio.events.Handle._run: where a task step starts


def _task_stack() -> tuple[Any, ...] | None:
    """The creation stack recorded for the running asyncio task, or None."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running event loop in this thread
        return None
    entry = _task_sites.get(id(task)) if task is not None else None
    return entry[0] if entry is not None else None


def _create_task(orig: Any) -> Any:
    """Wrap ``BaseEventLoop.create_task``: remember the user's line that started a task.

    A descriptor made inside a task has no user frame on its stack when the task
    was started by library code on the user's behalf (``asyncio.gather``, anyio's
    task groups); it then takes the stack recorded here, which itself inherits
    from the task that was running when this one was created.
    """

    def create_task(self: Any, coro: Any, *args: Any, **kwargs: Any) -> Any:
        task = orig(self, coro, *args, **kwargs)
        if _active:
            try:
                stack = _capture(_getframe(1))
                if stack[0] != -1:
                    key = id(task)
                    ref = _ref(task, lambda _r, k=key: _task_sites.pop(k, None))  # type: ignore[misc]
                    _task_sites[key] = (stack, ref)
            except Exception:
                pass
        return task

    create_task.__wrapped__ = orig  # type: ignore[attr-defined]
    _wrapper_codes.add(id(create_task.__code__))
    return create_task


def _patch_asyncio() -> None:
    global _handle_run_code
    base_events = sys.modules.get("asyncio.base_events")
    if base_events is None:
        return
    _handle_run_code = base_events.events.Handle._run.__code__
    loop_cls = base_events.BaseEventLoop
    if (loop_cls, "create_task") not in _originals:
        _patch(loop_cls, "create_task", _create_task(loop_cls.__dict__["create_task"]))


def _c_call(orig: Any, api: str) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _active:
            return orig(*args, **kwargs)
        before = _list_fds()
        try:
            return orig(*args, **kwargs)
        finally:
            try:
                new = _list_fds() - before
                if new:
                    _scan(_capture(_getframe(1)), api, new, approximate=False)
            except Exception:
                pass

    wrapper.__wrapped__ = orig  # type: ignore[attr-defined]
    wrapper.__name__ = getattr(orig, "__name__", api)
    _wrapper_codes.add(id(wrapper.__code__))
    return wrapper


def _patch(owner: Any, name: str, new: Any) -> None:
    key = (owner, name)
    if key in _originals:
        return
    orig = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    _originals[key] = (orig, new)
    setattr(owner, name, new)


def _patch_c_calls() -> None:
    _patch_asyncio()
    for target in (*C_CALLS, *_extra_calls):
        module_name, _, attr = target.partition(":")
        module = sys.modules.get(module_name)
        if module is None or (module, attr) in _originals:
            continue
        orig = getattr(module, attr, None)
        if orig is None:
            continue
        _patch(module, attr, _c_call(orig, f"{module_name}.{attr}"))


class _ImportWatch:
    """A ``sys.meta_path`` finder: wraps the known C connect functions as their modules load."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if not _active or name not in _watched_modules():
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_and_patch(module: Any) -> None:
            exec_module(module)
            if _active:
                _patch_c_calls()

        try:
            loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        except (AttributeError, TypeError):
            pass
        return spec


def _watched_modules() -> set[str]:
    return {"asyncio.base_events", *(t.partition(":")[0] for t in (*C_CALLS, *_extra_calls))}


_import_watch = _ImportWatch()


def wrap_c_call(target: str) -> None:
    """Attribute descriptors a C-level call makes to its caller (``"module:function"``)."""
    if target not in _extra_calls:
        _extra_calls.append(target)
    if _active:
        _patch_c_calls()


def _install_wrappers() -> None:
    import mmap
    import select
    import selectors
    import socket
    import subprocess
    import threading

    _patch(builtins, "open", _open_func(builtins.open, "open"))
    _patch(io, "open", _open_func(io.open, "open"))
    _patch(os, "open", _fd_func(os.open, "os.open"))
    _patch(os, "dup", _fd_func(os.dup, "os.dup"))
    _patch(os, "dup2", _fd_func(os.dup2, "os.dup2"))
    _patch(os, "pipe", _pipe_func(os.pipe, "os.pipe"))
    for name in ("pipe2", "eventfd", "memfd_create"):
        if hasattr(os, name):
            maker = _pipe_func if name == "pipe2" else _fd_func
            _patch(os, name, maker(getattr(os, name), f"os.{name}"))
    _patch(socket.socket, "__init__", _socket_init(socket.socket.__init__))
    for name, selector in (
        ("epoll", "EpollSelector"),
        ("kqueue", "KqueueSelector"),
        ("devpoll", "DevpollSelector"),
    ):
        orig = getattr(select, name, None)
        if orig is None:
            continue
        proxy = _proxy(orig, f"select.{name}")
        _patch(select, name, proxy)
        cls = getattr(selectors, selector, None)
        if cls is not None and "_selector_cls" in cls.__dict__:
            _patch(cls, "_selector_cls", proxy)
    _patch(mmap, "mmap", _proxy(mmap.mmap, "mmap.mmap", mmap=True))
    _patch(subprocess.Popen, "__init__", _popen_init(subprocess.Popen.__init__))
    _patch(threading.Thread, "start", _thread_start(threading.Thread.start))
    _patch_c_calls()
    if _import_watch not in sys.meta_path:
        sys.meta_path.insert(0, _import_watch)


def _remove_wrappers() -> None:
    if _import_watch in sys.meta_path:
        sys.meta_path.remove(_import_watch)
    for (owner, name), (orig, new) in reversed(list(_originals.items())):
        current = (
            owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
        )
        if current is not new:
            continue  # patched again by someone else since: leave theirs (ours passes through)
        try:
            setattr(owner, name, orig)
        except (AttributeError, TypeError):  # pragma: no cover
            pass
    _originals.clear()


# ---------------------------------------------------------------- audit hook
_HOOK_EVENTS = frozenset({"open", "socket.__new__", "sqlite3.connect"})


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _audit_on or event not in _HOOK_EVENTS:
        return
    try:
        frame = _getframe(1)
        if id(frame.f_code) in _wrapper_codes:
            return  # a wrapper sees this one, with its fd
        if event == "socket.__new__":
            _pending.append((event, _ref(args[0]), _capture(frame)))
            return
        path = args[0]
        if isinstance(path, int) or path is None:
            return  # wraps an existing fd
        path = os.fsdecode(path)
        if path in (":memory:", ""):
            return
        _pending.append((event, os.path.realpath(path), _capture(frame)))
    except Exception:
        pass


# ---------------------------------------------------------------- fork
def _before_fork() -> None:
    _lock.acquire()


def _after_fork_parent() -> None:
    _lock.release()


def _after_fork_child() -> None:
    global _lock
    _lock = _thread.RLock()


# ---------------------------------------------------------------- on / off
def start(sample: int = 1, depth: int = 8, audit: bool = False) -> None:
    """Install wrappers (and, with ``audit``, once, the audit hook); record from now on.

    The audit hook is opt-in because CPython cannot remove one, and once any hook is
    installed every ``frame.f_code`` and ``sys._getframe`` in the process raises an
    audit event through it (tracking's own stack walks included).
    """
    global _active, _sample, _depth, _hook_installed, _fork_registered, _audit_on, _started
    with _lock:
        _started = True
        _sample = max(1, int(sample))
        _depth = max(1, int(depth))
        if not _active:
            if not _reg and not _baseline:
                for fd in _list_fds():
                    ino = _ino(fd)  # None: the listing's own descriptor, closed by now
                    if ino is not None:
                        _baseline[fd] = ino
            _install_wrappers()
            if not _fork_registered:
                os.register_at_fork(
                    before=_before_fork,
                    after_in_parent=_after_fork_parent,
                    after_in_child=_after_fork_child,
                )
                _fork_registered = True
            _active = True
        if audit and not _hook_installed:
            sys.addaudithook(_audit)
            _hook_installed = True
        _audit_on = bool(audit)


def stop() -> None:
    """Remove the wrappers; the audit hook stays (it cannot go) but returns at once."""
    global _active, _audit_on
    with _lock:
        _active = False
        _audit_on = False
        _remove_wrappers()


def is_active() -> bool:
    return _active


def set_warning(threshold: int, callback: Any) -> None:
    """Call ``callback()`` when a tracked call returns a descriptor number >= ``threshold``."""
    global _warn_at, _on_warn
    _warn_at = threshold
    _on_warn = callback


def clear() -> None:
    """Forget every record (tests)."""
    global _known_below, _started
    with _lock:
        _started = _active
        _known_below = 0
        _reg.clear()
        _baseline.clear()
        _counts.clear()
        _stacks.clear()
        _threads.clear()
        _procs.clear()
        _pending.clear()
        _task_sites.clear()
