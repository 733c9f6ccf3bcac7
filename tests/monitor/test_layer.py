"""fdscope layer build: the zip Lambda expects, runnable with the standard library alone."""

from __future__ import annotations

import json
import os
import re
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
        tags = {n.rsplit(".", 2)[-2] for n in pycs}  # every Lambda Python found here, own included
        assert sys.implementation.cache_tag in tags and tags <= {
            f"cpython-3{minor}" for minor in range(10, 14)
        }
        assert "python/fdscope/_extras.py" in names  # fdscope.logs imports it at its top
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


def _build(args: list[str], capsys) -> tuple[int, str]:
    try:
        main(["layer", "build", *args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    else:
        code = 0
    got = capsys.readouterr()
    return code, got.out + got.err


def test_a_runtime_with_no_interpreter_here_is_refused_or_shipped_as_source(
    tmp_path: Path, capsys
) -> None:
    own = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    out = tmp_path / "l.zip"
    code, text = _build(["--out", str(out), "--runtime", own, "--runtime", "python3.99"], capsys)
    assert code == 2 and "no Python 3.99 interpreter" in text and "--allow-source-only" in text
    assert not out.exists()
    code, text = _build(
        ["--out", str(out), "--runtime", own, "--runtime", "python3.99", "--allow-source-only"],
        capsys,
    )
    assert code == 0, text
    assert f"byte code for: {own}\n" in text
    cost = re.search(r"python3\.99: source only .* ~(\d+) ms more", text)
    assert cost and int(cost.group(1)) > 0, text  # measured: compiling the monitor's modules
    with zipfile.ZipFile(out) as zf:
        tags = {n.rsplit(".", 2)[-2] for n in zf.namelist() if n.endswith(".pyc")}
    assert tags == {sys.implementation.cache_tag}
    code, text = _build(["--out", str(tmp_path / "r.zip"), "--runtime", "ruby3.3"], capsys)
    assert code == 2 and "expected python3.X" in text


def test_the_same_sources_give_the_same_zip(tmp_path: Path, capsys) -> None:
    # byte code of several interpreters, frozenset constants included (hash seed fixed)
    a, b = tmp_path / "a.zip", tmp_path / "b.zip"
    versions = ["--runtime", "python3.10", "--runtime", "python3.12", "--allow-source-only"]
    assert _build(["--out", str(a), *versions], capsys)[0] == 0
    assert _build(["--out", str(b), *versions], capsys)[0] == 0
    assert a.read_bytes() == b.read_bytes()


def test_the_zip_says_which_runtimes_it_serves_and_carries_the_node_part(
    tmp_path: Path, capsys
) -> None:
    from fdscope.monitor._layer import LAMBDA_NODES, NODE_PART, build_layer

    both = build_layer(tmp_path / "all.zip", compile=False)
    assert [r for r in both.runtimes if r.startswith("nodejs")] == list(LAMBDA_NODES)
    assert f"{NODE_PART}/handler.mjs" in both.names and "fdscope-wrapper" in both.names
    assert f"{NODE_PART}/origins/node/track.js" in both.names  # FDSCOPE_TRACK=1
    assert not any(n.startswith("python/fdscope/monitor/node/") for n in both.names)
    try:
        main(["layer", "build", "--out", str(tmp_path / "node.zip"), "--runtime", "nodejs20.x"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    assert "serves: nodejs20.x\n" in capsys.readouterr().out
    with zipfile.ZipFile(tmp_path / "node.zip") as zf:
        names = zf.namelist()
    assert names and all(n.startswith("nodejs/") or n == "fdscope-wrapper" for n in names)
    try:
        main(["layer", "build", "--out", str(tmp_path / "bad.zip"), "--runtime", "nodejs16.x"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "nodejs20.x" in capsys.readouterr().err
