"""The AWS documentation corpus parses and runs; expected-row files (from a DuckDB-free reference) match."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fdscope.insights import QuerySyntaxError, execute, parse

HERE = Path(__file__).resolve().parent.parent / "fixtures" / "insights"
CORPUS = json.loads((HERE / "corpus.json").read_text())
EXPECTED = sorted((HERE / "expected").glob("*.json"))
LOGS = HERE / "synthetic.jsonl"


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c["query"][:40])
def test_corpus_parses_and_runs(case: dict) -> None:
    assert case["source"].startswith("https://")
    parse(case["query"])
    if case["local"]:
        result = execute(case["query"], [LOGS])
        assert isinstance(result.rows, list) and result.columns
    else:
        with pytest.raises(QuerySyntaxError):
            execute(case["query"], [LOGS])


@pytest.mark.parametrize("path", EXPECTED, ids=lambda p: p.stem)
def test_expected_rows(path: Path) -> None:
    case = json.loads(path.read_text())
    assert case["citation"] and case["semantic"]
    inputs = [HERE / f for f in case.get("inputs", [LOGS.name])]
    named = {k: [HERE / f for f in v] for k, v in case.get("named", {}).items()}
    lookups = {k: HERE / v for k, v in case.get("lookups", {}).items()}
    assert execute(case["query"], inputs, named=named, lookups=lookups).rows == case["rows"]


def test_reference_imports_neither_duckdb_nor_the_engine() -> None:
    text = (HERE / "reference.py").read_text()
    assert "duckdb" not in text.replace("no DuckDB", "") and "fdscope" not in text.replace(
        "fdscope.insights)", ""
    )
