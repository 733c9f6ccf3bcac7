"""Whose code is this? The user's, the standard library's, an installed package's, or fdscope's.

Judged by module origin, never by a path prefix alone: Lambda's ``/var/task``
holds the user's code and ``pip install --target`` dependencies side by side,
so a file is an installed package's when a ``*.dist-info``
in one of its ancestor directories claims its top-level name. Every judgement
is cached per filename (and the hot path caches per code object).
"""

from __future__ import annotations

import errno
import io
import os
import sys

_open = io.open  # the real one: fdscope's own reads must not be tracked

USER = 0
STDLIB = 1
LIBRARY = 2
FDSCOPE = 3

_FDSCOPE_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def _stdlib_dirs() -> tuple[str, ...]:
    import sysconfig

    dirs = set()
    for key in ("stdlib", "platstdlib"):
        try:
            path = sysconfig.get_paths()[key]
        except (KeyError, ValueError):  # pragma: no cover - exotic builds
            continue
        dirs.add(os.path.realpath(path))
    dirs.add(os.path.dirname(os.path.realpath(os.__file__)))
    return tuple(sorted(dirs))


_STDLIB_DIRS: tuple[str, ...] | None = None
_by_file: dict[str, int] = {}
_owned: dict[str, frozenset[str]] = {}  # directory -> top-level names its dist-infos own


def _claimed_names(directory: str) -> frozenset[str]:
    """Top-level module/package names claimed by distributions installed in ``directory``."""
    cached = _owned.get(directory)
    if cached is not None:
        return cached
    names: set[str] = set()
    try:
        entries = os.listdir(directory)
    except ValueError:  # a NUL byte in a code object's filename: no such directory
        entries = []
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            return frozenset()  # no descriptor free: judge again later, do not cache
        entries = []
    for entry in entries:
        # Only wheels' metadata: an ``*.egg-info`` beside code is usually the user's own
        # editable checkout, and eggs inside site-packages are caught by the path rule.
        if not entry.endswith(".dist-info"):
            continue
        meta = os.path.join(directory, entry)
        names.add(entry.split("-", 1)[0].lower().replace("-", "_"))
        for fname, is_record in (("top_level.txt", False), ("RECORD", True)):
            try:
                with _open(os.path.join(meta, fname), encoding="utf-8", errors="replace") as fh:
                    for line in fh:
                        item = line.split(",", 1)[0].strip() if is_record else line.strip()
                        if not item or item.startswith(".."):
                            continue
                        top = item.replace("\\", "/").split("/", 1)[0]
                        if top.endswith(".py"):
                            top = top[:-3]
                        if top and not top.endswith((".dist-info", ".egg-info", ".data")):
                            names.add(top.lower())
            except OSError:
                continue
    frozen = frozenset(names)
    _owned[directory] = frozen
    return frozen


def _judge_path(real: str) -> int:
    if real == _FDSCOPE_DIR or real.startswith(_FDSCOPE_DIR + os.sep):
        return FDSCOPE
    parts = real.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return LIBRARY
    # An ancestor directory whose distributions claim the first component below it.
    directory = os.path.dirname(real)
    child = os.path.basename(real)
    for _ in range(8):
        if child.split(".", 1)[0].lower() in _claimed_names(directory):
            return LIBRARY
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        child = os.path.basename(directory)
        directory = parent
    global _STDLIB_DIRS
    if _STDLIB_DIRS is None:
        _STDLIB_DIRS = _stdlib_dirs()
    for stdlib in _STDLIB_DIRS:
        if real.startswith(stdlib + os.sep):
            return STDLIB
    return USER


def judge_file(filename: str) -> int:
    """``USER``, ``STDLIB``, ``LIBRARY`` or ``FDSCOPE`` for a code object's filename (cached)."""
    verdict = _by_file.get(filename)
    if verdict is not None:
        return verdict
    if filename.startswith("<"):
        # "<frozen importlib._bootstrap>" is the standard library; "<string>", "<stdin>" are the user's.
        name = filename[1:-1]
        if name.startswith("frozen "):
            verdict = STDLIB
        else:
            verdict = USER
    else:
        try:
            real = os.path.realpath(filename)
        except (OSError, ValueError):
            real = filename
        verdict = _judge_path(real)
    _by_file[filename] = verdict
    return verdict


def module_name(filename: str) -> str | None:
    """The dotted module name a file is imported as, from ``sys.path`` (``None`` if not found)."""
    if filename.startswith("<frozen "):
        return filename[8:-1]
    if filename.startswith("<"):
        return None
    real = os.path.realpath(filename)
    best: str | None = None
    for entry in sys.path:
        base = os.path.realpath(entry or os.getcwd())
        if real.startswith(base + os.sep):
            rel = real[len(base) + 1 :]
            if best is None or len(rel) < len(best):
                best = rel
    if best is None:
        return None
    if best.endswith(".py"):
        best = best[:-3]
    dotted = best.replace(os.sep, ".")
    if dotted.endswith(".__init__"):
        dotted = dotted[: -len(".__init__")]
    return dotted


def is_stdlib_module(name: str) -> bool:
    """True when ``name``'s top-level package is in ``sys.stdlib_module_names``."""
    names = getattr(sys, "stdlib_module_names", ())
    return name.split(".", 1)[0] in names


def clear_cache() -> None:
    """Forget every judgement (tests; after ``sys.path`` or installs change)."""
    _by_file.clear()
    _owned.clear()
