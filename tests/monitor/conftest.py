"""Helpers for the monitor's tests."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from fdscope.monitor import Config, Monitor


class Ctx:
    """A Lambda context as the runtime passes it (only what the monitor reads)."""

    def __init__(self, request_id: str = "req-1") -> None:
        self.aws_request_id = request_id
        self.function_name = "fn"


def lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(x) for x in buf.getvalue().splitlines() if x.strip()]


@pytest.fixture
def make_monitor():  # type: ignore[no-untyped-def]
    def make(**cfg: Any) -> tuple[Monitor, io.StringIO, io.StringIO]:
        out, err = io.StringIO(), io.StringIO()
        base = {"function_name": "orders", "version": "7", "memory_mb": 128}
        base.update(cfg)
        return Monitor(Config(**base), stream=out, err=err), out, err

    return make
