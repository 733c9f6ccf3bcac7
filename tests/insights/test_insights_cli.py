"""fdscope query: table, JSON and CSV output, --explain, and one red line for a bad query."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fdscope.cli.insights import query

LOGS = Path(__file__).resolve().parent.parent / "fixtures" / "insights" / "synthetic.jsonl"
Q = 'filter @type = "REPORT" | stats count(*) as n'


def test_json_csv_table_and_explain() -> None:
    r = CliRunner().invoke(query, [Q, str(LOGS), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["results"] == [{"n": "40"}]
    r = CliRunner().invoke(query, [Q, str(LOGS), "-o", "csv"])
    assert r.output.splitlines() == ["n", "40"]
    r = CliRunner().invoke(query, [Q, str(LOGS)])
    assert "40" in r.output and "1 row(s)" in r.output
    r = CliRunner().invoke(query, ["--explain", Q])
    assert "aggregate" in r.output and "WITH s0 AS" in r.output


def test_bad_query_is_one_error_without_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    p = subprocess.run(
        [sys.executable, "-m", "fdscope", "query", "stats cnt(*)", str(LOGS)],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2
    assert "did you mean 'count'" in p.stderr and "Traceback" not in p.stderr


def test_skipped_lines_are_reported_on_stderr(tmp_path: Path) -> None:
    # docs/logs.md: malformed lines are counted, never raised; the CLI says so
    p = tmp_path / "events.jsonl"
    good = json.dumps({"timestamp": 1795824000000, "message": "ok", "logStreamName": "s"})
    p.write_text(good + "\nnot json\n{broken\n" + good + "\n")
    r = CliRunner().invoke(query, ["stats count(*) as n", str(p), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["results"] == [{"n": "2"}]
    assert r.stderr.strip() == f"skipped 2 malformed line(s) (bad-json 2)\n  {p}: bad-json 2"
    stats = json.loads(r.stdout)["statistics"]  # and in the JSON, by reason and by file
    assert stats["skipped"] == {"bad-json": 2}
    assert stats["skippedFiles"] == {str(p): {"bad-json": 2}}
    r = CliRunner().invoke(query, [Q, str(LOGS), "--json"])
    assert r.stderr == ""
