"""fdscope layer build: the zip Lambda expects, runnable with the standard library alone."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

from fdscope.cli import main


def test_layer_build_and_run_from_it_with_the_standard_library_only(tmp_path: Path, capsys) -> None:
    out = tmp_path / "fdscope-layer.zip"
    try:
        main(["layer", "build", "--out", str(out)])
    except SystemExit as exc:
        assert exc.code in (0, None)
    assert "wrote" in capsys.readouterr().out
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        wrapper = zf.getinfo("fdscope-wrapper")
        assert (wrapper.external_attr >> 16) & stat.S_IXUSR  # executable at /opt/fdscope-wrapper
        assert "python/fdscope/monitor/entry.py" in names
        assert "python/fdscope/handles/__init__.py" in names
        assert not any(n.startswith("python/fdscope/cli/") for n in names)  # no analysis parts
        pycs = [n for n in names if "__pycache__" in n]
        assert pycs and all(n.endswith(f".{sys.implementation.cache_tag}.pyc") for n in pycs)
        opt = tmp_path / "opt"
        zf.extractall(opt)
    (opt / "fdscope-wrapper").chmod(0o755)
    tag = sys.implementation.cache_tag
    assert f"python/fdscope/monitor/__pycache__/_monitor.{tag}.pyc" in names  # byte code
    # /opt is read-only on Lambda: prove the byte code is what runs, not the source
    (opt / "python" / "fdscope" / "monitor" / "_emfile.py").write_text("this is not python\n")
    task = tmp_path / "task"
    task.mkdir()
    (task / "app.py").write_text("def handler(event, context):\n    return event['x'] * 2\n")
    # As on Lambda: /opt/python on the path, the wrapper in front, no site-packages (-S -I).
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import json, os;"
        "from fdscope.monitor import entry; print(json.dumps(entry.handler({'x': 21}, None)));"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('click','rich','duckdb','boto3','matplotlib'))))"
    )
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONDONTWRITEBYTECODE": "1",
        "_HANDLER": "app.handler",
        "LAMBDA_TASK_ROOT": str(task),
        "AWS_LAMBDA_FUNCTION_NAME": "from-layer",
    }
    res = subprocess.run(
        [str(opt / "fdscope-wrapper"), sys.executable, "-S", "-I", "-c", code, str(opt / "python")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=task,
    )
    assert res.returncode == 0, res.stderr
    record, result, heavy = res.stdout.splitlines()
    assert json.loads(record)["function_name"] == "from-layer"
    assert json.loads(result) == 42 and json.loads(heavy) == []
