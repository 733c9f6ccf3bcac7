"""``--aws-endpoint``: a local AWS that keeps connections alive, and a user's endpoint checked.

The commonest Lambda leak is an SDK client made per invocation and kept. Against AWS,
which keeps HTTP/1.1 connections alive, each kept client holds a socket: 1 descriptor
per invocation. moto's own server answers ``Connection: close``, so the same handler
holds nothing and the doctor says ``none``: it must say so with a warning. With
``--aws-endpoint local`` fdscope serves moto with keep-alive and the leak shows. Both in
Python (boto3) and Node.js (AWS SDK for JavaScript v3, tests/fixtures/node_aws_sdk,
installed by ``make node``). Everything on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fdscope.cli import cli
from fdscope.local import LocalAWS, check_endpoint, handler_endpoint

ROOT = Path(__file__).resolve().parents[2]
NODE_APP = ROOT / "tests" / "fixtures" / "node_aws_sdk"
LIMIT = "256"
N = "40"

RETAINED_PY = """
import os

import boto3

_clients = []


def handler(event, context):
    s3 = boto3.client("s3")  # region and endpoint from the environment, as on Lambda
    _clients.append(s3)
    s3.list_buckets()
    print("region", os.environ["AWS_REGION"], os.environ["AWS_DEFAULT_REGION"])
    return {"ok": True, "region": os.environ["AWS_REGION"]}
"""


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """moto's own server (werkzeug): answers every request with Connection: close."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _doctor(handler: str, out: Path, endpoint: str, *extra: str) -> tuple[dict[str, Any], str]:
    args = ["doctor", handler, "--aws-endpoint", endpoint, "--fd-limit", LIMIT, "-n", N]
    args += ["--no-gc-check", "--out", str(out), "--timeout", "20", *extra]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    summary = json.loads((out / "summary.json").read_text())
    return summary, result.output


def _no_descriptor_leak(summary: dict[str, Any]) -> None:
    """Descriptors flat: the descriptor verdict is none. The retained clients still grow
    memory (boto3: about 0.4 MB each), which the doctor may call a memory leak of its own."""
    assert summary["rate_per_invocation"] == pytest.approx(0.0, abs=0.05), summary
    assert summary["shape"] == "flat", summary
    assert summary["verdict"] == "none" or summary.get("first_limit") == "memory", summary


def test_the_check_tells_a_closing_endpoint_from_a_keep_alive_one(moto_server: str) -> None:
    closing = check_endpoint(moto_server)
    assert (closing.reachable, closing.keeps_alive) == (True, False)
    assert closing.how == "Connection: close"
    with LocalAWS() as aws:
        kept = check_endpoint(aws.endpoint)
        assert (kept.reachable, kept.keeps_alive, kept.how) == (True, True, "kept")
        port = aws.port
    gone = check_endpoint(f"http://127.0.0.1:{port}")  # stopped with its block
    assert gone.reachable is False and "ConnectionRefused" in gone.how


def test_handler_endpoint_warns_only_where_retained_clients_would_not_show(
    moto_server: str,
) -> None:
    with handler_endpoint(moto_server) as given:
        assert given is not None and given.keeps_alive is False
        assert given.warning and "retained clients will not show" in given.warning
    with handler_endpoint(f"http://127.0.0.1:{_closed_port()}") as down:
        assert down is not None and down.warning and "did not answer" in down.warning
    with handler_endpoint("local") as local:
        assert local is not None and local.local and local.warning is None
        assert local.url.startswith("http://127.0.0.1:")
    with handler_endpoint(None) as none:
        assert none is None


def test_python_retained_boto3_client(tmp_path: Path, moto_server: str) -> None:
    app = tmp_path / "code" / "app.py"
    app.parent.mkdir()
    app.write_text(textwrap.dedent(RETAINED_PY))
    hidden, printed = _doctor(f"{app}:handler", tmp_path / "close", moto_server)
    _no_descriptor_leak(hidden)
    assert any("retained clients will not show" in n for n in hidden["notes"])
    assert "retained clients will not show" in " ".join(printed.split())

    shown, _ = _doctor(f"{app}:handler", tmp_path / "local", "local", "--region", "eu-west-1")
    assert shown["verdict"] == "leak", shown
    assert shown["rate_per_invocation"] == pytest.approx(1.0, abs=0.1)
    assert not any("retained clients" in n for n in shown["notes"])
    run = json.loads((tmp_path / "local" / "run.json").read_text())
    assert run["options"]["aws_endpoint"].startswith("http://127.0.0.1:")
    events = (tmp_path / "local" / "events.jsonl").read_text()
    assert "region eu-west-1 eu-west-1" in events  # --region, as Lambda sets both
    assert "region us-east-1 us-east-1" in (tmp_path / "close" / "events.jsonl").read_text()


def _node_ready() -> None:
    why = None
    if shutil.which("node") is None:
        why = "node is not installed"
    elif not (NODE_APP / "node_modules" / "@aws-sdk" / "client-s3").is_dir():
        why = "tests/fixtures/node_aws_sdk/node_modules is missing (make node)"
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI=true: {why}")
        pytest.skip(why)


def test_node_retained_sdk_v3_client(tmp_path: Path, moto_server: str) -> None:
    _node_ready()
    handler = f"{NODE_APP / 'app.js'}:handler"
    hidden, printed = _doctor(handler, tmp_path / "close", moto_server)
    _no_descriptor_leak(hidden)
    assert any("retained clients will not show" in n for n in hidden["notes"])
    assert "retained clients will not show" in " ".join(printed.split())

    shown, _ = _doctor(handler, tmp_path / "local", "local")
    assert shown["verdict"] == "leak", shown
    assert shown["rate_per_invocation"] == pytest.approx(1.0, abs=0.1)


def test_a_bad_endpoint_is_a_usage_error(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text("def handler(event, context):\n    return 1\n")
    result = CliRunner().invoke(
        cli, ["invoke", f"{app}:handler", "--aws-endpoint", "localhost:5000", "-q"]
    )
    assert result.exit_code == 2
    assert "expected 'local' or a URL" in result.output
