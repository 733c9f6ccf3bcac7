"""Advice that fits the code, and compare that keeps improvements and regressions apart."""

from __future__ import annotations

import json
import random
from pathlib import Path

from fdscope.doctor import Culprit
from fdscope.doctor.advice import advice
from fdscope.doctor.compare import compare
from fdscope.lint import Finding

APP = """\
import contextlib
import logging
import os
import sqlite3

import boto3

DB = "/tmp/orders.db"
logger = logging.getLogger("task")


def per_run_log(event, context):
    run_dir = os.path.join("/tmp", context.aws_request_id)
    logger.addHandler(logging.FileHandler(os.path.join(run_dir, "task.log")))


def with_sqlite(event, context):
    with sqlite3.connect(DB) as conn:
        conn.execute("select 1")


def s3_per_call(event, context):
    s3 = boto3.client("s3")
    return s3.list_buckets()


@contextlib.contextmanager
def task_logging(path):
    handler = logging.FileHandler("/tmp/task.log")
    logger.addHandler(handler)
    yield
"""


def _culprit(line: int, call: str, kind: str = "file") -> Culprit:
    return Culprit(
        site=f"app.py:{line}",
        function="f",
        call=call,
        kind=kind,
        endpoint=None,
        count=40,
        approximate=False,
    )


def test_a_per_run_log_file_is_closed_and_removed_when_the_run_ends(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    text = advice("leak", _culprit(14, "logging.FileHandler"), False, code_root=tmp_path)
    assert "when the run ends" in text and "removeHandler" in text
    assert "module scope" not in text
    # a handler added inside a context manager is per run too
    text = advice("leak", _culprit(29, "logging.FileHandler"), False, code_root=tmp_path)
    assert "when the run ends" in text


def test_a_line_inside_with_never_gets_use_a_with_block(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    for verdict, gc_cleans in (("gc-bound", True), ("leak", False)):
        text = advice(verdict, _culprit(18, "sqlite3.connect"), gc_cleans, code_root=tmp_path)
        assert "with block" not in text.replace("The with block at", "")
        assert "contextlib.closing(sqlite3.connect(...))" in text


def test_a_boto3_client_moved_to_module_scope_comes_with_the_lazy_form(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    static = (Finding(str(tmp_path / "app.py"), 23, 9, "FDS201", "boto3.client() per call", ""),)
    c = _culprit(24, "botocore.client.ClientCreator._create_api_method.<locals>._api_call", "tcp")
    text = advice("leak", c, False, static=static, code_root=tmp_path)
    assert "client built per invocation at app.py:23" in text
    assert "NoRegionError" in text and "if _client is None: _client = boto3.client(" in text


def test_the_fix_never_names_an_option_the_doctor_already_uses() -> None:
    assert "--track-origins" not in advice("leak", None, False)


def _run(
    path: Path, n: int, rate: float, p50: float, *, limit: int = 1024, event: str = "a"
) -> Path:
    path.mkdir()
    rng = random.Random(n)
    rows = []
    for i in range(n):
        rows.append(
            {
                "invocation": i + 1,
                "stream": "s",
                "status": "ok",
                "fd_count": 10 + int(rate * i),
                "fd_limit": limit,
                "duration_ms": p50 * (0.9 + 0.2 * rng.random()),
                "cold_start": i == 0,
            }
        )
    (path / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (path / "run.json").write_text(
        json.dumps({"handler": "app.handler", "fd_limit": limit, "event": event})
    )
    return path


def test_compare_fixed_only_when_nothing_got_worse_beyond_noise(tmp_path: Path) -> None:
    before = _run(tmp_path / "a", 1009, 1.0, 5.0)
    # a short fixed run, a little slower within noise: fixed, with a warning on the length
    c = compare(before, _run(tmp_path / "b", 40, 0.0, 5.3))
    assert c.outcome == "fixed", c.reasons
    assert not c.regressions
    assert any("1009 and 40 invocations" in w for w in c.warnings)
    assert any(r.startswith("warning: the runs differ in length") for r in c.reasons)
    # the leak gone but every invocation ten times slower: not "fixed"
    c = compare(before, _run(tmp_path / "c", 1009, 0.0, 50.0))
    assert c.outcome == "improved", c.reasons
    assert any(r.startswith("p50 duration") for r in c.regressions)
    assert any(r.startswith("leak rate") for r in c.improvements)
    assert not c.warnings
    # another event, another limit: said
    c = compare(before, _run(tmp_path / "d", 1009, 0.0, 5.0, limit=256, event="b"))
    assert any("different events" in w for w in c.warnings)
    assert any("1024 and 256" in w for w in c.warnings)
