"""Injection through every kind of literal cannot reach read_text, getenv, ATTACH or COPY."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fdscope.errors import QueryError
from fdscope.insights import execute
from fdscope.insights._engine import connect, lock_down
from fdscope.insights._sql import sql_ident, sql_string

SECRET = "fdscope-secret-canary"

PAYLOADS = [
    "') UNION SELECT content FROM read_text('{f}') --",
    "'; COPY (SELECT 1) TO '{out}'; --",
    "' || getenv('FDSCOPE_CANARY') || '",
    "'; ATTACH '{out}' AS x; --",
    "\\'; SELECT read_text('{f}'); --",
    "$$ || read_text('{f}') || $$",
]


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    out = tmp_path / "out.db"
    logs = tmp_path / "events.jsonl"
    logs.write_text(
        json.dumps({"timestamp": 1_700_000_000_000, "message": "hello world", "logStream": "s"})
        + "\n"
    )
    monkeypatch.setenv("FDSCOPE_CANARY", SECRET)
    return secret, out, logs


def _queries(p: str) -> list[str]:
    dq = p.replace("\\", "\\\\").replace('"', '\\"')
    rx = p.replace("/", "\\/")
    bt = p.replace("`", "")
    return [
        f'filter @message like "{dq}"',  # string literal (double quotes)
        "filter @message like '"
        + p.replace("\\", "\\\\").replace("'", "\\'")
        + "'",  # single quotes
        f"filter @message like /{rx}/",  # regex literal
        f'fields concat(@message, "{dq}") as x',  # string inside a function
        f'parse @message "* {dq.replace("*", "")}" as a',  # parse glob
        f"fields `{bt}` as y",  # backtick identifier (a JSON path)
        f'filter @message in ["{dq}", "x"]',  # list
        f"fields @message as `{bt}`",  # alias
    ]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_through_every_literal_kind(setup: tuple[Path, Path, Path], payload: str) -> None:
    secret, out, logs = setup
    p = payload.format(f=secret, out=out)
    for query in _queries(p):
        try:
            result = execute(query, [logs])
        except QueryError:
            continue  # refused is fine; leaking is not
        text = json.dumps(result.rows)
        assert SECRET not in text, query
        assert not out.exists(), query


def test_locked_connection_refuses_external_access(setup: tuple[Path, Path, Path]) -> None:
    import duckdb

    secret, out, logs = setup
    con = connect()
    lock_down(con, [str(logs)])
    for stmt in (
        f"SELECT * FROM read_text({sql_string(str(secret))})",
        f"COPY (SELECT 1) TO {sql_string(str(out))}",
        f"ATTACH {sql_string(str(out))} AS x",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
    ):
        with pytest.raises(duckdb.Error):
            con.execute(stmt)
    # the named input stays readable
    assert con.execute(f"SELECT count(*) FROM read_text({sql_string(str(logs))})").fetchone() == (
        1,
    )
    assert not out.exists()
    con.close()


def test_getenv_is_not_a_query_function(setup: tuple[Path, Path, Path]) -> None:
    _, _, logs = setup
    with pytest.raises(QueryError, match="unknown function"):
        execute("fields getenv('FDSCOPE_CANARY') as x", [logs])
    with pytest.raises(QueryError, match="unknown function"):
        execute("fields read_text('/etc/passwd') as x", [logs])


def test_literal_escaping_round_trips() -> None:
    import duckdb

    con = duckdb.connect()
    for s in ["a'b", "'; DROP TABLE x; --", "\\'", "$$", "\n\t", "é\u2028"]:
        assert con.execute(f"SELECT {sql_string(s)} AS {sql_ident(s)}").fetchone() == (s,)


def test_placeholder_text_in_literals_stays_literal(tmp_path: Path) -> None:
    logs = tmp_path / "e.jsonl"
    logs.write_text(
        "".join(
            json.dumps({"timestamp": 1_700_000_000_000 + i, "message": m}) + "\n"
            for i, m in enumerate(["x {prev} y", "{pattern}", "plain"])
        )
    )
    r = execute(
        'filter @message like "{prev}" or @message like "{pattern}" | fields @message | sort @timestamp asc',
        [logs],
    )
    assert [row["@message"] for row in r.rows] == ["x {prev} y", "{pattern}"]
    r = execute(
        'filter @message like "a\x00b" | fields @message', [logs]
    )  # NUL cannot smuggle a placeholder
    assert r.rows == []
