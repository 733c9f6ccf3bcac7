"""Where each open handle came from: creation-site tracking (wtfnode for Python).

``track()`` records, for every call that creates a descriptor (and for every
thread and child process), a short creation stack: the user's line and the
library call made there. ``report()`` joins the inventory of this process
(:func:`fdscope.handles.snapshot`) with those records by fd number and identity,
and groups identical sites, largest first. ``FDSCOPE_TRACK=1`` starts tracking
when this module is imported; ``fdscope track -- python app.py`` does it for a
whole program. Which calls are wrapped and which are seen through PEP 578 audit
hooks is listed in :mod:`fdscope.origins._tracker`.

Reports come on demand, on a signal (``SIGUSR1``), at exit (opt-in), as JSON
lines to the descriptor named by ``FDSCOPE_REPORT_FD`` (:func:`send_report`),
once as an early warning when the count passes 80% of the soft limit, and when
an uncaught exception carries EMFILE; all of them work with no descriptor free.

Environment: ``FDSCOPE_TRACK=1``, ``FDSCOPE_TRACK_SAMPLE``, ``FDSCOPE_TRACK_DEPTH``,
``FDSCOPE_TRACK_AUDIT=1``,
``FDSCOPE_SIGNAL`` (a name like ``USR2``, or ``0`` for none),
``FDSCOPE_REPORT_AT_EXIT=1`` (or ``json``: the line only), ``FDSCOPE_WARN_FRACTION``, ``FDSCOPE_REPORT_FD``,
``FDSCOPE_REPORT_RETENTION`` (``auto``, ``0``, ``1``: which reports say what keeps a handle alive).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from fdscope import registry
from fdscope.errors import OriginsError
from fdscope.origins import _tracker
from fdscope.origins._tracker import checkpoint, wrap_c_call

__all__ = [
    "Frame",
    "Group",
    "Item",
    "OriginsError",
    "Report",
    "Site",
    "boot_path",
    "checkpoint",
    "emfile_in_chain",
    "is_tracking",
    "report",
    "retention",
    "send_report",
    "site_of",
    "stop",
    "track",
    "wrap_c_call",
]


def _signal_number(value: int | str | None) -> int | None:
    if value is None or value == "" or value == 0 or value in ("0", "off", "none"):
        return None
    if isinstance(value, int):
        return value
    import signal

    if value.isdigit():
        return int(value)
    name = value.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    number = getattr(signal, name, None)
    if number is None:
        raise OriginsError(f"unknown signal {value!r}")
    return int(number)


def track(
    sample: int = 1,
    depth: int = 8,
    *,
    signal: int | str | None = "USR1",
    at_exit: bool = False,
    warn_fraction: float | None = 0.8,
    excepthook: bool = True,
    audit: bool = False,
) -> None:
    """Start recording creation sites (idempotent; a second call changes the settings).

    ``sample=N`` keeps the stack of one creation in N per site and still counts
    every handle; ``depth`` caps the user frames kept. ``signal`` reports to stderr
    on that signal (if the program has no handler of its own), ``at_exit`` at
    exit, ``warn_fraction`` once when the count passes that share of the soft
    limit, ``excepthook`` when an uncaught exception carries EMFILE. ``audit``
    adds the PEP 578 audit-hook safety net for opens that bypass the wrappers
    (it cannot be removed and slows every stack walk: see ``_tracker``).
    Raises OriginsError for a bad argument.
    """
    if sample < 1 or depth < 1:
        raise OriginsError("sample and depth must be at least 1")
    if warn_fraction is not None and not 0 < warn_fraction <= 1:
        raise OriginsError("warn_fraction must be in (0, 1]")
    signum = _signal_number(signal)
    # Everything a report needs at EMFILE is imported (and the reserve opened) now.
    import json  # noqa: F401

    from fdscope import handles
    from fdscope.origins import _report, _triggers  # noqa: F401

    handles.prepare()
    _tracker.start(sample=sample, depth=depth, audit=audit)
    _triggers.install_warning(warn_fraction)
    if excepthook:
        _triggers.install_excepthooks()
    if signum:
        _triggers.install_signal(signum)
    if at_exit:
        _triggers.install_at_exit()


def stop() -> None:
    """Stop recording: wrappers removed, records kept; the audit hook returns at once."""
    _tracker.stop()


def is_tracking() -> bool:
    """True between :func:`track` and :func:`stop`."""
    return _tracker.is_active()


def report(*, retention: bool = False) -> Report:
    """The open handles of this process with their creation sites, grouped, largest first.

    ``retention=True`` also says, for the top three groups, what keeps one of their
    handles alive (``Group.held_by``: a module-level name, a class attribute, a logger,
    a thread, an asyncio task, a running frame or a reference cycle), within 200 ms.
    Works with tracking off (nothing attributed). Raises HandlesError when the
    inventory cannot be read.
    """
    from fdscope.origins import _report

    return _report.build(retention=retention)


def send_report(invocation: int | None = None) -> bool:
    """Write one ``fdscope.origins/1`` JSON line to ``FDSCOPE_REPORT_FD``.

    ``invocation`` is added as a member when given. Needs no new descriptor.
    With ``FDSCOPE_REPORT_EVERY=N`` (default 1) an invocation's report is sent
    only for the first two invocations, every Nth, and every invocation once the
    descriptor count passes 90% of the soft limit (so the report nearest EMFILE
    is always there): a report lists every handle, which costs time at large
    counts. The retention walk (``held_by``, up to 200 ms) runs only on some of
    them: see :func:`_retention_due`. Returns False (and writes nothing) when the
    variable is not set or the report is not due; raises OSError when the
    descriptor is closed.
    """
    from fdscope.origins import _triggers

    if invocation is not None and not _report_due(invocation):
        return False
    return _triggers.send(invocation, retention=_retention_due(invocation))


_near_limit_walked = False


def _retention_due(invocation: int | None) -> bool:
    """Whether an invocation's report carries ``held_by`` (``FDSCOPE_REPORT_RETENTION``).

    ``0``: never; ``1``: every report; ``auto`` (the default): a report not tied to an
    invocation (on demand), invocations 10, 20, 40, 80... (doubling: a handful per run
    whatever its length, the last within the final half), and the first report once the
    count passes 90% of the soft limit. So a 1,500-invocation doctor run makes about ten
    walks, not one per report.
    """
    global _near_limit_walked
    mode = (os.environ.get("FDSCOPE_REPORT_RETENTION") or "auto").strip().lower()
    if mode in ("0", "off", "no", "false"):
        return False
    if mode in ("1", "all", "on", "yes", "true") or invocation is None:
        return True
    if invocation >= 10 and invocation % 10 == 0:
        tens = invocation // 10
        if tens & (tens - 1) == 0:
            return True
    if not _near_limit_walked:
        try:
            from fdscope import handles

            if handles.count() >= 0.9 * _soft_limit():
                _near_limit_walked = True
                return True
        except Exception:
            return False
    return False


def _report_due(invocation: int) -> bool:
    try:
        every = int(os.environ.get("FDSCOPE_REPORT_EVERY") or 1)
        if every <= 1 or invocation <= 2 or invocation % every == 0:
            return True
        from fdscope import handles

        return handles.count() >= 0.9 * _soft_limit()
    except Exception:  # when in doubt, send
        return True


def _soft_limit() -> int:
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if soft != resource.RLIM_INFINITY else 1 << 30


def site_of(handle: Any) -> Site | None:
    """Where a :class:`fdscope.handles.Handle` (or an fd number) of this process was created.

    ``None`` when unknown, or when the number now belongs to another handle.
    """
    from fdscope.origins import _report

    return _report.site_of(handle)


def emfile_in_chain(exc: BaseException | None) -> bool:
    """True when EMFILE/ENFILE (or ``select``'s fd-out-of-range) is anywhere in ``exc``'s chain."""
    from fdscope.origins import _triggers

    return _triggers.emfile_in_chain(exc)


def retention(obj: Any, **bounds: Any) -> Any:
    """What keeps ``obj`` alive: a :class:`fdscope.origins._retention.Retention` or None.

    The referrer path from ``obj`` up to a module-level name, a class attribute, a
    logger's handlers, a thread, an asyncio task or loop, a running frame, or a
    reference cycle; bounded by ``depth`` (6) steps and ``budget`` (0.2 s).
    """
    from fdscope.origins import _retention

    return _retention.retention(obj, **bounds)


def boot_path() -> str:
    """The directory to put on ``PYTHONPATH`` so a child Python starts tracking (with ``FDSCOPE_TRACK=1``)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_boot")


def __getattr__(name: str) -> Any:
    if name in ("Frame", "Group", "Item", "Report", "Site"):
        from fdscope.origins import _report

        return getattr(_report, name)
    raise AttributeError(f"module 'fdscope.origins' has no attribute {name!r}")


if TYPE_CHECKING:
    from fdscope.origins._report import Frame, Group, Item, Report, Site


def _from_env() -> None:
    env = os.environ
    if env.get("FDSCOPE_TRACK") != "1" or _tracker.is_active():
        return
    try:
        fraction = env.get("FDSCOPE_WARN_FRACTION")
        track(
            sample=int(env.get("FDSCOPE_TRACK_SAMPLE") or 1),
            depth=int(env.get("FDSCOPE_TRACK_DEPTH") or 8),
            signal=env.get("FDSCOPE_SIGNAL", "USR1"),
            at_exit=env.get("FDSCOPE_REPORT_AT_EXIT") in ("1", "text", "json"),
            warn_fraction=float(fraction) if fraction else 0.8,
            audit=env.get("FDSCOPE_TRACK_AUDIT") == "1",
        )
    except Exception as exc:  # never break the program being tracked
        sys.stderr.write(f"fdscope: could not start tracking: {exc}\n")


registry.mark_loaded(__name__)  # the monitor asks, to know whether tracking may be on
_from_env()
