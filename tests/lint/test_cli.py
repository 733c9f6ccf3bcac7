"""``fdscope lint``: exit codes, formats (text, JSON, SARIF), configuration, unparsable files."""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
import textwrap
from pathlib import Path

import pytest

from fdscope.cli import main
from fdscope.lint import Config, LintConfigError, lint, lint_source, load_config

LEAK = (
    "import os\n\ndef handler(event, context):\n    fd = os.open('x', os.O_RDONLY)\n    return 1\n"
)
CLEAN = "import os\n\ndef handler(event, context):\n    return os.getpid()\n"


def run(*args: str) -> tuple[int, str]:
    """The real entry point (errors become exit 2 there), output captured."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["lint", *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue() + err.getvalue()


def test_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "leak.py").write_text(LEAK)
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "clean.py").write_text(CLEAN)
    code, out = run(str(tmp_path / "ok"))
    assert code == 0
    code, out = run(str(tmp_path))
    assert code == 1
    assert re.search(r"leak\.py:4:10: FDS103 os\.open\(\) returns a bare descriptor", out)
    assert run(str(tmp_path / "missing"))[0] == 2
    assert run(str(tmp_path), "--select", "NOPE")[0] == 2
    assert run(str(tmp_path), "--format", "xml")[0] == 2
    assert run()[0] == 2


def test_main_turns_config_errors_into_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from fdscope.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["lint", str(tmp_path / "missing")])
    assert exc.value.code == 2
    assert "no such file" in capsys.readouterr().err


def test_json_and_sarif(tmp_path: Path) -> None:
    (tmp_path / "leak.py").write_text(LEAK)
    code, out = run(str(tmp_path), "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["schema"] == "fdscope.lint/1" and doc["files"] == 1
    (finding,) = doc["findings"]
    assert finding["code"] == "FDS103" and finding["line"] == 4 and finding["column"] == 10
    assert finding["rule"] == "bare-descriptor" and finding["hint"]
    out_file = tmp_path / "out.sarif"
    code, _ = run(str(tmp_path), "--output", "sarif", "--out", str(out_file))
    assert code == 1
    sarif = json.loads(out_file.read_text())
    assert sarif["version"] == "2.1.0"
    run0 = sarif["runs"][0]
    rules = run0["tool"]["driver"]["rules"]
    (res,) = run0["results"]
    assert rules[res["ruleIndex"]]["id"] == res["ruleId"] == "FDS103"
    region = res["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 4, "startColumn": 10}
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("leak.py")


def test_pyproject_configuration(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [tool.fdscope.lint]
            disable = ["FDS103"]
            handlers = ["svc.entry"]
            exclude = ["vendor/*"]
            """
        )
    )
    (tmp_path / "leak.py").write_text(LEAK)
    (tmp_path / "svc.py").write_text(
        "import boto3\ndef entry(payload):\n    return boto3.client('s3')\n"
    )
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "lib.py").write_text(LEAK)
    code, out = run(str(tmp_path))
    assert code == 1
    assert "FDS103" not in out and "vendor" not in out
    assert "svc.py:3:12: FDS201" in out
    # the command line adds to it
    code, out = run(str(tmp_path), "--ignore", "FDS2")
    assert code == 0


@pytest.mark.parametrize(
    "table",
    [
        'disable = "FDS103"',  # not a list
        'enable = ["FDS999"]',  # unknown code
        "follow-depth = -1",  # out of range
        "colour = 1",  # unknown key
    ],
)
def test_bad_configuration(tmp_path: Path, table: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.fdscope.lint]\n{table}\n")
    with pytest.raises(LintConfigError):
        load_config(tmp_path / "pyproject.toml")
    (tmp_path / "a.py").write_text(CLEAN)
    assert run(str(tmp_path / "a.py"))[0] == 2


def test_unparsable_file_is_reported_and_the_rest_checked(tmp_path: Path) -> None:
    # newer grammar than the running Python (3.12 type statement), or plainly broken
    newer = "type Alias = int\n" if sys.version_info < (3, 12) else "def f(:\n    pass\n"
    (tmp_path / "new.py").write_text(newer)
    (tmp_path / "nul.py").write_bytes(b"x = 1\x00\n")
    (tmp_path / "leak.py").write_text(LEAK)
    result = lint([tmp_path], config=Config())
    got = {(Path(f.path).name, f.code) for f in result.findings}
    assert got == {("new.py", "FDS001"), ("nul.py", "FDS001"), ("leak.py", "FDS103")}
    assert result.files == 3
    assert result.exit_code == 1


def test_encoding_cookie(tmp_path: Path) -> None:
    body = "# -*- coding: latin-1 -*-\nimport os\ndef f():\n    s = 'caf\xe9'\n    fd = os.open(s, 0)\n"
    (tmp_path / "l1.py").write_bytes(body.encode("latin-1"))
    (finding,) = lint([tmp_path], config=Config()).findings
    assert finding.line == 5 and finding.code == "FDS103"


def test_list_rules() -> None:
    code, out = run("--list-rules")
    assert code == 0
    assert "FDS101" in out and "FDS205" in out


def test_one_finding_for_a_chained_assignment() -> None:
    src = "import sys\ndef f(p):\n    sys.stdout = sys.stderr = open(p, 'a')\n"
    (finding,) = lint_source(src)
    assert finding.code == "FDS101"
    assert "sys.stdout and module attribute sys.stderr" in finding.message


def test_unwritable_output_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "leak.py").write_text(LEAK)
    code, out = run(str(tmp_path), "--out", str(tmp_path / "missing" / "out.txt"))
    assert code == 2
    assert out.startswith("error: cannot write") and "Traceback" not in out


def test_symbolic_link_loops_and_dangling_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "leak.py").write_text(LEAK)
    (tmp_path / "tree" / "l1.py").symlink_to("l2.py")
    (tmp_path / "tree" / "l2.py").symlink_to("l1.py")
    (tmp_path / "tree" / "dangling.py").symlink_to("nowhere.py")
    code, out = run("tree")
    assert code == 1 and "Traceback" not in out
    # each link is named as it sits in the tree (never its target), as a file that cannot be read
    for name in ("l1.py", "l2.py", "dangling.py"):
        assert re.search(rf"tree/{name}:1:1: FDS001 .*cannot read", out), out
    assert "nowhere.py" not in out
    assert "tree/leak.py:4:10: FDS103" in out
    # named on the command line: not a file to check, a usage error
    assert run("tree/l1.py")[0] == 2
    assert run("tree/dangling.py")[0] == 2


def test_syntax_error_is_reported_where_it_is() -> None:
    # SARIF and editors annotate the finding's line: the error's, not the file's first
    (finding,) = lint_source("import os\n\ndef f(:\n    pass\n", "broken.py")
    assert finding.code == "FDS001"
    assert (finding.line, finding.col) == (3, 6)
    (finding,) = lint_source(b"x = 1\x00\n", "nul.py")
    assert (finding.line, finding.col) == (1, 0)


def test_exclude_applies_to_named_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the pre-commit hook names every staged file: exclude must hold for them too
    (tmp_path / "pyproject.toml").write_text('[tool.fdscope.lint]\nexclude = ["tests/*"]\n')
    for rel in ("src/a.py", "tests/test_a.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(LEAK)
    monkeypatch.chdir(tmp_path)
    code, out = run("src/a.py", "tests/test_a.py")
    assert code == 1
    assert "src/a.py:4:10: FDS103" in out and "test_a.py" not in out
    # from elsewhere, patterns are still read from the pyproject.toml's directory
    monkeypatch.chdir(tmp_path / "src")
    code, out = run("a.py", "../tests/test_a.py")
    assert "test_a.py" not in out and "a.py:4:10: FDS103" in out
    # a directory walked below the pyproject.toml: the same patterns hold
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src" / "tests").mkdir()
    (tmp_path / "src" / "tests" / "t.py").write_text(LEAK)
    (tmp_path / "pyproject.toml").write_text('[tool.fdscope.lint]\nexclude = ["src/tests/*"]\n')
    code, out = run("src")
    assert "src/a.py:4:10: FDS103" in out and "t.py" not in out


def test_summary_counts_in_words(tmp_path: Path) -> None:
    (tmp_path / "leak.py").write_text(LEAK)
    assert run(str(tmp_path / "leak.py"))[1].endswith("1 finding in 1 file\n")
    (tmp_path / "clean.py").write_text(CLEAN)
    assert run(str(tmp_path))[1].endswith("1 finding in 2 files\n")
