"""Node.js in the local Lambda: real handlers through the real aws-lambda-ric and
through fdscope's stand-in client, which must behave the same (responses, error
payloads, log lines, timeouts, init errors, restarts), and leave nothing behind.

The real client comes from fdscope's cache (`fdscope setup node`, run by `make
test`); without it the `ric` cases skip, and with CI=true they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from fdscope.errors import DoctorError
from fdscope.local import HandlerError, LocalLambda, NodeRuntime, select_runtime
from fdscope.local.runtimes import _node_client
from tests.helpers.local_lambda import HANDLERS, assert_nothing_left, messages, read_jsonl

NODE = shutil.which("node")
NODE_DIR = HANDLERS / "node"
APP = NODE_DIR / "app.js"


def _layer(tmp_path: Path) -> Path:
    """A Lambda layer for Node, written at test time (a layer's ``nodejs/node_modules``
    holds the function's shared code; no installed package is committed)."""
    lib = tmp_path / "layer" / "nodejs" / "node_modules" / "layerlib"
    lib.mkdir(parents=True, exist_ok=True)
    (lib / "index.js").write_text('exports.hello = () => "from the layer";\n')
    return tmp_path / "layer"


CI = bool(os.environ.get("CI"))

pytestmark = pytest.mark.skipif(NODE is None and not CI, reason="node is not installed")


def _node_major() -> int:
    return int(_node_client.node_version(NODE or "node").split(".")[0])


@pytest.fixture(scope="module", params=["ric", "standin"])
def client(request: pytest.FixtureRequest) -> str:
    if NODE is None:
        pytest.fail("CI=true but node is not installed")
    if request.param == "ric":
        major = _node_client.ric_major(_node_major())
        if _node_client.cached_client(major) is None:
            why = f"aws-lambda-ric {major}.x is not in {_node_client.cache_dir(major)} (make test / fdscope setup node)"
            if CI:
                pytest.fail(f"CI=true: {why}")
            pytest.skip(why)
    return str(request.param)


def _fn(tmp_path: Path, handler: str, client: str, **kw: Any) -> LocalLambda:
    kw.setdefault("timeout_s", 5.0)
    kw.setdefault("sample", "count")
    return LocalLambda(
        handler, out_dir=tmp_path / f"run-{uuid.uuid4().hex[:6]}", node_client=client, **kw
    )


_CLIENT_FRAME = re.compile(r"aws-lambda-ric|standin\.mjs|node:internal|bootstrap\.mjs")


def _norm_trace(trace: list[str]) -> list[str]:
    """A stack without the client's own frames (they differ by file and line)."""
    return [line for line in trace if not _CLIENT_FRAME.search(line)]


def _app_lines(out_dir: Path) -> list[str]:
    """The function's own log lines, with time and request id replaced."""
    out = []
    for m in messages(out_dir):
        if re.match(r"^(INIT_START|START|END|REPORT|INIT_REPORT)", m):
            continue
        m = re.sub(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t[0-9a-f-]{36}\t", "T\tID\t", m)
        m = re.sub(r',"    at [^"]*(aws-lambda-ric|standin\.mjs|node:internal)[^"]*"', "", m)
        out.append(m)
    return out


# -- the same handlers under both clients ------------------------------------------
CASES: list[tuple[str, list[str], Any]] = [
    # (export, expected statuses, expected first response or error type)
    ("callback", ["ok", "ok"], {"ok": 7, "fn": None, "left": True}),
    ("asyncReturn", ["ok"], {"async": True, "n": 7}),
    ("nested.deeper.fn", ["ok"], "nested"),
    ("asyncThrow", ["error", "error"], "TypeError"),
    ("callbackError", ["error"], "Error"),
    ("callbackString", ["error"], "string"),
    ("noCallback", ["ok"], None),
    ("succeed", ["ok"], {"via": "succeed"}),
    ("waitsForTimer", ["ok"], "after the timer"),
    ("noWait", ["ok", "ok"], "at once"),
]


@pytest.mark.parametrize(("export", "statuses", "first"), CASES, ids=[c[0] for c in CASES])
def test_handlers_answer_as_lambda(
    tmp_path: Path, client: str, export: str, statuses: list[str], first: Any
) -> None:
    fn = _fn(tmp_path, f"{APP}:{export}", client)
    with fn:
        samples = [fn.invoke({"n": 7}) for _ in statuses]
        body = fn.last_response
    assert [s.status for s in samples] == statuses
    assert not any(s.cold_start for s in samples[1:])  # one environment throughout
    if statuses[0] == "ok":
        got = json.loads(body or b"null")
        if isinstance(first, dict) and "fn" in first:
            first = {**first, "fn": fn.function_name}
        assert got == first
    else:
        assert samples[0].error_type == first
    assert_nothing_left(fn)
    run = json.loads((fn.out_dir / "run.json").read_text())
    assert run["runtime"] == "nodejs"
    assert run["runtime_client"]["name"] == (
        "aws-lambda-ric" if client == "ric" else "fdscope-standin"
    )
    assert run["network_guard"] is False
    (tmp_path / f"{export}.{client}.json").write_text(
        json.dumps({"statuses": [s.status for s in samples], "lines": _app_lines(fn.out_dir)})
    )


def test_log_lines_are_lambdas(tmp_path: Path, client: str) -> None:
    """console.* becomes `<ISO time>\\t<requestId>\\t<LEVEL>\\t<message>`, one event
    per call (a newline stays inside it), as aws-lambda-ric frames it."""
    fn = _fn(tmp_path, f"{APP}:callback", client)
    with fn:
        s = fn.invoke({"n": 1})
    lines = [m for m in messages(fn.out_dir) if s.request_id in m and "\t" in m[:40]]
    assert len(lines) == 2
    assert re.fullmatch(
        rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{s.request_id}\tINFO\thello {{ n: 1 }} {{ n: \[ 1, 2 \] }}\n",
        lines[0],
    )
    assert lines[1].endswith(f"{s.request_id}\tWARN\ttwo\nlines\n")
    first = messages(fn.out_dir)[0]
    assert re.match(rf"INIT_START Runtime Version: nodejs:{_node_major()}\.", first)


def test_error_payload_is_aws_lambda_rics(tmp_path: Path, client: str) -> None:
    fn = _fn(tmp_path, f"{APP}:asyncThrow", client)
    with fn:
        s = fn.invoke({})
    assert s.status == "error"
    assert (s.error_type, s.error_message) == ("TypeError", "bad input")
    text = "\n".join(messages(fn.out_dir))
    assert (
        '\tERROR\tInvoke Error \t{"errorType":"TypeError","errorMessage":"bad input","code":"E_BAD"'
        in text
    )
    assert f"{APP}:" in text  # the user's frame is in the logged stack


def test_callback_server_times_out_and_restarts(tmp_path: Path, client: str) -> None:
    """A callback handler whose server keeps the event loop busy never answers: every
    invocation times out and the next one is a cold start in a new environment."""
    fn = _fn(tmp_path, f"{APP}:serverPerCall", client, timeout_s=0.6)
    with fn:
        samples = [fn.invoke({}) for _ in range(2)]
    assert [s.status for s in samples] == ["timeout", "timeout"]
    assert all(s.cold_start for s in samples)
    assert len(fn.history) == 2
    assert any("Task timed out after 0.60 seconds" in m for m in messages(fn.out_dir))
    assert_nothing_left(fn)


@pytest.mark.parametrize(
    ("export", "how"),
    [("uncaughtLater", "129"), ("rejection", "128")],
    ids=["uncaught", "rejection"],
)
def test_uncaught_error_reports_and_restarts(
    tmp_path: Path, client: str, export: str, how: str
) -> None:
    fn = _fn(tmp_path, f"{APP}:{export}", client)
    with fn:
        first = fn.invoke({})
        second = fn.invoke({})
    assert first.status == "error"
    assert first.error_type in ("Error", "Runtime.UnhandledPromiseRejection")
    assert second.cold_start  # the runtime exited after reporting: a new environment
    assert_nothing_left(fn)


@pytest.mark.parametrize(
    ("handler", "error_type"),
    [
        ("syntax_error.handler", "Runtime.UserCodeSyntaxError"),
        ("import_error.handler", "Runtime.ImportModuleError"),
        ("app.missing", "Runtime.HandlerNotFound"),
        ("app.notAFunction", "Runtime.HandlerNotFound"),
        ("nosuchmodule.handler", "Runtime.ImportModuleError"),
    ],
)
def test_init_errors_as_lambda_words_them(
    tmp_path: Path, client: str, handler: str, error_type: str
) -> None:
    fn = _fn(
        tmp_path, handler, client, code_root=NODE_DIR, runtime="nodejs" + str(_node_major()) + ".x"
    )
    with fn:
        s = fn.invoke({})
    assert s.status != "ok"
    assert s.error_type == error_type
    text = "\n".join(messages(fn.out_dir))
    assert "INIT_REPORT" in text or error_type in text
    assert_nothing_left(fn)


@pytest.mark.parametrize(
    ("handler", "code_root", "expected"),
    [
        (f"{NODE_DIR}/esm/app.mjs:handler", None, {"esm": "mjs"}),
        (f"{NODE_DIR}/esm/typed.js:handler", None, {"esm": "type-module .js"}),
        (f"{NODE_DIR}/common.cjs:handler", None, {"cjs": True}),
        ("sub/deeper/mod.go", NODE_DIR, "from sub/deeper"),
    ],
    ids=["mjs", "type-module", "cjs", "nested-path"],
)
def test_module_kinds(
    tmp_path: Path, client: str, handler: str, code_root: Path | None, expected: Any
) -> None:
    fn = _fn(tmp_path, handler, client, code_root=code_root)
    with fn:
        s = fn.invoke({})
        body = fn.last_response
    assert s.status == "ok", s.error_message
    assert json.loads(body or b"null") == expected


def test_environment_as_lambda_sets_it(tmp_path: Path, client: str) -> None:
    LAYER = _layer(tmp_path)
    fn = _fn(tmp_path, f"{APP}:env", client, layers=[LAYER])
    with fn:
        fn.invoke({})
        got = json.loads(fn.last_response or b"{}")
        fn.invoke({})
    assert got["handler"] == "app.env"
    assert got["taskRoot"] == str(NODE_DIR)
    assert got["execEnv"] == f"AWS_Lambda_nodejs{_node_major()}.x"
    assert got["nodePath"].split(":") == [str(LAYER / "nodejs" / "node_modules"), str(NODE_DIR)]
    assert got["limit"].split()[3:5] == ["1024", "1024"]
    assert got["tmp"] != "/tmp" and got["tmp"].endswith("/tmp")  # a private /tmp
    assert got["fdscopeVars"] == []  # the bootstrap takes its own variables away
    assert got["gc"] == "function"  # node --expose-gc, as Lambda starts it
    fn2 = _fn(tmp_path, f"{APP}:layer", client, layers=[LAYER])
    with fn2:
        s = fn2.invoke({})
    assert s.status == "ok" and json.loads(fn2.last_response or b"null") == "from the layer"


def test_socket_files_outside_tmp_removed(tmp_path: Path, client: str) -> None:
    """A server bound at a hard-coded /tmp path (aws-serverless-express's
    /tmp/server-*.sock) leaves a file when its process is killed: removed at the end."""
    tag = uuid.uuid4().hex[:8]
    fn = _fn(tmp_path, f"{APP}:socketFile", client)
    with fn:
        fn.invoke({"tag": tag})
        got = json.loads(fn.last_response or b"{}")
        # with the sandbox's private /tmp the literal /tmp path is in the environment's
        # own tmp folder (removed with it), else on the machine's /tmp
        private = json.loads((fn.out_dir / "run.json").read_text())["sandbox"]["tmp"]
        where = Path(got["where"])
        if private == "private":
            where = Path(fn.history[0].tmp) / where.relative_to("/tmp")
            assert not Path(got["where"]).exists()  # nothing on the machine's /tmp
        assert got["exists"] and where.exists()
    assert not where.exists()
    assert_nothing_left(fn)


def test_both_clients_write_the_same(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The stand-in and the real client: same statuses and the same log lines (time,
    request id and the clients' own stack frames aside) for every case above."""
    major = _node_client.ric_major(_node_major()) if NODE else 3
    if NODE is None or _node_client.cached_client(major) is None:
        if CI:
            pytest.fail("CI=true: node or aws-lambda-ric missing")
        pytest.skip("needs node and aws-lambda-ric")
    base = tmp_path_factory.mktemp("same")
    seen: dict[str, dict[str, Any]] = {}
    for client in ("ric", "standin"):
        for export, statuses, _ in CASES:
            fn = _fn(base, f"{APP}:{export}", client)
            with fn:
                got = [fn.invoke({"n": 3}).status for _ in statuses]
            seen.setdefault(export, {})[client] = (got, _app_lines(fn.out_dir))
    for export, by_client in seen.items():
        assert by_client["ric"] == by_client["standin"], export


# -- choosing the runtime ---------------------------------------------------------------
def test_runtime_from_the_file_and_errors(tmp_path: Path) -> None:
    if NODE is None:
        pytest.fail("CI=true but node is not installed")
    assert isinstance(select_runtime(f"{APP}:callback"), NodeRuntime)
    assert select_runtime("app.callback", NODE_DIR).language == "nodejs"
    (tmp_path / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (tmp_path / "app.js").write_text("exports.handler = async () => 1;\n")
    with pytest.raises(HandlerError, match="matches both app.py and app.js"):
        select_runtime("app.handler", tmp_path)
    assert (
        select_runtime("app.handler", tmp_path, runtime=f"nodejs{_node_major()}.x").language
        == "nodejs"
    )
    here = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert select_runtime("app.handler", tmp_path, runtime=here).language == "python"
    other = 22 if _node_major() != 22 else 20
    with pytest.raises(DoctorError, match=f"--runtime nodejs{other}.x but .* is Node"):
        LocalLambda(f"{APP}:callback", out_dir=tmp_path / "r", runtime=f"nodejs{other}.x").open()
    (tmp_path / "svc.ts").write_text("export const handler = async () => 1;\n")
    with pytest.raises(HandlerError, match="build it first"):
        select_runtime(f"{tmp_path}/svc.ts:handler")
    with pytest.raises(HandlerError, match="TypeScript"):
        select_runtime("svc.handler", tmp_path)
    with pytest.raises(DoctorError, match="node not found"):
        select_runtime(f"{APP}:callback", node=str(tmp_path / "no-node"))
    with pytest.raises(DoctorError, match="unknown runtime"):
        select_runtime(f"{APP}:callback", runtime="nodejs16.x")


def test_cli_invoke_node(tmp_path: Path) -> None:
    if NODE is None:
        pytest.fail("CI=true but node is not installed")
    from click.testing import CliRunner

    from fdscope.cli import cli

    out = tmp_path / "run"
    res = CliRunner().invoke(
        cli,
        [
            "invoke",
            f"{APP}:asyncReturn",
            "-n",
            "2",
            "--out",
            str(out),
            "--runtime-client",
            "standin",
        ],
    )
    assert res.exit_code == 0, res.output + res.stderr
    # the sandbox's network namespace guards Node too: no claim that nothing does
    assert "no network guard" not in res.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["runtime_client"]["name"] == "fdscope-standin"
    assert [r["status"] for r in read_jsonl(out / "samples.jsonl")] == ["ok", "ok"]
