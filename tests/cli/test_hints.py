"""Errors with a hint: no region, no credentials, an unreachable endpoint, a missing extra,
and a sweep over too little data.

The AWS cases run the real command (``python -m fdscope``) with an environment that has
no AWS variables and no ~/.aws (HOME in tmp_path), against moto in server mode on
127.0.0.1 where an endpoint is needed. Each must end in one ``error:`` line and a
``hint:`` line, exit 2, and no traceback.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from fdscope._aws_errors import aws_errors, setup_error
from fdscope.cli import cli
from fdscope.errors import EndpointUnreachable, FdscopeError, NoCredentials, NoRegion

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _bare_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No AWS variables, no ~/.aws, no instance metadata: nothing to find a region or keys in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(home / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="1",
        AWS_RETRY_MODE="standard",
        NO_COLOR="1",
        COLUMNS="200",
        **extra,
    )
    return env


def _fdscope(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fdscope", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


QUERY = ["query", "--log-group", "/aws/lambda/api", "--start", "1h", "fields @message"]


def _one_error_with_hint(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: "), proc.stderr
    assert "\n  hint: " in proc.stderr, proc.stderr
    return " ".join(proc.stderr.split())


def test_query_without_a_region_says_how_to_give_one(tmp_path: Path) -> None:
    said = _one_error_with_hint(_fdscope(_bare_env(tmp_path), *QUERY))
    assert "querying CloudWatch Logs Insights: no AWS region is configured" in said
    assert "AWS_DEFAULT_REGION" in said and "aws configure" in said
    assert "pass --region" in said  # query takes --region, as every command that calls AWS


def test_logs_pull_without_credentials_says_how_to_give_them(
    tmp_path: Path, moto_server: str
) -> None:
    env = _bare_env(tmp_path, AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=moto_server)
    args = ["logs", "pull", "--log-group", "/aws/lambda/api", str(tmp_path / "pulled")]
    said = _one_error_with_hint(_fdscope(env, *args))
    assert "downloading CloudWatch Logs: no AWS credentials" in said
    assert "AWS_ACCESS_KEY_ID" in said and "aws sts get-caller-identity" in said


def test_an_unreachable_endpoint_is_named(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    env = _bare_env(
        tmp_path,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL=url,
    )
    said = _one_error_with_hint(_fdscope(env, *QUERY))
    assert f"cannot connect to {url}" in said
    assert "AWS_ENDPOINT_URL" in said


def test_the_same_command_works_once_configured(tmp_path: Path, moto_server: str) -> None:
    """The control: with a region, keys and moto the pull runs (so the errors above are
    the missing settings, not the command)."""
    import boto3

    logs = boto3.client(
        "logs",
        region_name="us-east-1",
        endpoint_url=moto_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    logs.create_log_group(logGroupName="/aws/lambda/hinted")
    env = _bare_env(
        tmp_path,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL=moto_server,
    )
    proc = _fdscope(env, "logs", "pull", "--log-group", "/aws/lambda/hinted", str(tmp_path / "ok"))
    assert proc.returncode == 0, proc.stderr


def test_metrics_put_names_its_region_option(tmp_path: Path) -> None:
    """``metrics --put`` takes --region and --endpoint-url: the hints name them."""
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"timestamp": T0, "message": _emf(T0, 10)}) + "\n")
    proc = _fdscope(_bare_env(tmp_path), "metrics", str(events), "--metric", "fd_use", "--put")
    said = _one_error_with_hint(proc)
    assert "sending to CloudWatch: no AWS region" in said and "pass --region" in said


def test_the_mapping_is_one_place_and_leaves_other_errors_alone() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoRegionError

    assert isinstance(setup_error(NoRegionError(), "x"), NoRegion)
    unreachable = setup_error(EndpointConnectionError(endpoint_url="http://h:1"), "x")
    assert isinstance(unreachable, EndpointUnreachable)
    refused = ClientError({"Error": {"Code": "ExpiredTokenException"}}, "StartQuery")
    assert isinstance(setup_error(refused, "x"), NoCredentials)
    other = ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "StartQuery")
    assert setup_error(other, "x") is None
    with pytest.raises(ValueError), aws_errors("x"):
        raise ValueError("not AWS")
    with pytest.raises(NoRegion) as info, aws_errors("reading", region_option=False):
        raise NoRegionError()
    assert isinstance(info.value, FdscopeError) and "pass --region" not in str(info.value)


def test_a_missing_extra_is_a_hint_too(tmp_path: Path) -> None:
    """``--aws-endpoint local`` without moto names the extra (moto hidden by a blocker)."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'moto' or name.startswith('moto.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, _Block())\n"
    )
    app = tmp_path / "app.py"
    app.write_text("def handler(event, context):\n    return 1\n")
    env = {**os.environ, "PYTHONPATH": str(blocker), "NO_COLOR": "1"}
    args = ["invoke", f"{app}:handler", "--aws-endpoint", "local", "-q"]
    args += ["--out", str(tmp_path / "run")]
    proc = _fdscope(env, *args)
    assert proc.returncode == 2, proc.stderr
    assert "--aws-endpoint local needs moto: pip install 'fdscope[local-aws]'" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- the sweep on too little data -------------------------------------------------------


def _emf(ts: int, fd_use: float) -> str:
    return json.dumps(
        {
            "_aws": {
                "Timestamp": ts,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "fdscope",
                        "Dimensions": [["function_name"]],
                        "Metrics": [{"Name": "fd_use", "Unit": "Count"}],
                    }
                ],
            },
            "function_name": "api",
            "fd_use": fd_use,
        }
    )


def _three_minutes(tmp_path: Path) -> Path:
    """Three minutes of fd_use, one value every 10 s, climbing 10..180."""
    path = tmp_path / "events.jsonl"
    with path.open("w") as f:
        for i in range(18):
            ts = T0 + i * 10_000
            f.write(json.dumps({"timestamp": ts, "message": _emf(ts, 10 + 10 * i)}) + "\n")
    return path


def test_sweep_on_three_minutes_says_how_little_and_what_it_cannot_tell(tmp_path: Path) -> None:
    logs = _three_minutes(tmp_path)
    args = ["alarm", str(logs), "--metric", "fd_use", "--sweep", "--threshold", "123"]
    result = CliRunner().invoke(cli, [*args, "--evaluation-periods", "1"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "only 3 minutes of data" in out
    assert "6 evaluations of 60 s over 6 minutes" in out
    assert "cannot tell a rate below 1 per 6 minutes" in out
    assert "an extrapolation" in out
    rows = CliRunner().invoke(cli, [*args, "--format", "json", "--evaluation-periods", "1"])
    thresholds = [r["threshold"] for r in json.loads(rows.stdout)["Sweep"]]
    assert 123.0 in thresholds  # --threshold is one of the settings tried


def test_sweep_over_a_day_has_no_caveat(tmp_path: Path) -> None:
    path = tmp_path / "day.jsonl"
    with path.open("w") as f:
        for i in range(0, 26 * 60, 5):  # 26 hours, one value every 5 minutes
            ts = T0 + i * 60_000
            f.write(json.dumps({"timestamp": ts, "message": _emf(ts, i % 300)}) + "\n")
    result = CliRunner().invoke(cli, ["alarm", str(path), "--metric", "fd_use", "--sweep"])
    assert result.exit_code == 0, result.output
    assert "of data" not in result.output
