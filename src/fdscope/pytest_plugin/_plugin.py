"""The leak checker: a fast identity map of descriptors around each test, details on a change."""

from __future__ import annotations

import collections
import contextlib
import fnmatch
import functools
import gc
import io
import os
import socket
import sys
import types
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from fdscope.errors import FdscopeError

_FD_DIR = "/proc/self/fd"
Key = tuple[object, ...]


class FdLeakWarning(pytest.PytestWarning):
    """A test left descriptors open (``--fd-leaks=warn``)."""


class IgnorePatternError(FdscopeError):
    """An ``fd_leaks_ignore`` pattern is not ``kind:``, ``path:`` or ``endpoint:``."""


class MarkerError(FdscopeError):
    """An ``fd_leaks`` marker names a mode outside off|warn|fail, or a bad ignore pattern."""


_MODES = ("off", "warn", "fail")


@dataclass(frozen=True, slots=True)
class Leak:
    """One handle a test opened and left open, with where it was created (None if unknown)."""

    fd: int
    description: str
    site: str | None

    def line(self) -> str:
        where = f"\n      created at {self.site}" if self.site else ""
        return f"  fd {self.fd}: {self.description}{where}"


def fd_keys() -> dict[int, Key] | None:
    """fd -> identity key (inode/device for paths, link text for the rest); None without /proc."""
    try:
        names = os.listdir(_FD_DIR)
    except OSError:
        return None
    out: dict[int, Key] = {}
    for name in names:
        fd = int(name)
        try:
            target = os.readlink(f"{_FD_DIR}/{name}")
        except OSError:
            continue  # the listing's own descriptor, or closed meanwhile
        if target.startswith("/"):
            try:
                st = os.fstat(fd)
            except OSError:
                continue
            # a file deleted while open changes its link text, not its identity
            out[fd] = ("file", st.st_ino, st.st_dev)
        else:
            out[fd] = (target,)  # socket:[inode], pipe:[inode], anon_inode:[eventpoll]
    return out


def new_fds(before: dict[int, Key], after: dict[int, Key]) -> list[int]:
    """Descriptors of ``after`` whose identity ``before`` did not hold (as a multiset)."""
    left = Counter(before.values())
    out: list[int] = []
    for fd in sorted(after, key=lambda n: (before.get(n) != after[n], n)):
        key = after[fd]
        if left[key] > 0:
            left[key] -= 1
        else:
            out.append(fd)
    return sorted(out)


def parse_ignore(patterns: list[str]) -> list[tuple[str, str]]:
    """``kind:pipe``, ``path:/dev/shm/*``, ``endpoint:127.0.0.1:*`` -> (field, glob) pairs."""
    out: list[tuple[str, str]] = []
    for raw in patterns:
        text = raw.strip()
        if not text:
            continue
        field, sep, glob = text.partition(":")
        if not sep or field not in ("kind", "path", "endpoint"):
            raise IgnorePatternError(
                f"fd_leaks_ignore: {raw!r} must start with kind:, path: or endpoint:"
            )
        out.append((field, glob))
    return out


def ignored(handle: Any, rules: list[tuple[str, str]]) -> bool:
    for field, glob in rules:
        value = getattr(handle, field, None)
        if field == "endpoint":
            values = [handle.remote, handle.local, handle.path]
        else:
            values = [value]
        if any(v is not None and fnmatch.fnmatchcase(str(v), glob) for v in values):
            return True
    return False


class FdLeakChecker:
    """Registered by ``pytest_configure`` when the check is on; state lives on this object."""

    def __init__(self, mode: str, patterns: list[str]) -> None:
        self.mode = mode
        self.rules = parse_ignore(patterns)
        self.before: dict[str, dict[int, Key]] = {}
        # handles opened by wider-scoped fixtures' setup, as (fd, identity): the descriptor,
        # not the file, so a second open of a file such a fixture holds is still the test's
        self.owned: set[tuple[int, Key]] = set()
        self.leaks: dict[str, list[Leak]] = {}
        self.started_tracking = False
        self.proc = os.path.isdir(_FD_DIR)
        self.config: Any = None
        self.root: str | None = None  # the rootdir: modules under it (not installed) are the user's
        self.user_modules: list[types.ModuleType] = []
        self._modules_seen = -1
        # what the user's modules held when the test started (ids, and the objects themselves,
        # so no id is reused by a new object before the check)
        self.holders: set[int] = set()
        self._holder_refs: list[object] = []

    # ---- session ------------------------------------------------------------------------
    def pytest_sessionstart(self, session: Any) -> None:
        from fdscope import handles

        self.config = session.config
        self.root = os.path.realpath(str(session.config.rootpath))

        handles.prepare()
        try:
            from fdscope import origins

            if not origins.is_tracking():
                # sampled stacks: the site (the user's line) of every creation is still kept,
                # and pytest's own capture (a dup2 per phase) stays cheap
                origins.track(sample=64, signal=None, excepthook=False, warn_fraction=None)
                self.started_tracking = True
        except (FdscopeError, ImportError):
            pass  # no creation sites, still a leak check

    def pytest_sessionfinish(self, session: Any) -> None:
        if self.started_tracking:
            from fdscope import origins

            origins.stop()

    def pytest_report_header(self, config: Any) -> str:
        return f"fdscope: descriptor leak check {self.mode} (identity, before setup/after teardown)"

    # ---- snapshots ------------------------------------------------------------------------
    def _keys(self) -> dict[int, Key]:
        keys = fd_keys() if self.proc else None
        if keys is None:  # no /proc: the inventory's fallback (psutil)
            from fdscope import handles

            snap = handles.snapshot()
            keys = {h.fd: h.identity for h in snap.handles}
        # pytest's capture swaps 0-2 between its temporary files, /dev/null and the saved
        # originals: those identities are pytest's; anything else on 0-2 is compared like any fd
        capture = self._capture_keys()
        for fd in (0, 1, 2):
            if fd in keys and keys[fd] in capture:
                del keys[fd]
        return keys

    def _capture_keys(self) -> set[Key]:
        """Identities of the files pytest's fd capture puts on 0-2 (and /dev/null)."""
        fds: list[int] = []
        capman = None
        if self.config is not None:
            capman = self.config.pluginmanager.getplugin("capturemanager")
        multi = getattr(capman, "_global_capturing", None)
        for cap in (getattr(multi, name, None) for name in ("in_", "out", "err")):
            if cap is None:
                continue
            tmp: Any = getattr(cap, "tmpfile", None)
            with contextlib.suppress(AttributeError, OSError, ValueError):
                fds.append(tmp.fileno())
            for attr in ("targetfd_save", "targetfd_invalid"):
                value = getattr(cap, attr, None)
                if isinstance(value, int):
                    fds.append(value)
        out: set[Key] = set()
        for fd in fds:
            with contextlib.suppress(OSError):
                st = os.fstat(fd)
                out.add(("file", st.st_ino, st.st_dev))
        with contextlib.suppress(OSError):
            st = os.stat(os.devnull)
            out.add(("file", st.st_ino, st.st_dev))
        return out

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: Any) -> Any:
        try:
            mode = self._mode_for(item)
            self._marker_rules(item)
        except MarkerError:
            mode = "off"  # reported by pytest_runtest_setup_marker as this test's setup error
        if mode != "off":
            keys = self._keys()
            # a descriptor a fixture owned and closed may come back under its number
            self.owned = {(fd, key) for fd, key in self.owned if keys.get(fd) == key}
            self.before[item.nodeid] = keys
            self._snapshot_holders()
        yield

    @pytest.hookimpl(tryfirst=True, specname="pytest_runtest_setup")
    def pytest_runtest_setup_marker(self, item: Any) -> None:
        try:
            self._mode_for(item)
            self._marker_rules(item)
        except MarkerError as exc:
            error = str(exc)
        else:
            return
        pytest.fail(error, pytrace=False)

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Any:
        if fixturedef.scope == "function" or not self.before:
            yield
            return
        before = self._keys()
        yield
        after = self._keys()
        for fd in new_fds(before, after):
            self.owned.add((fd, after[fd]))

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_teardown(self, item: Any, nextitem: Any) -> Any:
        yield
        before = self.before.pop(item.nodeid, None)
        if before is None:
            return
        leaks = self._check(item, before)
        if not leaks:
            return
        text = _message(item.nodeid, leaks)
        if self._mode_for(item) == "fail":
            self.leaks[item.nodeid] = leaks
        else:
            item.warn(FdLeakWarning(text))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: Any, call: Any) -> Any:
        outcome = yield
        if call.when != "teardown":
            return
        leaks = self.leaks.pop(item.nodeid, None)
        if leaks:
            rep = outcome.get_result()
            if rep.passed:
                rep.outcome = "failed"
                rep.longrepr = _message(item.nodeid, leaks)

    def _mode_for(self, item: Any) -> str:
        marker = item.get_closest_marker("fd_leaks")
        if marker is not None:
            mode = marker.kwargs.get("mode", marker.args[0] if marker.args else None)
            if mode is not None:
                if mode not in _MODES:
                    raise MarkerError(
                        f"@pytest.mark.fd_leaks: mode {mode!r} is not one of off, warn, fail"
                    )
                return str(mode)
        return self.mode

    def _marker_rules(self, item: Any) -> list[tuple[str, str]]:
        marker = item.get_closest_marker("fd_leaks")
        if marker is None:
            return []
        ignore = marker.kwargs.get("ignore", ())
        if isinstance(ignore, str):
            ignore = [ignore]
        try:
            return parse_ignore(list(ignore))
        except IgnorePatternError as exc:
            raise MarkerError(f"@pytest.mark.fd_leaks: {exc}") from None

    # ---- objects from before the test -----------------------------------------------------
    def _is_user_file(self, filename: str | None) -> bool:
        if not filename or self.root is None:
            return False
        real = os.path.realpath(filename)
        if not real.startswith(self.root + os.sep):
            return False
        parts = real[len(self.root) :].split(os.sep)
        return not any(p in ("site-packages", "dist-packages") for p in parts)

    def _user_modules(self) -> list[types.ModuleType]:
        if len(sys.modules) != self._modules_seen:
            self._modules_seen = len(sys.modules)
            self.user_modules = [
                m
                for m in list(sys.modules.values())
                if isinstance(m, types.ModuleType)
                and self._is_user_file(getattr(m, "__file__", None))
            ]
        return self.user_modules

    def _is_user_type(self, cls: type) -> bool:
        mod = sys.modules.get(cls.__module__)
        return mod is not None and mod in self._user_modules()

    def _snapshot_holders(self) -> None:
        """Remember what the user's modules hold now: globals, class attributes, their elements."""
        refs: list[object] = []
        for mod in self._user_modules():
            for value in list(vars(mod).values()):
                if isinstance(value, (types.ModuleType, types.FunctionType)):
                    continue
                refs.append(value)
                if isinstance(value, type) and value.__module__ == mod.__name__:
                    for attr in list(vars(value).values()):
                        refs.append(attr)
                        _elements(attr, refs, 2)
                else:
                    _elements(value, refs, 2)
        self._holder_refs = refs
        self.holders = {id(o) for o in refs}

    def _kept_by_earlier_objects(self, fd: int) -> bool:
        """True when every object owning ``fd`` is kept by something from before the test.

        The rule (docs/lint.md): a descriptor still open at the end of a test is the test's
        unless what keeps it alive is a module-level name or class attribute bound to a
        single object (a client at module scope, also one made lazily on first use), or an
        element that was already in a module-level container when the test started. A new
        element in a module-level list, dict or set - a session the test keeps - is the
        test's. The path is found by :func:`fdscope.origins.retention`.
        """
        from fdscope.origins import retention

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            owners = _owners(fd)
        if not owners:
            return False
        for owner in owners:
            found = retention(owner, depth=10, ignore=(owners,))
            if found is None or found.kind not in ("module", "class"):
                return False
            if self._grows(found.root, found.path_objects):
                return False
        return True

    def _grows(self, root: object, path: tuple[object, ...]) -> bool:
        """True when the path from ``root`` passes a container element the test added."""
        above: object = root
        in_container = False
        for obj in path:
            if isinstance(obj, dict) and (
                getattr(above, "__dict__", None) is obj or isinstance(above, type)
            ):
                above = obj  # an instance's or a class's own namespace: plumbing
                continue
            if isinstance(obj, _CONTAINERS):
                in_container = True
                above = obj
                continue
            if in_container and id(obj) not in self.holders:
                return True  # a new element of a module-level container
            if not self._is_user_type(type(obj)):
                return False  # a library's object bound to the name: its internals are its own
            in_container = False  # the user's own object: look inside it
            above = obj
        return False

    # ---- the check ------------------------------------------------------------------------
    def _check(self, item: Any, before: dict[int, Key]) -> list[Leak]:
        after = self._keys()

        fresh = [fd for fd in new_fds(before, after) if (fd, after[fd]) not in self.owned]
        if not fresh:
            return []
        gc.collect()  # garbage in reference cycles is not a leak of this test
        after = self._keys()
        fresh = [fd for fd in new_fds(before, after) if (fd, after[fd]) not in self.owned]
        if not fresh:
            return []
        fresh = [fd for fd in fresh if not _held_by_wider_fixture(item, fd)]
        if not fresh:
            return []
        fresh = [fd for fd in fresh if not self._kept_by_earlier_objects(fd)]
        if not fresh:
            return []
        from fdscope import handles

        snap = handles.snapshot()
        by_fd = {h.fd: h for h in snap.handles}
        fresh = _peers_not_owned(fresh, by_fd)
        rules = list(self.rules) + self._marker_rules(item)
        leaks: list[Leak] = []
        for fd in fresh:
            handle = by_fd.get(fd)
            if handle is None or ignored(handle, rules):
                continue
            leaks.append(Leak(fd, handle.describe(), _site(handle)))
        return leaks


_CONTAINERS = (list, tuple, set, frozenset, dict, collections.deque)


def _elements(value: object, out: list[object], depth: int) -> None:
    """Append the elements (dict values) of a container, ``depth`` levels down, at most 10,000."""
    if depth <= 0 or not isinstance(value, _CONTAINERS):
        return
    try:
        items = list(value.values()) if isinstance(value, dict) else list(value)
    except Exception:  # a container changed or broke while we looked
        return
    for item in items[:10_000]:
        out.append(item)
        _elements(item, out, depth - 1)


def _peers_not_owned(fresh: list[int], by_fd: dict[int, Any]) -> list[int]:
    """Drop the sockets whose other end, in this process, is not the test's.

    A connection belongs to whoever holds its other end: a session server's thread accepts
    the connection of a session client lazily, during the first test that uses them, and that
    accepted socket is the fixtures' as much as the client's is. A socket counts as set aside
    when its peer (a TCP socket with the mirrored addresses, a unix socket's ``peer_fd``) is
    held here and is not among the test's new handles; a connection the test leaks to a
    session server is still reported, both ends of it.
    """
    new = set(fresh)
    ends: dict[tuple[str, str], list[int]] = {}
    for h in by_fd.values():
        if h.local and h.remote and h.family in ("inet", "inet6"):
            ends.setdefault((h.local, h.remote), []).append(h.fd)
    out: list[int] = []
    for fd in fresh:
        h = by_fd.get(fd)
        peers: list[int] = []
        if h is not None and h.family in ("inet", "inet6") and h.local and h.remote:
            peers = ends.get((h.remote, h.local), [])
        elif h is not None and h.family == "unix" and h.peer_fd is not None:
            peers = [h.peer_fd]
        if peers and not any(p in new for p in peers):
            continue
        out.append(fd)
    return out


def _site(handle: Any) -> str | None:
    try:
        from fdscope import origins

        site = origins.site_of(handle)

    except (FdscopeError, ImportError, OSError):
        return None
    return str(site) if site is not None else None


def _message(nodeid: str, leaks: list[Leak]) -> str:
    n = len(leaks)
    head = (
        f"{nodeid} leaked {n} descriptor{'s' if n != 1 else ''} (opened by the test, still open):"
    )
    return "\n".join([head, *(leak.line() for leak in leaks)])


# ---- handles that belong to a session/module/class fixture, opened lazily during a test ------
_OWNER_TYPES: tuple[type, ...] = (socket.socket, io.IOBase)
_LEAVES = (str, bytes, int, float, bool, type(None), type, types.ModuleType, types.CodeType)


def _owners(fd: int) -> list[object]:
    out: list[object] = []
    for obj in gc.get_objects():
        if isinstance(obj, _OWNER_TYPES):
            try:
                if obj.fileno() == fd:  # type: ignore[attr-defined]
                    out.append(obj)
            except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
                continue
    return out


_INFRA = ("_pytest", "pytest", "pluggy", "xdist", "execnet", "py.", "iniconfig")


def _children(obj: object) -> list[object]:
    """What a fixture value can hold: containers, instance state, a yield fixture's locals.

    Never functions, modules, classes or pytest's own objects: from those the whole
    program is reachable, and a leak kept in module state would look owned.
    """
    if isinstance(obj, _LEAVES) or callable(obj) and not hasattr(obj, "__dict__"):
        return []
    if isinstance(obj, (types.FunctionType, types.MethodType, types.BuiltinFunctionType)):
        return []
    if isinstance(obj, (types.GeneratorType, types.AsyncGeneratorType, types.CoroutineType)):
        frame = getattr(obj, "gi_frame", None) or getattr(obj, "ag_frame", None)
        frame = frame or getattr(obj, "cr_frame", None)
        return list(frame.f_locals.values()) if frame is not None else []
    if isinstance(obj, functools.partial):
        return [*obj.args, *obj.keywords.values()]
    if isinstance(obj, dict):
        return list(obj.values())
    if isinstance(obj, (list, tuple, set, frozenset, collections.deque)):
        return list(obj)
    if type(obj).__module__.startswith(_INFRA):
        return []
    return [r for r in gc.get_referents(obj) if not isinstance(r, type)]


def _held_by_wider_fixture(item: Any, fd: int, limit: int = 200_000) -> bool:
    """True when every Python object owning ``fd`` is reachable from a non-function fixture."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    roots: list[object] = []
    for defs in info.name2fixturedefs.values():
        for fixturedef in defs:
            if fixturedef.scope == "function":
                continue
            cached = getattr(fixturedef, "cached_result", None)
            if cached is not None:
                roots.append(cached[0])
            roots.extend(getattr(fixturedef, "_finalizers", ()) or ())
    if not roots:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        owners = {id(o) for o in _owners(fd)}
    if not owners:
        return False
    # never walk into module globals: from there everything is reachable
    seen: set[int] = {id(m.__dict__) for m in list(sys.modules.values()) if m is not None}
    stack = list(roots)
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if id(obj) in owners:
            owners.discard(id(obj))
            if not owners:
                return True
        stack.extend(_children(obj))
    return False
