"""The orchestration asks the Runtime, and only the Runtime, what depends on the language.

A runtime that changes what it says (handler form, variables, INIT_START, run.json,
its reserved variables, its log collector) changes the run accordingly, with no
other edit: where a second language (Node.js) plugs in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fdscope.errors import DoctorError
from fdscope.local import Handler, LocalLambda, PythonRuntime, Runtime, _logs
from tests.helpers.local_lambda import BASIC, assert_nothing_left, messages


class _Prefixing:
    def __init__(self, log: _logs.EventLog) -> None:
        self.real = log

    def emit(self, stream: str, message: str, timestamp_ms: int | None = None) -> None:
        self.real.emit(stream, "[framed by the runtime] " + message, timestamp_ms)


class _Collector(_logs.Collector):
    """Marks every event from stdout/stderr, to show the runtime's collector is used."""

    def _lines(self, buf: bytearray, *, final: bool) -> None:
        real = self.log
        self.log = _Prefixing(real)  # type: ignore[assignment]
        try:
            super()._lines(buf, final=final)
        finally:
            self.log = real


class _Marked(PythonRuntime):
    """Python underneath; the language-dependent answers are its own."""

    language = "marked"
    reserved = (*PythonRuntime.reserved, "MARKED_RESERVED")

    def parse_handler(self, text: str, code_root: Path | None = None) -> Handler:
        # "basic@ok" -> basic.ok, in the handlers folder
        module, _, func = text.partition("@")
        return Handler(f"{module}.{func}", BASIC.parent)

    def environment(self, handler: Handler, layers: list[Path], staging: Path) -> dict[str, str]:
        return {**super().environment(handler, layers, staging), "MARKED_VAR": "yes"}

    def init_start_line(self) -> str:
        return "INIT_START Runtime Version: marked:1.0\n"

    def collector(self, log: Any, stream: str, *, telemetry_fd: int, output_fds: list[int]) -> Any:
        return _Collector(log, stream, telemetry_fd=telemetry_fd, output_fds=output_fds)

    def record(self) -> dict[str, Any]:
        return {**super().record(), "runtime_client": {"name": "marked", "version": "1"}}


def test_the_runtime_decides_handler_variables_logs_and_record(tmp_path: Path) -> None:
    out = tmp_path / "run"
    fn = LocalLambda("basic@ok", out_dir=out, runtime=_Marked())
    with fn:
        s = fn.invoke({})
        assert s.status == "ok", s
    assert fn.handler.name == "basic.ok"
    run = json.loads((out / "run.json").read_text())
    assert run["runtime"] == "marked"
    assert run["runtime_client"] == {"name": "marked", "version": "1"}
    assert run["lambda_handler"] == "basic.ok"
    lines = messages(out)
    assert lines[0] == "INIT_START Runtime Version: marked:1.0\n"
    assert "[framed by the runtime] hello from " + s.request_id + "\n" in lines, lines
    assert_nothing_left(fn)


def test_the_runtime_reserves_its_own_variables(tmp_path: Path) -> None:
    with pytest.raises(DoctorError, match="MARKED_RESERVED"):
        LocalLambda(
            "basic@ok", out_dir=tmp_path / "r", runtime=_Marked(), env={"MARKED_RESERVED": "1"}
        )
    with pytest.raises(DoctorError, match="_FDSCOPE_STAGING"):
        LocalLambda(f"{BASIC}:ok", out_dir=tmp_path / "p", env={"_FDSCOPE_STAGING": "/x"})


def test_the_base_runtime_passes_the_handler_as_lambda_does(tmp_path: Path) -> None:
    h = Handler("app.handler", tmp_path)
    assert Runtime().environment(h, [], tmp_path) == {
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "_HANDLER": "app.handler",
    }
    env = PythonRuntime().environment(h, [], tmp_path)
    assert env["_HANDLER"] == "app.handler" and env["PYTHONPATH"].split(":")[0] == str(tmp_path)
    assert PythonRuntime().record()["runtime"] == "python"
