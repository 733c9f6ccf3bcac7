"""When a report is made by itself: signal, exit, early warning, EMFILE in an uncaught exception.

Everything here writes with ``os.write`` to descriptors that are already open
(stderr, ``FDSCOPE_REPORT_FD``), so it works when no descriptor is free.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

from fdscope.exhaustion import counts, in_chain

_signal_installed: int | None = None
_atexit_installed = False
_hooks_installed = False
_warned = False
_warn_fraction = 0.8
_prev_excepthook: Any = None
_prev_threading_hook: Any = None


def write_all(fd: int, data: bytes) -> None:
    """Write every byte to ``fd`` (no new descriptor needed)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def report_fd() -> int | None:
    """The descriptor named by ``FDSCOPE_REPORT_FD``, or None."""
    value = os.environ.get("FDSCOPE_REPORT_FD", "").strip()
    if not value.isdigit():
        return None
    return int(value)


def send(
    invocation: int | None = None, trigger: str | None = None, *, retention: bool = True
) -> bool:
    """One JSON line of the report to ``FDSCOPE_REPORT_FD``; False when it is not set.

    ``retention``: the top groups say what keeps their handles alive (``held_by``).
    """
    fd = report_fd()
    if fd is None:
        return False
    from fdscope.origins import _report

    doc = _report.build(retention=retention).json()
    if invocation is not None:
        doc["invocation"] = invocation
    if trigger is not None:
        doc["trigger"] = trigger
    write_all(fd, (json.dumps(doc, separators=(",", ":"), default=str) + "\n").encode())
    return True


def to_stderr(title: str | None = None) -> None:
    """The text report to stderr (fd 2), with what keeps the top groups alive; never raising."""
    try:
        from fdscope.origins import _report

        text = _report.build(retention=True).text()
        if title:
            text = f"fdscope: {title}\n{text}"
        write_all(2, text.encode("utf-8", "replace"))
    except Exception as exc:  # a report must never take the program down
        try:
            write_all(2, f"fdscope: report failed: {exc!r}\n".encode())
        except OSError:
            pass


def emfile_in_chain(exc: BaseException | None) -> bool:
    """True when the exhaustion table's evidence is anywhere in the chain.

    The exception is a failure record with no process count at hand: errno 24
    or 23, ``Too many open files`` (in any exception's text), and the rows whose
    ``blind`` rule is SURE (select()'s ``filedescriptor out of range``) count;
    see :mod:`fdscope.exhaustion` for the rows and the chain followed.
    """
    return any(counts(r, sure=True, at_limit=None) for r, _ in in_chain(exc))


def _on_emfile(exc: BaseException | None) -> None:
    try:
        if not emfile_in_chain(exc):
            return
    except Exception:  # never in the way of the program's own traceback
        return
    to_stderr("EMFILE in an uncaught exception; where the open descriptors came from:")
    try:
        send(trigger="emfile")
    except Exception:
        pass


def _excepthook(tp: Any, value: Any, tb: Any) -> None:
    _on_emfile(value)
    (_prev_excepthook or sys.__excepthook__)(tp, value, tb)


def _threading_excepthook(args: Any) -> None:
    _on_emfile(args.exc_value)
    (_prev_threading_hook or threading.__excepthook__)(args)


def install_excepthooks() -> None:
    global _hooks_installed, _prev_excepthook, _prev_threading_hook
    if _hooks_installed:
        return
    _prev_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    _prev_threading_hook = threading.excepthook
    threading.excepthook = _threading_excepthook
    _hooks_installed = True


def _on_signal(signum: int, frame: Any) -> None:
    to_stderr(f"report on signal {signum}")


def install_signal(signum: int | None) -> bool:
    """Report to stderr on ``signum``; only from the main thread and over the default action."""
    global _signal_installed
    if not signum or _signal_installed == signum:
        return _signal_installed == signum
    import signal

    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        current = signal.getsignal(signum)
        if current not in (signal.SIG_DFL, None) and current is not _on_signal:
            return False  # the program handles it: leave it alone
        signal.signal(signum, _on_signal)
    except (ValueError, OSError):
        return False
    _signal_installed = signum
    return True


def _at_exit() -> None:
    from fdscope.origins import _tracker

    mode = os.environ.get("FDSCOPE_REPORT_AT_EXIT", "")
    if not _tracker.is_active() and not mode:
        return
    if mode != "json":  # "json": only the line to FDSCOPE_REPORT_FD (fdscope track --json)
        to_stderr("report at exit")
    try:
        send(trigger="exit")
    except Exception:
        pass


def install_at_exit() -> None:
    global _atexit_installed
    if _atexit_installed:
        return
    import atexit

    atexit.register(_at_exit)
    _atexit_installed = True


def _warn() -> None:
    global _warned
    if _warned:
        return
    from fdscope import handles
    from fdscope.origins import _tracker

    try:
        snap_count = handles.count()
    except Exception:
        snap_count = None
    soft = soft_limit()
    threshold = int(soft * _warn_fraction) if soft else None
    if snap_count is None or threshold is None or snap_count < threshold:
        return
    _warned = True
    _tracker.set_warning(1 << 62, None)
    to_stderr(
        f"warning: {snap_count} of {soft} descriptors open "
        f"(over {int(_warn_fraction * 100)}% of the soft limit); where they came from:"
    )


def soft_limit() -> int | None:
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return None
    return None if soft == getattr(resource, "RLIM_INFINITY", -1) else soft


def install_warning(fraction: float | None) -> None:
    """Warn once when a tracked call's descriptor passes ``fraction`` of the soft limit."""
    global _warn_fraction
    from fdscope.origins import _tracker

    if not fraction or _warned:
        _tracker.set_warning(1 << 62, None)
        return
    _warn_fraction = fraction
    soft = soft_limit()
    if soft:
        _tracker.set_warning(max(1, int(soft * fraction) - 1), _warn)


def reset_warning() -> None:
    """Allow the early warning to fire again (tests)."""
    global _warned
    _warned = False
