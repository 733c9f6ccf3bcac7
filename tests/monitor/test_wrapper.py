"""The exec wrapper and the entry handler: no code change, chaining, the runtime's import rules."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

from fdscope.monitor import wrapper_path

ENV_DUMP = [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"]


def _run(
    args: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=60, env=env, cwd=cwd, check=False
    )


def test_wrapper_keeps_the_handler_and_points_the_runtime_at_fdscope() -> None:
    script = wrapper_path()
    assert script.is_file() and script.stat().st_mode & stat.S_IXUSR
    res = _run([str(script), *ENV_DUMP], {"PATH": os.environ["PATH"], "_HANDLER": "app.handler"})
    env = json.loads(res.stdout)
    assert env["_HANDLER"] == "fdscope.monitor.entry.handler"
    assert env["FDSCOPE_HANDLER"] == "app.handler"


def test_wrapper_chains_to_the_next_one(tmp_path: Path) -> None:
    nxt = tmp_path / "otel-wrapper"
    nxt.write_text('#!/bin/sh\nexport NEXT_RAN=yes\nexec "$@"\n')
    nxt.chmod(0o755)
    env = {"PATH": os.environ["PATH"], "_HANDLER": "app.handler", "FDSCOPE_NEXT_WRAPPER": str(nxt)}
    got = json.loads(_run([str(wrapper_path()), *ENV_DUMP], env).stdout)
    assert got["NEXT_RAN"] == "yes" and got["_HANDLER"] == "fdscope.monitor.entry.handler"


def test_wrapper_is_idempotent_and_can_be_switched_off() -> None:
    env = {
        "PATH": os.environ["PATH"],
        "_HANDLER": "fdscope.monitor.entry.handler",
        "FDSCOPE_HANDLER": "app.handler",
    }
    got = json.loads(_run([str(wrapper_path()), *ENV_DUMP], env).stdout)
    assert got["FDSCOPE_HANDLER"] == "app.handler"  # not overwritten by a second pass
    off = {"PATH": os.environ["PATH"], "_HANDLER": "app.handler", "FDSCOPE_MONITOR": "0"}
    got = json.loads(_run([str(wrapper_path()), *ENV_DUMP], off).stdout)
    assert got["_HANDLER"] == "app.handler" and "FDSCOPE_HANDLER" not in got


def test_entry_imports_the_original_handler_as_the_runtime_would(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "app.py").write_text(
        "def handler(event, context):\n    print('user output')\n    return {'got': event}\n"
    )
    code = textwrap.dedent(
        """
        import json
        from fdscope.monitor import entry
        print(json.dumps(entry.handler({"a": 1}, None)))
        """
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "FDSCOPE_HANDLER": "pkg/app.handler",  # the path form Lambda accepts
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
    }
    res = _run([sys.executable, "-c", code], env, cwd=Path("/"))
    assert res.returncode == 0, res.stderr
    out = res.stdout.splitlines()
    assert out[0] == "user output"
    record = json.loads(out[1])
    assert record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "fdscope"
    assert record["function_name"] == "fn"
    assert json.loads(out[2]) == {"got": {"a": 1}}


def test_entry_surfaces_the_users_import_error(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "FDSCOPE_HANDLER": "broken.handler",
        "LAMBDA_TASK_ROOT": str(tmp_path),
    }
    res = _run([sys.executable, "-c", "import fdscope.monitor.entry"], env)
    assert res.returncode != 0 and "ModuleNotFoundError" in res.stderr
    assert "not_a_module_anywhere" in res.stderr


def test_importing_the_monitor_pulls_in_nothing_heavy() -> None:
    code = (
        "import sys, fdscope.monitor; heavy = {'duckdb', 'click', 'rich', 'matplotlib', 'boto3',"
        " 'prometheus_client', 'fdscope.origins', 'fdscope.doctor', 'fdscope.local', 'fdscope.metrics', 'sqlite3',"
        " 'asyncio', 'logging'}; print(sorted(heavy & set(sys.modules)))"
    )
    res = _run(
        [sys.executable, "-c", code], {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
