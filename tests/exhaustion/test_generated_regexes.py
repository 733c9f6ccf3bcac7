"""Triage's regexes come from the table, compile in Python, stay in the Logs Insights dialect,
and find the same lines as the Python matcher."""

from __future__ import annotations

import re

import pytest

from fdscope.exhaustion import ROWS, log_regex, match_line, triage_rows
from fdscope.insights import triage as triage_mod
from fdscope.insights.triage import DISGUISES, QUERIES, classify

from .test_table import CASES

LINES = [line for case in CASES.values() for line in case[2:] if line] + [
    "[ERROR] OSError: [Errno 24] Too many open files: '/tmp/cache.json'",
    "Error: EMFILE: too many open files, open '/tmp/x'",
    "botocore.exceptions.EndpointConnectionError: ...",
    "[Errno 23] Too many open files in system and then Too many open files",
    "START RequestId: 8f5e0c3a-0000-4000-8000-000000000001 Version: $LATEST",
    "nothing to see",
]
# what Logs Insights' regex dialect lacks: lookaround, backreferences, named groups
NOT_IN_DIALECT = re.compile(r"\(\?[=!<P]|\\[1-9]")


def test_every_generated_regex_compiles_and_is_in_the_dialect() -> None:
    for rx in [log_regex(), log_regex(triage_rows()), *(rx for rx, _ in DISGUISES.values())]:
        re.compile(rx)
        assert not NOT_IN_DIALECT.search(rx), rx
    for r in ROWS:
        for rx in (r.log, r.log_not):
            if rx:
                re.compile(rx)
                assert not NOT_IN_DIALECT.search(rx) and "/" not in rx, r


def test_the_timeline_query_carries_the_table() -> None:
    assert log_regex(triage_rows()) in QUERIES["timeline"]
    for r in triage_rows():
        assert r.log and r.log in DISGUISES[r.label][0]
    assert "getaddrinfo" not in DISGUISES  # needs a count triage does not have (blind NEVER)


@pytest.mark.parametrize("line", LINES)
def test_generated_regexes_select_the_lines_python_classifies(line: str) -> None:
    rows = [r for r in match_line(line) if r in triage_rows()]
    # the query's filter keeps every line the Python matcher would count
    timeline_filter = re.compile(log_regex(triage_rows()))
    assert bool(rows) <= bool(timeline_filter.search(line))
    # each disguise's generated regex finds the line when one of its rows does
    for label, (rx, _) in DISGUISES.items():
        has_row = any(r.label == label for r in rows)
        if has_row:
            assert re.search(rx, line), (label, line)
        # classify is exactly the rows' labels
        assert (label in classify(line)) == has_row, (label, line)


def test_the_query_runs_on_the_local_engine(tmp_path: pytest.TempPathFactory) -> None:
    """The generated text parses and filters in fdscope's own Logs Insights engine."""
    from pathlib import Path

    from fdscope.insights import execute

    path = Path(str(tmp_path)) / "x.log"
    path.write_text("\n".join(LINES) + "\n")
    q = triage_mod._local(QUERIES["timeline"], 1000)
    got = {row["@message"] for row in execute(q, [path], default_limit=None).rows}
    timeline = re.compile(QUERIES["timeline"].split("like /", 1)[1].rsplit("/", 1)[0])
    assert got == {line for line in LINES if timeline.search(line)}
    assert any("Errno 24" in m for m in got) and "nothing to see" not in got
