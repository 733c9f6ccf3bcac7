"""Grouping, C-made descriptors, number reuse, threads, fork, sampling, site_of."""

from __future__ import annotations

import ctypes
import io
import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from origins_helpers import groups_at, line_of

from fdscope import handles, origins
from fdscope.origins import _tracker

HERE = __file__
EARLY_OPEN = io.open  # a reference taken before tracking: no wrapper sees calls through it
libc = ctypes.CDLL(None, use_errno=True)


def c_open(path: str) -> int:
    """Open a file in C: no Python-visible event (like libpq inside psycopg2.connect)."""
    fd = libc.open(path.encode(), os.O_RDONLY)
    assert fd >= 0, ctypes.get_errno()
    return fd


def test_500_sockets_and_3_files_group_largest_first(tracking: None, tmp_path: Path) -> None:
    socks: list[socket.socket] = []
    files: list[Any] = []
    try:
        for _ in range(500):
            socks.append(socket.socket())  # leak_sockets
        for i in range(3):
            files.append(open(tmp_path / f"f{i}", "w"))  # leak_files  # noqa: SIM115
        rep = origins.report()
        first, second = rep.groups[0], rep.groups[1]
        assert (first.site.file, first.site.line) == (HERE, line_of(HERE, "leak_sockets"))
        assert first.count == 500 and len(first.handles) == 500
        assert first.kind in ("tcp", "socket")
        assert (second.site.file, second.site.line, second.count) == (
            HERE,
            line_of(HERE, "leak_files"),
            3,
        )
        assert rep.count >= 503
        # a leak of 500 reads as one line in the text report
        head = rep.text().splitlines()
        assert any("500 x" in ln and f":{line_of(HERE, 'leak_sockets')} " in ln for ln in head)
        assert json.loads(json.dumps(rep.json()))["groups"][0]["count"] == 500
    finally:
        for s in socks:
            s.close()
        for f in files:
            f.close()


def test_c_made_descriptor_is_reported_approximate_at_next_tracked_call(
    tracking: None, tmp_path: Path
) -> None:
    (tmp_path / "c.txt").write_text("c")
    fd = c_open(str(tmp_path / "c.txt"))
    f = open(os.devnull)  # next_call  # noqa: SIM115
    try:
        site = origins.site_of(fd)
        assert site is not None and site.approximate
        assert (site.file, site.line) == (HERE, line_of(HERE, "next_call"))
        group = [g for g in origins.report().groups if any(h.fd == fd for h in g.handles)]
        assert len(group) == 1 and group[0].site.approximate
        assert group[0].endpoint == str(tmp_path / "c.txt")
        assert not origins.site_of(f.fileno()).approximate  # type: ignore[union-attr]
    finally:
        os.close(fd)
        f.close()


def test_c_made_descriptor_first_seen_at_report_time(tracking: None, tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text("c")
    fd = c_open(str(tmp_path / "c.txt"))
    try:
        rep = origins.report()  # first_seen
        group = [g for g in rep.groups if any(h.fd == fd for h in g.handles)]
        assert len(group) == 1
        assert group[0].site.approximate and group[0].site.line == line_of(HERE, "first_seen")
        assert rep.json()["groups"][rep.groups.index(group[0])]["site"]["approximate"] is True
    finally:
        os.close(fd)


def test_wrapped_c_call_names_its_caller(tracking: None, tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text("c")
    import sys

    origins.wrap_c_call(f"{__name__}:c_open")
    assert hasattr(sys.modules[__name__].c_open, "__wrapped__")  # now the wrapper
    fd = c_open(str(tmp_path / "c.txt"))  # wrapped_call
    try:
        site = origins.site_of(fd)
        assert site is not None and not site.approximate  # the call that made it is known
        assert site.line == line_of(HERE, "wrapped_call")
        assert site.call == f"{__name__}.c_open"
    finally:
        os.close(fd)
        _tracker._extra_calls.clear()


def test_reused_number_is_not_misattributed(tracking: None, tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x")
    f = open(tmp_path / "x")  # first_owner  # noqa: SIM115
    number = f.fileno()
    assert origins.site_of(number).line == line_of(HERE, "first_owner")  # type: ignore[union-attr]
    f.close()
    fd = c_open(str(tmp_path / "x"))  # same number, made where no wrapper sees it
    try:
        assert fd == number
        site = origins.site_of(fd)
        assert site is None or site.line != line_of(HERE, "first_owner")
        rep = origins.report()
        assert not groups_at(rep, HERE, line_of(HERE, "first_owner"))
    finally:
        os.close(fd)


def test_reused_bare_number_checks_the_inode(tracking: None, tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    fd = os.open(tmp_path / "a", os.O_RDONLY)  # bare_owner
    assert origins.site_of(fd).line == line_of(HERE, "bare_owner")  # type: ignore[union-attr]
    os.close(fd)
    again = c_open(str(tmp_path / "b"))
    try:
        assert again == fd
        snap = handles.snapshot()
        (h,) = [h for h in snap.handles if h.fd == again]
        site = origins.site_of(h)
        assert site is None or site.line != line_of(HERE, "bare_owner")
    finally:
        os.close(again)


def test_tracked_reuse_takes_the_new_site(tracking: None, tmp_path: Path) -> None:
    f = open(tmp_path / "one", "w")  # reuse_one  # noqa: SIM115
    number = f.fileno()
    f.close()
    g = open(tmp_path / "two", "w")  # reuse_two  # noqa: SIM115
    try:
        assert g.fileno() == number
        assert origins.site_of(number).line == line_of(HERE, "reuse_two")  # type: ignore[union-attr]
    finally:
        g.close()


def _opener(path: Path, n: int, out: list[Any], barrier: threading.Barrier) -> None:
    barrier.wait()
    for i in range(n):
        out.append(open(path / f"{threading.get_ident()}-{i}", "w"))  # thread_open  # noqa: SIM115


def _sockets(n: int, out: list[Any], barrier: threading.Barrier) -> None:
    barrier.wait()
    for _ in range(n):
        out.append(socket.socket())  # thread_socket


def test_threads_track_concurrently(tracking: None, tmp_path: Path) -> None:
    files: list[Any] = []
    socks: list[Any] = []
    barrier = threading.Barrier(6)
    threads = [
        threading.Thread(target=_opener, args=(tmp_path, 40, files, barrier), name=f"opener-{i}")
        for i in range(3)
    ] + [threading.Thread(target=_sockets, args=(40, socks, barrier)) for _ in range(3)]
    for t in threads:
        t.start()  # start_threads
    for t in threads:
        t.join(30)
    try:
        rep = origins.report()
        (fg,) = groups_at(rep, HERE, line_of(HERE, "thread_open"))
        (sg,) = groups_at(rep, HERE, line_of(HERE, "thread_socket"))
        assert fg.count == 120 and sg.count == 120
        assert fg.site.function == "_opener"
    finally:
        for obj in files + socks:
            obj.close()


def test_threads_are_handles_with_name_and_start_site(tracking: None) -> None:
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="worker-7", daemon=True)
    t.start()  # thread_start
    try:
        (g,) = groups_at(origins.report(), HERE, line_of(HERE, "thread_start"))
        assert g.kind == "thread" and g.handles[0].fd is None
        assert "worker-7" in g.handles[0].detail
        assert g.site.call == "threading.Thread.start"
    finally:
        stop.set()
        t.join(5)
    assert not groups_at(origins.report(), HERE, line_of(HERE, "thread_start"))


def test_tracking_survives_fork(tracking: None, tmp_path: Path) -> None:
    parent_file = open(tmp_path / "p", "w")  # before_fork  # noqa: SIM115
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: open one more, report, send it up
        try:
            os.close(r)
            child_file = open(tmp_path / "c", "w")  # in_child  # noqa: SIM115
            try:
                doc = origins.report().json()
                doc["tracking"] = origins.is_tracking()
            except BaseException:  # show the parent what went wrong
                import traceback

                doc = {"error": traceback.format_exc()}
            data = json.dumps(doc).encode()
            while data:
                data = data[os.write(w, data) :]
            child_file.close()
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    parent_file.close()
    doc = json.loads(b"".join(chunks))
    assert "error" not in doc, doc.get("error")
    assert doc["pid"] == pid and doc["tracking"] is True
    lines = {(g["site"]["file"], g["site"]["line"]) for g in doc["groups"]}
    assert (HERE, line_of(HERE, "in_child")) in lines
    assert (HERE, line_of(HERE, "before_fork")) in lines


def test_sampling_keeps_counts_exact_and_lines_right(tmp_path: Path) -> None:
    origins.stop()
    _tracker.clear()
    origins.track(sample=10, signal=None)
    socks: list[Any] = []
    files: list[Any] = []
    try:
        for _ in range(100):
            socks.append(socket.socket())  # sampled_sockets
        for i in range(7):
            files.append(open(tmp_path / str(i), "w"))  # sampled_files  # noqa: SIM115
        rep = origins.report()
        assert (rep.groups[0].site.line, rep.groups[0].count) == (
            line_of(HERE, "sampled_sockets"),
            100,
        )
        (fg,) = groups_at(rep, HERE, line_of(HERE, "sampled_files"))
        assert fg.count == 7
        # one stack in ten was taken at the socket line (the first, then every tenth)
        recs = [_tracker._reg[s.fileno()] for s in socks]
        assert sum(1 for r in recs if not r[5]) == 10
    finally:
        for obj in socks + files:
            obj.close()
        origins.stop()
        _tracker.clear()


def test_stop_removes_wrappers_and_records_nothing(tmp_path: Path) -> None:
    import builtins

    real_open = builtins.open
    origins.track(signal=None)
    assert builtins.open is not real_open and origins.is_tracking()
    origins.stop()
    assert builtins.open is real_open and not origins.is_tracking()
    _tracker.clear()
    with open(tmp_path / "after", "w") as f:
        assert origins.site_of(f.fileno()) is None


def test_bad_arguments_raise_origins_error() -> None:
    with pytest.raises(origins.OriginsError):
        origins.track(sample=0)
    with pytest.raises(origins.OriginsError):
        origins.track(signal="NOSUCHSIGNAL")


@pytest.mark.parametrize(
    "exc, expected",
    [
        (OSError(24, "Too many open files"), True),  # plain EMFILE
        (OSError(23, "Too many open files in system"), True),  # ENFILE
        (ValueError("filedescriptor out of range in select()"), True),  # select at fd 1024
        (OSError(2, "No such file"), False),  # another errno
        (RuntimeError("boom"), False),  # unrelated
    ],
)
def test_emfile_in_chain_direct(exc: BaseException, expected: bool) -> None:
    assert origins.emfile_in_chain(exc) is expected


def test_emfile_in_chain_follows_causes_and_botocore_style_kwargs() -> None:
    class EndpointConnectionError(Exception):  # botocore keeps the cause in kwargs["error"]
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs
            super().__init__("Could not connect to the endpoint URL")

    try:
        try:
            raise OSError(24, "Too many open files")
        except OSError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert origins.emfile_in_chain(outer)
    assert origins.emfile_in_chain(EndpointConnectionError(error=OSError(24, "x")))
    assert not origins.emfile_in_chain(EndpointConnectionError(error=OSError(13, "x")))


def test_audit_hook_catches_opens_that_bypass_the_wrappers(tracking: None, tmp_path: Path) -> None:
    origins.track(signal=None, audit=True)
    f = EARLY_OPEN(tmp_path / "early", "w")  # early_open
    g = io.FileIO(tmp_path / "fileio", "w")  # fileio
    try:
        for obj in (f, g):
            site = origins.site_of(obj.fileno())
            assert site is None  # not seen by a wrapper; bound at the next report
        rep = origins.report()
        for marker in ("early_open", "fileio"):
            (group,) = groups_at(rep, HERE, line_of(HERE, marker))
            assert not group.site.approximate and group.site.call == "open"
    finally:
        f.close()
        g.close()


def test_without_audit_a_bypassing_open_is_found_approximate(
    tracking: None, tmp_path: Path
) -> None:
    f = EARLY_OPEN(tmp_path / "early", "w")
    try:
        rep = origins.report()  # bypass_seen
        (group,) = [g for g in rep.groups if any(h.fd == f.fileno() for h in g.handles)]
        assert group.site.approximate and group.site.line == line_of(HERE, "bypass_seen")
    finally:
        f.close()


def test_c_connect_module_imported_after_track_is_wrapped(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import fdscope.origins as o; o.track(signal=None); import sqlite3; "
        "print(hasattr(sqlite3.connect, '__wrapped__'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr


def test_report_without_tracking_attributes_nothing(tmp_path: Path) -> None:
    origins.stop()
    _tracker.clear()
    with open(tmp_path / "x", "w") as f:
        rep = origins.report()
        assert rep.groups == ()
        assert f.fileno() in {u.fd for u in rep.unattributed}
        assert rep.count == len(rep.unattributed)


def test_public_surface() -> None:
    import fdscope

    assert origins.__all__ == sorted(origins.__all__)
    for name in origins.__all__:
        assert getattr(origins, name) is not None
    assert fdscope.track is origins.track
    assert fdscope.stop is origins.stop
    assert fdscope.report is origins.report


def test_fdopen_keeps_the_pipe_line_and_follows_the_file_object(tracking: None) -> None:
    r, w = os.pipe()  # made_pipe
    reader = os.fdopen(r, "rb")  # wrapped_later
    try:
        site = origins.site_of(r)
        assert site is not None and site.line == line_of(HERE, "made_pipe")
        assert site.call == "os.pipe"
    finally:
        reader.close()
        os.close(w)
    assert origins.site_of(r) is None


def test_checkpoint_keeps_runtime_descriptors_off_the_users_next_line(
    tracking: None, tmp_path: Path
) -> None:
    (tmp_path / "c.txt").write_text("c")
    fd = c_open(str(tmp_path / "c.txt"))  # like a runtime's own connection, made in C
    try:
        assert origins.checkpoint() >= 1
        f = open(os.devnull)  # users_next_line  # noqa: SIM115
        try:
            assert origins.site_of(fd) is None
            rep = origins.report()
            assert fd in {u.fd for u in rep.unattributed}
            assert origins.site_of(f.fileno()).line == line_of(HERE, "users_next_line")  # type: ignore[union-attr]
        finally:
            f.close()
    finally:
        os.close(fd)


def test_wrapped_types_still_behave_as_the_originals(tracking: None) -> None:
    import mmap
    import select
    import selectors

    ep = select.epoll()
    sel = selectors.DefaultSelector()  # default_selector
    try:
        assert isinstance(ep, select.epoll) and issubclass(type(ep), select.epoll)
        assert select.epoll.fromfd is not None  # class attributes still reachable
        assert isinstance(mmap.mmap(-1, 4096), mmap.mmap)  # anonymous: no descriptor
        site = origins.site_of(sel.fileno())
        assert site is not None and site.line == line_of(HERE, "default_selector")
    finally:
        ep.close()
        sel.close()


def test_an_exception_whose_str_raises_does_not_break_the_hook(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from fdscope.origins import _triggers

    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text for you")

    inner = OSError(24, "Too many open files")
    outer = Weird()
    outer.__context__ = inner
    assert origins.emfile_in_chain(Weird()) is False
    assert origins.emfile_in_chain(outer) is True  # the chain is still followed
    _triggers._excepthook(Weird, Weird(), None)  # prints the traceback; raises nothing
    assert "Weird" in capsys.readouterr().err
