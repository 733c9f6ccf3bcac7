"""Handlers found from deployment files and names; calls followed across modules with the chain."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fdscope.lint import Config, HandlerNotFound, LintConfigError, lint

PER_CALL = "import boto3\n\ndef {name}(e, c):\n    return boto3.client('s3')\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


def codes(root: Path, **kw: object) -> set[tuple[str, int, str]]:
    result = lint([root], config=Config(), **kw)  # type: ignore[arg-type]
    return {(Path(f.path).name, f.line, f.code) for f in result.findings}


def test_sam_template_with_intrinsic_tags_and_code_uri(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "template.yaml": """
                AWSTemplateFormatVersion: '2010-09-09'
                Transform: AWS::Serverless-2016-10-31
                Globals:
                  Function:
                    Runtime: python3.12
                Resources:
                  Orders:
                    Type: AWS::Serverless::Function
                    Properties:
                      CodeUri: orders/
                      Handler: api.main
                      Role: !GetAtt OrdersRole.Arn
                      Environment:
                        Variables:
                          TABLE: !Ref Table
                          URL: !Sub "https://${Api}.example.com"
                  Node:
                    Type: AWS::Serverless::Function
                    Properties:
                      CodeUri: other/
                      Handler: api.main
                      Runtime: nodejs20.x
            """,
            "orders/api.py": PER_CALL.format(name="main"),
            "other/api.py": PER_CALL.format(name="main"),  # a Node.js function's path: not ours
        },
    )
    got = codes(tmp_path)
    assert got == {("api.py", 4, "FDS201")}
    result = lint([tmp_path], config=Config())
    assert result.handlers == (f"{Path(result.findings[0].path)}:main",)
    assert "orders" in result.findings[0].path


def test_serverless_yml(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "serverless.yml": """
                service: orders
                provider:
                  name: aws
                  runtime: python3.11
                  environment:
                    TABLE: ${self:custom.table}
                functions:
                  list:
                    handler: src/handlers/orders.list_orders
                    events:
                      - http: {path: orders, method: get}
            """,
            "src/handlers/orders.py": PER_CALL.format(name="list_orders"),
        },
    )
    assert codes(tmp_path) == {("orders.py", 4, "FDS201")}


def test_cdk_python_and_typescript(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "infra/stack.py": """
                import aws_cdk.aws_lambda as lambda_
                def build(self):
                    lambda_.Function(self, "Fn", runtime=lambda_.Runtime.PYTHON_3_12,
                        handler="service.entry", code=lambda_.Code.from_asset("../lambda"))
            """,
            "lambda/service.py": PER_CALL.format(name="entry"),
            "cdk/lib/stack.ts": """
                import * as lambda from 'aws-cdk-lib/aws-lambda';
                new lambda.Function(this, 'Fn', {
                  handler: 'worker.run',
                  code: lambda.Code.fromAsset('lambda2'),
                });
            """,
            "lambda2/worker.py": PER_CALL.format(name="run"),
        },
    )
    assert codes(tmp_path) == {("service.py", 4, "FDS201"), ("worker.py", 4, "FDS201")}


def test_handler_option_and_chain_across_modules(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/main.py": """
                from app.repo import load
                from . import util

                def process(message, ctx):
                    util.prepare()
                    return load(message)
            """,
            "app/__init__.py": "",
            "app/repo.py": """
                from app.clients import table

                def load(m):
                    return table().get_item(Key=m)
            """,
            "app/clients.py": """
                import boto3

                def table():
                    return boto3.resource("dynamodb").Table("t")
            """,
            "app/util.py": """
                import requests

                def prepare():
                    return requests.Session()
            """,
        },
    )
    # not a handler by name or signature: nothing per-invocation without --handler
    assert codes(tmp_path) == set()
    result = lint([tmp_path], config=Config(), handlers=["app.main.process"])
    by_file = {Path(f.path).name: f for f in result.findings}
    assert by_file["clients.py"].chain == ("process", "repo.load", "clients.table")
    assert "process -> repo.load -> clients.table" in by_file["clients.py"].message
    assert by_file["util.py"].code == "FDS202"
    # follow-depth 1 stops after the first hop
    shallow = lint([tmp_path], config=Config(follow_depth=1), handlers=["app.main.process"])
    assert {Path(f.path).name for f in shallow.findings} == {"util.py"}


def test_unknown_handler_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"app.py": PER_CALL.format(name="handler")})
    with pytest.raises(HandlerNotFound):
        lint([tmp_path], config=Config(), handlers=["app.nope"])
    with pytest.raises(LintConfigError):
        lint([tmp_path], config=Config(), handlers=["nodot"])


def test_methods_and_constructors_are_followed(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app.py": """
                import boto3, redis

                class Store:
                    def __init__(self):
                        self.r = redis.Redis()

                    def client(self):
                        return boto3.client("sqs")

                    def put(self, x):
                        return self.client().send_message(x)

                def handler(event, context):
                    return Store().put(event)
            """
        },
    )
    assert codes(tmp_path) == {("app.py", 6, "FDS203"), ("app.py", 9, "FDS201")}


APP_ROUTE = """
    import boto3
    from fastapi import FastAPI
    from mangum import Mangum

    app = FastAPI()

    @app.get("/files")
    def list_files():
        return boto3.client("s3").list_buckets()

    {tail}
"""


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        # the canonical FastAPI-on-Lambda layout: the handler is an adapter, not a def
        ("handler = Mangum(app)", {("app.py", 10, "FDS201")}),
        # the adapter under another name still makes the module Lambda-facing
        ("asgi = Mangum(app, lifespan='off')", {("app.py", 10, "FDS201")}),
        # a FastAPI app that is never wrapped for Lambda: a service, no per-invocation family
        ("", set()),
    ],
)
def test_routes_of_an_app_wrapped_for_lambda(tmp_path: Path, tail: str, expected: set) -> None:
    write(tmp_path, {"app.py": APP_ROUTE.format(tail=tail)})
    assert codes(tmp_path) == expected


def test_handler_named_by_template_or_option_is_an_assignment(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "template.yaml": """
                Resources:
                  Api:
                    Type: AWS::Serverless::Function
                    Properties:
                      CodeUri: src/
                      Handler: app.entry
                      Runtime: python3.12
            """,
            "src/app.py": APP_ROUTE.format(tail="entry = Mangum(app)")
            .replace("from mangum import Mangum", "from mangum import Mangum as M")
            .replace("Mangum(app)", "M(app)"),
        },
    )
    assert codes(tmp_path) == {("app.py", 10, "FDS201")}
    # --handler naming the assignment is not "matches no function"
    result = lint([tmp_path / "src"], config=Config(), handlers=["src/app.entry"])
    assert [f.code for f in result.findings] == ["FDS201"]


def test_class_instances_methods_and_chalice_as_handlers(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            # handler = Handler(): Lambda calls Handler.__call__
            "callable.py": """
                import boto3

                class Handler:
                    def __init__(self):
                        self.region = "eu-west-1"

                    def __call__(self, event, context):
                        return boto3.client("s3").list_buckets()

                handler = Handler()
            """,
            # lambda_handler = Service.handle: a method named as the handler
            "method.py": """
                import boto3

                class Service:
                    @staticmethod
                    def handle(event, context):
                        return boto3.client("sts").get_caller_identity()

                lambda_handler = Service.handle
            """,
            # Chalice: the app object is the handler; its routes run per invocation
            "chalice_app.py": """
                import boto3
                from chalice import Chalice

                app = Chalice(app_name="orders")

                @app.route("/orders/{oid}")
                def get_order(oid):
                    return boto3.resource("dynamodb").Table("orders").get_item(Key={"id": oid})
            """,
        },
    )
    assert codes(tmp_path) == {
        ("callable.py", 9, "FDS201"),
        ("method.py", 7, "FDS201"),
        ("chalice_app.py", 9, "FDS201"),
    }


def test_routers_included_from_other_modules(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "main.py": """
                from fastapi import FastAPI
                from mangum import Mangum

                from routes import router
                import admin

                app = FastAPI()
                app.include_router(router)
                app.include_router(admin.router)
                handler = Mangum(app)
            """,
            "routes.py": """
                import boto3
                from fastapi import APIRouter

                router = APIRouter()

                @router.get("/items")
                def items():
                    return boto3.resource("dynamodb").Table("items").scan()
            """,
            "admin.py": """
                import boto3
                from fastapi import APIRouter

                router = APIRouter()

                @router.post("/reset")
                def reset():
                    return boto3.client("s3").list_buckets()
            """,
            # routes of a module no Lambda app includes are not per-invocation code
            "unused.py": """
                import boto3
                from fastapi import APIRouter

                router = APIRouter()

                @router.get("/x")
                def x():
                    return boto3.client("s3")
            """,
        },
    )
    assert codes(tmp_path) == {("routes.py", 9, "FDS201"), ("admin.py", 9, "FDS201")}
