"""``fdscope lint`` on JavaScript from the command line: exit codes, formats, and the extra."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fdscope.cli.lint import lint as lint_cmd
from fdscope.errors import MissingExtra
from fdscope.lint import Config, lint
from fdscope.lint.js import _parse, available

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "seed_node"
FIXED = ROOT / "examples" / "seed_node_fixed"


@pytest.mark.skipif(not available(), reason="fdscope[lint-js] is not installed")
def test_exit_codes_and_formats() -> None:
    runner = CliRunner()
    assert runner.invoke(lint_cmd, [str(FIXED)]).exit_code == 0
    res = runner.invoke(lint_cmd, [str(SEED), "--format", "json"])
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    (f,) = doc["findings"]
    assert (f["line"], f["code"], f["chain"]) == (23, "FDS205", ["handler"])
    assert f["path"].endswith("seed_node/app.js")
    sarif = runner.invoke(lint_cmd, [str(SEED), "--format", "sarif"])
    assert json.loads(sarif.stdout)["runs"][0]["results"][0]["ruleId"] == "FDS205"
    assert runner.invoke(lint_cmd, [str(SEED), "--ignore", "FDS2"]).exit_code == 0


def _no_grammars(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(suffix: str) -> None:
        raise MissingExtra(
            "lint-js",
            "tree_sitter",
            "linting JavaScript and TypeScript needs tree_sitter: pip install 'fdscope[lint-js]'",
        )

    monkeypatch.setattr(_parse, "parser_for", missing)


def test_without_the_extra_python_is_still_checked_and_js_is_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_grammars(monkeypatch)
    (tmp_path / "app.py").write_text("import os\ndef f():\n    os.open('x', 0)\n")
    (tmp_path / "index.js").write_text("exports.handler = async () => 1;\n")
    result = lint([tmp_path], config=Config())
    assert [f.code for f in result.findings] == ["FDS103"]
    assert result.notes == (
        "1 JavaScript/TypeScript file not checked: pip install 'fdscope[lint-js]'",
    )


def test_without_the_extra_a_named_js_file_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_grammars(monkeypatch)
    (tmp_path / "index.js").write_text("exports.handler = async () => 1;\n")
    with pytest.raises(MissingExtra, match=r"pip install 'fdscope\[lint-js\]'"):
        lint([tmp_path / "index.js"], config=Config())
