"""The function's own settings: the doctor reads memory, timeout, environment, runtime,
layers and the name from the template (SAM with Globals and parameter defaults,
serverless.yml, a synthesized CDK app), options override, the run says where each
setting came from and what it could not resolve, and the log group is the function's."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from fdscope.cli import cli
from fdscope.doctor.settings import find_templates, function_settings
from fdscope.errors import DoctorError

SAM = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: prod
  TableName:
    Type: String
    Default: orders
Globals:
  Function:
    Runtime: python3.11
    MemorySize: 256
    Timeout: 7
    Environment:
      Variables:
        TABLE: !Ref TableName
        LOG_LEVEL: info
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  OrdersApi:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${Stage}-orders-api"
      CodeUri: src/
      Handler: app.handler
      Timeout: 9
      Environment:
        Variables:
          BUCKET_ARN: !GetAtt Bucket.Arn
          REGION_SEEN: !Ref AWS::Region
          LOG_LEVEL: debug
      Layers:
        - !Ref SharedLayer
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: worker/
      Handler: app.handler
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
"""

APP = """\
import os

import shared


def handler(event, context):
    print("seen", {k: os.environ.get(k) for k in (
        "TABLE", "LOG_LEVEL", "BUCKET_ARN", "REGION_SEEN", "AWS_REGION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_NAME")}, shared.NAME)
    return {"ok": True}
"""


@pytest.fixture
def sam_project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()  # the search stops at the repository root
    (tmp_path / "template.yaml").write_text(SAM)
    for folder in ("src", "worker"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "app.py").write_text(APP)
    (tmp_path / "layer" / "python").mkdir(parents=True)
    (tmp_path / "layer" / "python" / "shared.py").write_text("NAME = 'from the layer'\n")
    return tmp_path


def _doctor(project: Path, out: Path, *args: str) -> dict:
    result = CliRunner().invoke(
        cli,
        ["doctor", f"{project / 'src' / 'app.py'}:handler", "-n", "3", "--no-gc-check"]
        + ["--out", str(out), *args],
    )
    assert result.exit_code == 0, result.output
    return {
        "output": " ".join(result.output.split()),
        "run": json.loads((out / "run.json").read_text()),
    }


def test_sam_settings_reach_the_function_and_say_where_from(sam_project: Path) -> None:
    out = sam_project / "run"
    got = _doctor(sam_project, out, "--region", "eu-west-1")
    run = got["run"]
    assert run["function_name"] == "prod-orders-api"
    assert run["memory_mb"] == 256 and run["timeout_s"] == 9.0
    frm = run["settings_from"]["from"]
    assert frm["memory_mb"] == "template.yaml Globals.Function"
    assert frm["timeout_s"] == "template.yaml Resources.OrdersApi"
    assert frm["function_name"] == "template.yaml Resources.OrdersApi"
    assert frm["runtime"] == "template.yaml Globals.Function"
    assert frm["layers"] == "template.yaml Resources.OrdersApi"
    assert frm["environment.TABLE"] == "template.yaml Globals.Function"
    assert frm["environment.LOG_LEVEL"] == "template.yaml Resources.OrdersApi"
    assert frm["region"] == "command line"
    unresolved = run["settings_from"]["unresolved"]
    assert unresolved == ['Environment BUCKET_ARN: Fn::GetAtt ["Bucket", "Arn"]']
    events = (out / "events.jsonl").read_text()
    assert "/aws/lambda/prod-orders-api" in events and "/aws/lambda/src" not in events
    for seen in (
        "'TABLE': 'orders'", "'LOG_LEVEL': 'debug'", "'BUCKET_ARN': None",
        "'REGION_SEEN': 'eu-west-1'", "'AWS_LAMBDA_FUNCTION_MEMORY_SIZE': '256'",
        "from the layer",
    ):  # fmt: skip
        assert seen in events, seen
    assert "settings of OrdersApi from" in got["output"]
    assert "could not resolve: Environment BUCKET_ARN" in got["output"]


def test_options_override_the_template(sam_project: Path) -> None:
    run = _doctor(
        sam_project, sam_project / "run2", "--memory", "512", "--env", "TABLE=mine",
        "--function-name", "mine",
    )["run"]  # fmt: skip
    assert run["memory_mb"] == 512 and run["function_name"] == "mine"
    frm = run["settings_from"]["from"]
    assert frm["memory_mb"] == frm["function_name"] == frm["environment.TABLE"] == "command line"
    assert frm["timeout_s"] == "template.yaml Resources.OrdersApi"


def test_function_picks_one_and_a_wrong_one_is_refused(sam_project: Path) -> None:
    code = sam_project / "src"
    fs, _ = function_settings(code, "app.handler", function="Worker")
    assert fs is not None and fs.logical_id == "Worker" and fs.function_name == "Worker"
    assert "FunctionName is not set" in fs.origin["function_name"]
    with pytest.raises(DoctorError, match="no such function.*OrdersApi, Worker"):
        function_settings(code, "app.handler", function="Nope")
    fs, notes = function_settings(code, "other.handler")
    assert fs is None and "no function with handler other.handler" in notes[0]


def test_serverless_yml(tmp_path: Path) -> None:
    (tmp_path / "serverless.yml").write_text(
        textwrap.dedent(
            """\
            service: shop
            provider:
              name: aws
              runtime: python3.12
              memorySize: 1024
              stage: ${opt:stage, 'staging'}
              environment:
                TABLE: ${self:service}-${self:provider.stage}-orders
                SECRET: ${ssm:/shop/secret}
            functions:
              orders:
                handler: handlers/orders.main
                timeout: 20
            """
        )
    )
    (tmp_path / "handlers").mkdir()
    (tmp_path / "handlers" / "orders.py").write_text("def main(e, c):\n    return 1\n")
    fs, _ = function_settings(tmp_path / "handlers", "orders.main")
    assert fs is not None and fs.kind == "serverless"
    assert (fs.function_name, fs.memory_mb, fs.timeout_s) == ("shop-staging-orders", 1024, 20.0)
    assert fs.runtime == "python3.12" and fs.environment == {"TABLE": "shop-staging-orders"}
    assert fs.unresolved == ["environment SECRET: ${ssm:/shop/secret}"]
    assert fs.origin["memory_mb"] == "serverless.yml provider"
    assert fs.origin["timeout_s"] == "serverless.yml functions.orders"


def test_synthesized_cdk_app(tmp_path: Path) -> None:
    (tmp_path / "lambda").mkdir()
    (tmp_path / "lambda" / "index.py").write_text("def handler(e, c):\n    return 1\n")
    asset = tmp_path / "cdk.out" / "asset.abc123"
    asset.mkdir(parents=True)
    (asset / "index.py").write_text("def handler(e, c):\n    return 1\n")
    template = {
        "Resources": {
            "ApiFn1234": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "index.handler",
                    "Runtime": "python3.12",
                    "MemorySize": 2048,
                    "Timeout": 15,
                    "Code": {"S3Bucket": {"Fn::Sub": "cdk-${AWS::AccountId}"}, "S3Key": "x.zip"},
                    "Environment": {"Variables": {"QUEUE": {"Ref": "Queue99"}}},
                },
                "Metadata": {"aws:asset:path": "asset.abc123"},
            }
        }
    }
    (tmp_path / "cdk.out" / "Stack.template.json").write_text(json.dumps(template))
    assert find_templates(tmp_path / "lambda") == [tmp_path / "cdk.out" / "Stack.template.json"]
    fs, _ = function_settings(tmp_path / "lambda", "index.handler")
    assert fs is not None and fs.kind == "cdk" and fs.memory_mb == 2048
    assert fs.unresolved == ["Environment QUEUE: Ref Queue99 (a resource: named at deploy time)"]


def test_parameter_without_default_is_reported(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(
        "Parameters:\n  Mem:\n    Type: Number\nResources:\n  F:\n"
        "    Type: AWS::Lambda::Function\n    Properties:\n      Handler: app.h\n"
        "      Code: .\n      MemorySize: !Ref Mem\n"
    )
    (tmp_path / "app.py").write_text("def h(e, c):\n    return 1\n")
    fs, _ = function_settings(tmp_path, "app.h", template=tmp_path / "template.yaml")
    assert fs is not None and fs.memory_mb is None
    assert fs.unresolved == ["MemorySize: Ref Mem (a parameter without a Default)"]
