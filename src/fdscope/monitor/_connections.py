"""Connections this process made: a counter in ``socket.socket.connect`` and ``connect_ex``.

Every pure-Python client reaches the network through these two methods of Python's
socket class (botocore/urllib3, requests, httpx, http.client, redis-py, pymysql,
asyncio's ``sock_connect``, ``ssl.SSLSocket``, which calls them), so a counter there
sees each TCP connection (IPv4 or IPv6) this process starts, including one closed
before the invocation ends. The cost is paid per connect (an attribute check and
``next()`` on a counter: well under a microsecond beside the system call), never per
invocation: :func:`made` reads the counter.

What is not seen: C code that calls ``connect(2)`` itself (libpq under psycopg, gRPC's C
core, libcurl under pycurl, the MySQL C client), and sockets of a class that does not
inherit these methods (gevent and eventlet replace ``socket.socket`` after monkey
patching: :func:`active` then says so). The monitor adds, on invocations it lists
descriptors, connected TCP sockets that opened during the invocation and that the
counter did not see (:data:`SEEN`).

Fail open: :func:`install` never raises into the caller's code path, and a wrapper
that cannot classify a socket lets the connect through uncounted. Standard library
only; ``socket`` is imported by the caller, never here at import.
"""

from __future__ import annotations

import errno
import itertools
import sys

TYPE_CHECKING = False  # typing costs milliseconds to import
if TYPE_CHECKING:
    from typing import Any

_COUNT = itertools.count()  # next() is atomic under the GIL: no update is ever lost
SEEN: set[int] = set()  # descriptors connected through the wrapper since the last clear
_SEEN_MAX = 4096  # bounded: cleared by the monitor at each invocation's start
_IN_PROGRESS = (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK)  # non-blocking, under way
_installed: dict[str, Any] = {}  # "cls", "connect", "connect_ex": what was replaced


def made() -> int:
    """Connections counted in this process since the wrapper was installed."""
    text = repr(_COUNT)  # "count(N)": reads the counter without moving it
    return int(text[6:-1])


def _note(sock: Any) -> None:
    """Count ``sock`` if it is a TCP socket (IPv4 or IPv6); never raises."""
    try:
        import socket  # already imported: the socket being connected comes from it

        if sock.type == socket.SOCK_STREAM and sock.family in (socket.AF_INET, socket.AF_INET6):
            next(_COUNT)
            if len(SEEN) < _SEEN_MAX:
                SEEN.add(sock.fileno())
    except Exception:
        pass


def _wrappers(real_connect: Any, real_connect_ex: Any) -> tuple[Any, Any]:
    def connect(self: Any, address: Any) -> None:
        try:
            real_connect(self, address)
        except (BlockingIOError, InterruptedError):
            _note(self)  # a non-blocking connect under way (asyncio): counted when started
            raise
        _note(self)

    def connect_ex(self: Any, address: Any) -> int:
        rc = real_connect_ex(self, address)
        if rc == 0 or rc in _IN_PROGRESS:
            _note(self)
        return rc

    for fn, real in ((connect, real_connect), (connect_ex, real_connect_ex)):
        fn.__name__ = real.__name__
        fn.__qualname__ = getattr(real, "__qualname__", real.__name__)
        fn.__doc__ = real.__doc__
        fn.__wrapped__ = real  # type: ignore[attr-defined,union-attr]
        fn._fdscope_counter = True  # type: ignore[attr-defined,union-attr]
    return connect, connect_ex


def loaded() -> bool:
    """The program has imported ``socket`` (asked without importing it: ~3 ms of a cold
    start; Lambda's runtime client does not import it). Before, no Python socket exists."""
    return "socket" in sys.modules


def active() -> bool:
    """The counter sits in the ``socket.socket`` class in use now."""
    mod = sys.modules.get("socket")
    if mod is None:
        return False
    cls = getattr(mod, "socket", None)
    return cls is not None and bool(
        getattr(getattr(cls, "connect", None), "_fdscope_counter", False)
    )


def install() -> bool:
    """Put the counter in ``socket.socket`` (imported by the caller); True when it is there.

    Idempotent. A class replaced since (gevent's) gets the counter too, when its
    methods can be wrapped; otherwise False (then the count cannot be trusted).
    """
    if active():
        return True
    mod = sys.modules.get("socket")
    cls = getattr(mod, "socket", None) if mod is not None else None
    if cls is None:
        return False
    try:
        real_connect, real_connect_ex = cls.connect, cls.connect_ex
        connect, connect_ex = _wrappers(real_connect, real_connect_ex)
        cls.connect = connect
        cls.connect_ex = connect_ex
    except Exception:
        return False
    if not _installed:
        _installed.update(cls=cls, connect=real_connect, connect_ex=real_connect_ex)
    return active()


def uninstall() -> None:
    """Restore the methods :func:`install` replaced first (when they are still ours)."""
    cls = _installed.get("cls")
    if cls is None:
        return
    for name in ("connect", "connect_ex"):
        if getattr(getattr(cls, name, None), "_fdscope_counter", False):
            if _installed[name] is getattr(cls.__mro__[1], name, None):
                delattr(cls, name)  # it was inherited (the C method): inherit it again
            else:
                setattr(cls, name, _installed[name])
    _installed.clear()
