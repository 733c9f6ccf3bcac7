"""Options of the local Lambda: origins reports, the monitor, layers, SAM builds, --python."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fdscope.errors import DoctorError
from fdscope.local import LocalLambda, run
from tests.helpers.local_lambda import assert_nothing_left, handler, messages, read_jsonl


def test_origins_reports_arrive_tagged_with_their_invocation(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run(handler("leak"), 4, out_dir=out, track_origins=True)
    assert result.statuses() == {"ok": 4}
    reports = read_jsonl(out / "origins.jsonl")
    assert [r["invocation"] for r in reports] == [1, 2, 3, 4]
    assert all(r["schema"] == "fdscope.origins/1" for r in reports)
    assert all(r["stream"] == result.samples[0].stream for r in reports)
    # the leaked files are attributed to the handler's line in basic.py
    last = reports[-1]
    sites = [g for g in last["groups"] if g["site"] and g["site"]["file"].endswith("basic.py")]
    assert sites and sites[0]["count"] == 4 and sites[0]["site"]["function"] == "leak"


def test_monitor_writes_one_emf_record_per_invocation(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run(handler("leak"), 3, out_dir=out, monitor=True)
    assert result.statuses() == {"ok": 3}
    emf = [json.loads(m) for m in messages(out) if m.lstrip().startswith("{") and '"_aws"' in m]
    assert len(emf) == 3
    assert [r["fd_use"] for r in emf] == sorted(r["fd_use"] for r in emf)
    assert emf[-1]["fd_use"] - emf[0]["fd_use"] == 2


def test_layer_python_folder_is_importable(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    (layer / "python").mkdir(parents=True)
    (layer / "python" / "shared_util.py").write_text("VALUE = 'from the layer'\n")
    site = (
        layer
        / "python"
        / "lib"
        / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        / "site-packages"
    )
    site.mkdir(parents=True)
    (site / "layer_dep.py").write_text("DEP = 'site-packages of the layer'\n")
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(
        "import shared_util, layer_dep\n"
        "def handler(event, context):\n"
        "    return [shared_util.VALUE, layer_dep.DEP]\n"
    )
    with LocalLambda("app.handler", code_root=code, out_dir=tmp_path / "run", layers=[layer]) as fn:
        s = fn.invoke()
        got = json.loads(fn.last_response or b"null")
    assert s.status == "ok"
    assert got == ["from the layer", "site-packages of the layer"]
    assert_nothing_left(fn)
    with (
        pytest.raises(DoctorError, match="no python/ folder"),
        LocalLambda("app.handler", code_root=code, out_dir=tmp_path / "r2", layers=[code]) as bad,
    ):
        bad.invoke()


def test_sam_build_folder_works_as_a_code_root(tmp_path: Path) -> None:
    build = tmp_path / ".aws-sam" / "build" / "OrdersFunction"
    (build / "vendored_pkg").mkdir(parents=True)
    (build / "vendored_pkg" / "__init__.py").write_text("NAME = 'vendored'\n")
    (build / "src").mkdir()
    (build / "src" / "__init__.py").write_text("")
    (build / "src" / "orders.py").write_text(
        "import os, vendored_pkg\n"
        "def handler(event, context):\n"
        "    return [vendored_pkg.NAME, os.environ['LAMBDA_TASK_ROOT']]\n"
    )
    with LocalLambda("src/orders.handler", code_root=build, out_dir=tmp_path / "run") as fn:
        s = fn.invoke()
        got = json.loads(fn.last_response or b"null")
    assert s.status == "ok" and got == ["vendored", str(build)]
    assert (
        json.loads((tmp_path / "run" / "run.json").read_text())["function_name"] == "OrdersFunction"
    )
    assert_nothing_left(fn)


def test_another_interpreter_gets_the_runtime_client_without_installing(tmp_path: Path) -> None:
    venv = tmp_path / "uservenv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    check = subprocess.run(
        [str(python), "-c", "import awslambdaric"], capture_output=True, timeout=60
    )
    assert check.returncode != 0  # the user's environment has no runtime client
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(
        textwrap.dedent(
            """
            import sys
            def handler(event, context):
                return {"prefix": sys.prefix, "n": event["n"]}
            """
        )
    )
    with LocalLambda(
        "app.handler", code_root=code, out_dir=tmp_path / "run", python=str(python)
    ) as fn:
        samples = [fn.invoke({"n": i}) for i in range(3)]
        got = json.loads(fn.last_response or b"null")
    assert [s.status for s in samples] == ["ok"] * 3
    assert got == {"prefix": str(venv), "n": 2}
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["interpreter"] == str(python)
    assert not list(venv.glob("lib/python*/site-packages/awslambdaric*"))  # nothing installed
    assert_nothing_left(fn)


def test_bad_interpreter_and_bad_handlers_are_doctor_errors(tmp_path: Path) -> None:
    with pytest.raises(DoctorError, match="cannot run Python interpreter"):
        LocalLambda(handler("ok"), out_dir=tmp_path / "a", python=str(tmp_path / "nope")).open()
    with pytest.raises(DoctorError, match="handler file not found"):
        LocalLambda(f"{tmp_path}/missing.py:handler", out_dir=tmp_path / "b")
    with pytest.raises(DoctorError, match="expected module.function"):
        LocalLambda("nodot", code_root=tmp_path, out_dir=tmp_path / "c")
    with pytest.raises(DoctorError, match="reserved"):
        LocalLambda(handler("ok"), out_dir=tmp_path / "d", env={"AWS_LAMBDA_RUNTIME_API": "x"})
    with pytest.raises(DoctorError, match="hard limit"):
        LocalLambda(handler("ok"), out_dir=tmp_path / "e", fd_limit=10**9)
    (tmp_path / "afile").write_text("")
    with pytest.raises(DoctorError, match="cannot create the run directory"):
        LocalLambda(handler("ok"), out_dir=tmp_path / "afile" / "run").open()


def test_a_handler_the_module_does_not_define_is_a_usage_error(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        "import os\n"
        "try:\n    import ujson as json\nexcept ImportError:\n    import json\n"
        "if os.environ.get('X'):\n    def alt(event, context):\n        return 2\n"
        "def handler(event, context):\n    return 1\n"
        "class App:\n    def __call__(self, event, context):\n        return 3\n"
        "app = App()\n"
    )
    for good in ("app.py:handler", "app.py:alt", "app.py:app", "app.py:json"):
        LocalLambda(f"{tmp_path}/{good}", out_dir=tmp_path / "ok")  # parses; nothing runs
    LocalLambda("app.handler", code_root=tmp_path, out_dir=tmp_path / "ok")
    with pytest.raises(DoctorError, match="'nope' not found .* it defines App, alt, app, handler$"):
        LocalLambda(f"{tmp_path}/app.py:nope", out_dir=tmp_path / "x")
    with pytest.raises(DoctorError, match="'nope' not found"):
        LocalLambda("app.nope", code_root=tmp_path, out_dir=tmp_path / "x")
    with pytest.raises(DoctorError, match="name the function too, e.g. app.py:App"):
        LocalLambda("app.py", code_root=tmp_path, out_dir=tmp_path / "x")
    # what a static look cannot settle is left to the runtime
    (tmp_path / "dyn.py").write_text("from helpers import *\n")
    LocalLambda(f"{tmp_path}/dyn.py:handler", out_dir=tmp_path / "ok")
    (tmp_path / "broken.py").write_text("def handler(:\n")
    LocalLambda(f"{tmp_path}/broken.py:handler", out_dir=tmp_path / "ok")


def test_monitor_chains_to_the_users_exec_wrapper(tmp_path: Path) -> None:
    wrapper = tmp_path / "wrapper.sh"
    wrapper.write_text('#!/bin/sh\nexport USER_WRAPPED=yes\nexec "$@"\n')
    wrapper.chmod(0o755)
    out = tmp_path / "run"
    with LocalLambda(
        handler("env"),
        out_dir=out,
        monitor=True,
        env={"AWS_LAMBDA_EXEC_WRAPPER": str(wrapper)},
    ) as fn:
        s = fn.invoke({"keys": ["USER_WRAPPED"]})
        seen = json.loads(fn.last_response or b"{}")
    assert s.status == "ok" and seen == {"USER_WRAPPED": "yes"}
    assert any('"_aws"' in m for m in messages(out))  # and the monitor ran too
    assert_nothing_left(fn)
