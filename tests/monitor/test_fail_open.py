"""Fail open: whatever breaks inside fdscope, the handler's result and exception stay the same."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import Ctx, lines

from fdscope.monitor import Config, Monitor, monitor

STAGES = [
    "_start",  # everything before the handler
    "_finish",  # everything after it
    "_measure",  # the probes as a whole
    "count_tree",  # fd_use
    "fd_numbers",  # the descriptor listing (fd_opened/fd_closed)
    "net_bytes",  # rx/tx
    "threads",  # threads_max
    "encode",  # building the EMF record
    "_emit",  # writing it
    "_trend",  # the leak watch
    "_warning",  # the leak warning
    "emfile_evidence",  # EMFILE classification
    "_send_origins",  # the origins report
    "_write",  # every write
]


class Boom(Exception):
    pass


def _break(mon: Monitor, stage: str) -> None:
    def broken(*a: object, **k: object) -> None:
        raise Boom(stage)

    setattr(mon, stage, broken)


class HandlerError(Exception):
    pass


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_raising_changes_neither_result_nor_exception(stage: str, make_monitor) -> None:
    mon, out, err = make_monitor(scan="always")
    _break(mon, stage)
    result = object()
    assert mon.call(lambda e, c: result, {}, Ctx()) is result
    original = HandlerError("from the handler")
    cause = ValueError("its cause")
    original.__cause__ = cause

    def failing(event: dict, context: Ctx) -> None:
        raise original

    with pytest.raises(HandlerError) as info:
        mon.call(failing, {}, Ctx())
    assert info.value is original and info.value.__cause__ is cause
    assert mon.internal_errors >= 1
    said = err.getvalue()
    assert said.count("fdscope: internal error") == 1 and "Boom" in said  # once per process
    for _ in range(3):
        assert mon.call(lambda e, c: 5, {}, Ctx()) == 5
    assert err.getvalue() == said


def test_stdout_closed(make_monitor) -> None:
    mon, out, err = make_monitor()
    out.close()
    assert mon.call(lambda e, c: {"ok": True}, {}, Ctx()) == {"ok": True}
    exc = HandlerError("x")
    with pytest.raises(HandlerError) as info:
        mon.call(lambda e, c: (_ for _ in ()).throw(exc), {}, Ctx())
    assert info.value is exc
    assert "ValueError" in err.getvalue()  # write to a closed file, said once


def test_proc_unreadable() -> None:
    out, err = io.StringIO(), io.StringIO()
    mon = Monitor(Config(scan="always"), stream=out, err=err, proc="/nonexistent-proc")
    assert mon.call(lambda e, c: 41 + 1, {}, Ctx()) == 42
    exc = HandlerError("y")
    with pytest.raises(HandlerError) as info:
        mon.call(lambda e, c: (_ for _ in ()).throw(exc), {}, Ctx())
    assert info.value is exc
    recs = lines(out)
    assert len(recs) == 2 and all("fd_use" not in r for r in recs)  # what it cannot know: absent
    assert all("duration" in r for r in recs)  # the rest is still measured


def test_bad_configuration_runs_the_handler_untouched(monkeypatch, capsys) -> None:
    monkeypatch.setenv("FDSCOPE_METRICS", "not_a_member")

    @monitor
    def handler(event: dict, context: Ctx) -> int:
        print("from the handler")
        return 3

    assert handler({}, Ctx()) == 3 and handler.monitor is None
    captured = capsys.readouterr()
    assert captured.out == "from the handler\n"  # the output is the handler's alone
    assert "monitor not started" in captured.err


def test_monitor_off_by_environment(monkeypatch, capsys) -> None:
    monkeypatch.setenv("FDSCOPE_MONITOR", "0")
    handler = monitor(lambda e, c: "same")
    assert handler({}, Ctx()) == "same" and handler.monitor is None
    assert capsys.readouterr().out == ""


def test_emfile_at_entry(tmp_path) -> None:
    """No free descriptor when the invocation starts: same result, same exception object."""
    script = textwrap.dedent(
        """
        import io, json, os, resource, sys
        from fdscope.monitor import Config, Monitor
        out, err = io.StringIO(), io.StringIO()
        mon = Monitor(Config(scan="always"), stream=out, err=err)
        mon.call(lambda e, c: None, {}, None)  # warm up: imports, reserve descriptor
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        held = []
        try:
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as exc:
            assert exc.errno == 24
        result = object()
        ok = mon.call(lambda e, c: result, {}, None) is result
        class E(Exception):
            pass
        exc = E("boom")
        def failing(e, c):
            raise exc
        try:
            mon.call(failing, {}, None)
            same = False
        except E as got:
            same = got is exc and got.__context__ is None
        for fd in held:
            os.close(fd)
        recs = [json.loads(x) for x in out.getvalue().splitlines()]
        print(json.dumps({"ok": ok, "same": same, "recs": len([r for r in recs if "_aws" in r]),
                          "emfile": [r.get("emfile") for r in recs if "_aws" in r],
                          "report": any(r.get("event") == "emfile" for r in recs),
                          "err": err.getvalue()}))
        """
    )
    res = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert res.returncode == 0, res.stderr
    import json

    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["ok"] and got["same"]
    # the second invocation's own listing failed (an open failed: EMFILE); the third's
    # succeeded (the report let its reserve go) and its handler raised no EMFILE: a count
    # at the limit alone is near the limit, not EMFILE
    assert got["recs"] == 3 and got["emfile"] == [None, True, None]
    assert got["report"]  # the handle report was written with no free descriptor
    assert "internal error" not in got["err"]
