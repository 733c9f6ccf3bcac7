"""fdscope lint on JavaScript/TypeScript: every rule against tests/fixtures/lint/js (each marked
line flagged with its code, nothing else), the Node shapes one at a time, suppression, handlers."""

from __future__ import annotations

import json
import re
import textwrap
from functools import lru_cache
from pathlib import Path

import pytest

from fdscope.lint import RULES, Config, lint, lint_source, to_json, to_sarif
from fdscope.lint.js import available

pytestmark = pytest.mark.skipif(not available(), reason="fdscope[lint-js] is not installed")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "lint" / "js"
_MARK = re.compile(r"//\s*expect:\s*(?P<codes>(?:FDS\d{3}\s*)+)$")
_SUFFIXES = (".js", ".mjs", ".cjs", ".ts", ".mts", ".cts")


def _files() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*") if p.suffix in _SUFFIXES)


def expected(path: Path) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for i, line in enumerate(path.read_text().splitlines(), 1):
        m = _MARK.search(line)
        if m:
            out[i] = set(m.group("codes").split())
    return out


@lru_cache(maxsize=1)
def _all_findings() -> dict[str, dict[int, set[str]]]:
    out: dict[str, dict[int, set[str]]] = {}
    for f in lint([FIXTURES], config=Config()).findings:
        out.setdefault(Path(f.path).resolve().as_posix(), {}).setdefault(f.line, set()).add(f.code)
    return out


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_fixture_file_flags_exactly_the_marked_lines(path: Path) -> None:
    assert _all_findings().get(path.resolve().as_posix(), {}) == expected(path)


def test_every_javascript_rule_has_a_positive_and_a_negative_case() -> None:
    marked: set[str] = set()
    for path in _files():
        for codes in expected(path).values():
            marked |= codes
        if path.parent == FIXTURES:
            assert "// ---- clean" in path.read_text(), path.name
    want = {
        c for c, r in RULES.items() if "javascript" in r.languages and c not in ("FDS001", "FDS002")
    }
    assert marked == want


def codes(source: str, path: str = "app.js") -> set[tuple[int, str]]:
    return {(f.line, f.code) for f in lint_source(textwrap.dedent(source).lstrip(), path)}


def test_chain_through_a_local_module(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "clients.ts").write_text(
        'import { S3Client } from "@aws-sdk/client-s3";\n'
        "export function s3() {\n  return new S3Client({});\n}\n"
    )
    (tmp_path / "index.ts").write_text(
        'import { s3 } from "./lib/clients.js";\n'
        "const load = async (key: string) => s3();\n"
        "export const handler = async (event: any) => load(event.key);\n"
    )
    (f,) = lint([tmp_path], config=Config()).findings
    assert (Path(f.path).name, f.line, f.code) == ("clients.ts", 3, "FDS201")
    assert f.chain == ("handler", "load", "clients.s3")
    assert "called per invocation: handler -> load -> clients.s3" in f.message


def test_template_names_a_node_handler_with_another_name(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.mjs").write_text(
        'import pg from "pg";\nexport const lambdaHandler = async (e) => new pg.Pool();\n'
    )
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      CodeUri: src/\n      Handler: app.lambdaHandler\n      Runtime: nodejs20.x\n"
    )
    result = lint([tmp_path], config=Config())
    assert [(f.line, f.code) for f in result.findings] == [(2, "FDS203")]
    assert result.handlers == (f"{tmp_path / 'src' / 'app.mjs'}:lambdaHandler",) or any(
        h.endswith("app.mjs:lambdaHandler") for h in result.handlers
    )


def test_cdk_nodejs_function_entry(tmp_path: Path) -> None:
    (tmp_path / "lambda").mkdir()
    (tmp_path / "lambda" / "orders.ts").write_text(
        'import Redis from "ioredis";\nexport const main = async (e: unknown) => new Redis();\n'
    )
    (tmp_path / "stack.ts").write_text(
        'import * as path from "path";\n'
        'import { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";\n'
        'new NodejsFunction(this, "Orders", {\n'
        '  entry: path.join(__dirname, "lambda", "orders.ts"),\n  handler: "main",\n});\n'
    )
    assert [(Path(f.path).name, f.code) for f in lint([tmp_path]).findings] == [
        ("orders.ts", "FDS203")
    ]


def test_handler_option_names_a_javascript_function(tmp_path: Path) -> None:
    (tmp_path / "svc.js").write_text(
        'const AWS = require("aws-sdk");\nexports.run = async (x) => new AWS.SQS();\n'
    )
    assert lint([tmp_path], config=Config()).findings == ()
    result = lint([tmp_path], config=Config(), handlers=["svc.run"])
    assert [(f.line, f.code) for f in result.findings] == [(2, "FDS201")]


def test_suppression_comments() -> None:
    src = """
        const fs = require("fs");
        exports.handler = async () => {
          const a = fs.openSync("/tmp/a", "r"); // fdscope-ignore FDS103
          const b = fs.openSync("/tmp/b", "r"); // noqa: FDS1
          // fdscope-ignore-next-line
          const c = fs.openSync("/tmp/c", "r");
          const d = fs.openSync("/tmp/d", "r"); // fdscope-ignore FDS201
        };
    """
    assert codes(src) == {(7, "FDS103")}


def test_syntax_error_is_fds001_and_the_rest_is_checked(tmp_path: Path) -> None:
    (tmp_path / "bad.js").write_text("exports.handler = async (event) => {\n  const x = ;\n};\n")
    (tmp_path / "good.js").write_text(
        'const fs = require("fs");\nexports.handler = async () => { fs.openSync("/t", "r"); };\n'
    )
    found = {(Path(f.path).name, f.line, f.code) for f in lint([tmp_path]).findings}
    assert found == {("bad.js", 2, "FDS001"), ("good.js", 2, "FDS103")}


def test_typescript_syntax_is_read_as_typescript() -> None:
    src = """
        import { Pool } from "pg";
        type Ev = { id: string };
        export async function handler(event: Ev): Promise<number> {
          const pool = new Pool() as Pool;
          return (pool as any)!.totalCount satisfies number;
        }
    """
    assert codes(src, "h.ts") == {(4, "FDS203")}


def test_module_scope_and_functions_only_called_there_run_once() -> None:
    src = """
        const fs = require("fs");
        function init() {
          return fs.openSync("/tmp/x", "r");
        }
        const fd = init();
        (async () => { fs.openSync("/tmp/y", "r"); })();
        exports.handler = async () => fd;
    """
    assert codes(src) == set()


def test_formats_carry_javascript_findings() -> None:
    from fdscope.lint._project import LintResult

    findings = lint_source("exports.handler = async () => { setInterval(() => 1, 5); };\n", "t.js")
    result = LintResult(findings, 1, ())
    doc = to_json(result)
    assert doc["findings"][0]["code"] == "FDS111"
    assert doc["findings"][0]["rule"] == "timer-per-call"
    sarif = to_sarif(result)
    assert {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]} >= {"FDS111", "FDS112"}
    json.dumps(sarif)


def test_no_crash_on_odd_input(tmp_path: Path) -> None:
    for i, src in enumerate(
        [b"", b"\x00\x01", b"export default", "// é\n".encode(), b"a" * 10 + b"(" * 300]
    ):
        (tmp_path / f"f{i}.js").write_bytes(src)
    result = lint([tmp_path])
    assert {f.code for f in result.findings} <= {"FDS001"}
