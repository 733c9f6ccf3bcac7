"""The public surface: a sorted __all__ that imports, and no DuckDB or boto3 at import time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import fdscope.insights as insights
from fdscope.errors import QueryError


def test_all_is_sorted_and_importable() -> None:
    assert insights.__all__ == sorted(insights.__all__)
    for name in insights.__all__:
        assert getattr(insights, name) is not None
    assert issubclass(insights.QuerySyntaxError, QueryError)


def test_import_is_light() -> None:
    code = "import sys, fdscope.insights, fdscope.insights.cloudwatch; print(sorted({'duckdb', 'boto3', 'click'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_first_json_fragment_of_a_text_line(tmp_path: Path) -> None:
    f = tmp_path / "e.jsonl"
    msgs = [
        '[INFO]\t2025-11-28T02:00:00.000Z\tabc\tgot {"user": {"id": 42}, "tags": ["a", "b"]} done',
        '{"user": {"id": 7}}',
        "no json here {",
    ]
    f.write_text(
        "".join(
            json.dumps({"timestamp": 1_700_000_000_000 + i, "message": m}) + "\n"
            for i, m in enumerate(msgs)
        )
    )
    r = insights.execute("fields user.id, tags.1 | sort @timestamp asc", [f])
    assert r.rows == [
        {"user.id": "42", "tags.1": "b"},
        {"user.id": "7", "tags.1": None},
        {"user.id": None, "tags.1": None},
    ]


def test_at_most_200_json_fields_are_discovered(tmp_path: Path) -> None:
    big = {f"k{i}": i for i in range(250)}
    nested = {"a": {f"x{i}": "v,w" for i in range(150)}, "b": {f"y{i}": i for i in range(100)}}
    f = tmp_path / "e.jsonl"
    f.write_text(
        "".join(
            json.dumps({"timestamp": 1_700_000_000_000 + i, "message": json.dumps(d)}) + "\n"
            for i, d in enumerate([big, nested])
        )
    )
    r = insights.execute(
        "fields k0, k199, k200, k249, a.x149, b.y49, b.y50 | sort @timestamp asc", [f]
    )
    assert r.rows[0] == {
        "k0": "0",
        "k199": "199",
        "k200": None,
        "k249": None,
        "a.x149": None,
        "b.y49": None,
        "b.y50": None,
    }
    assert r.rows[1] == {
        "k0": None,
        "k199": None,
        "k200": None,
        "k249": None,
        "a.x149": "v,w",
        "b.y49": "49",
        "b.y50": None,
    }
