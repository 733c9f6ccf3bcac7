"""Queries as AWS runs them: backticked names, sort and limit after stats, unnest, @-keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fdscope.insights import QuerySyntaxError, execute

T0 = 1_795_824_000_000  # 2026-11-28 00:00:00 UTC
EVENT = {
    "detail-type": "EC2 State",
    "source": "aws.ec2",
    "tags": ["a", "b"],
    "m": {"k": "v"},
    "n": 7,
}


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    p = tmp_path / "events.jsonl"
    lines = [
        {"timestamp": T0 + i * 60_000, "logStreamName": "s", "message": json.dumps(m)}
        for i, m in enumerate([EVENT, {**EVENT, "source": "aws.s3"}, {**EVENT, "n": 9}])
    ]
    p.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return p


def rows(text: str, src: Path) -> list[dict[str, str | None]]:
    return execute(text, [src]).rows


# -- backticked names: AWS's own example `fields `foo-bar`, action, abs(f3-f4)`
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html, "Guidelines")


def test_backticked_field_in_fields_and_display_resolves_and_is_named_without_backticks(
    logs: Path,
) -> None:
    r = execute("fields `detail-type`, source, `@timestamp` | limit 1", [logs])
    assert r.columns == ["detail-type", "source", "@timestamp"]
    assert r.rows[0]["detail-type"] == "EC2 State"
    assert r.rows[0]["@timestamp"] is not None
    r = execute("display `detail-type`", [logs])
    assert r.columns == ["detail-type"] and {x["detail-type"] for x in r.rows} == {"EC2 State"}


def test_backticked_by_column_is_named_without_backticks(logs: Path) -> None:
    r = execute("stats count(*) by `detail-type`", [logs])
    assert r.columns == ["detail-type", "count(*)"]
    assert r.rows == [{"detail-type": "EC2 State", "count(*)": "3"}]


def test_backticked_name_with_a_dot_is_one_key(tmp_path: Path) -> None:
    p = tmp_path / "events.jsonl"
    msg = json.dumps({"a.b": "one key", "a": {"b": "nested"}})
    p.write_text(json.dumps({"timestamp": T0, "message": msg}) + "\n")
    assert rows("fields `a.b`", p) == [{"a.b": "one key"}]
    assert rows("fields a.b", p) == [{"a.b": "nested"}]


# -- sort by a stats output written as its expression


def test_sort_by_stats_expression_sorts_by_that_column(logs: Path) -> None:
    r = rows("stats count(*) by source | sort count(*) desc", logs)
    assert [x["source"] for x in r] == ["aws.ec2", "aws.s3"]
    r = rows("stats count(*) by source | sort count(*) asc", logs)
    assert [x["source"] for x in r] == ["aws.s3", "aws.ec2"]
    r = rows("stats sum(n) as s by bin(1m) | sort bin(1m) desc", logs)
    assert [x["s"] for x in r] == ["9", "7", "7"]
    r = rows("stats avg(n) by source | sort avg(n) desc", logs)
    assert [x["avg(n)"] for x in r] == ["8", "7"]


def test_sort_by_other_aggregate_after_stats_suggests_the_backticked_column(logs: Path) -> None:
    with pytest.raises(QuerySyntaxError) as exc:
        execute("stats count(*) by source | sort sum(n)", [logs])
    assert "`count(*)`" in str(exc.value) and exc.value.column == 33


# -- limit and dedup after stats without by (no sort order): never a DuckDB syntax error


def test_limit_and_dedup_after_stats_without_by(logs: Path) -> None:
    assert rows("stats count(*) as c | limit 5", logs) == [{"c": "3"}]
    assert rows("stats count(*) as c | dedup c", logs) == [{"c": "3"}]
    with pytest.raises(QuerySyntaxError) as exc:
        execute("stats count(*) as c | limit 0", [logs])
    assert exc.value.column == 29


# -- unnest (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Unnest.html):
# "Any other types, such as MAP, String and numbers, are treated as a list with one item"


def test_unnest_string_items_are_bare_strings(logs: Path) -> None:
    r = rows("fields jsonParse(@message) as j | unnest j.tags into t | display t | limit 2", logs)
    assert r == [{"t": "a"}, {"t": "b"}]


@pytest.mark.parametrize(
    "path, want",
    [
        ("j.m", '{"k":"v"}'),  # a map: one row, the map itself
        ("j.n", "7"),  # a number
        ("j.source", "aws.ec2"),  # a string
    ],
)
def test_unnest_of_a_map_string_or_number_is_one_item(logs: Path, path: str, want: str) -> None:
    r = rows(
        f"fields jsonParse(@message) as j | filter j.source = 'aws.ec2' and j.n = 7"
        f" | unnest {path} into t | display t",
        logs,
    )
    assert r == [{"t": want}]
    r = rows("fields jsonParse(@message) as j | unnest j.m into t | display t.k | limit 1", logs)
    assert r == [{"t.k": "v"}]


def test_json_keys_starting_with_at_are_discovered_with_another_at(tmp_path: Path) -> None:
    # AWS, "Supported logs and discovered fields": a JSON field whose name starts with @ is
    # discovered with an extra @ (logstash-style `@timestamp`, `@version`), so it never hides
    # the system fields.
    log = tmp_path / "logstash.log"
    log.write_text(
        '{"@timestamp": "2024-05-01T10:00:00Z", "@version": "1", "level": "INFO"}\n'
        '{"@timestamp": "2024-05-01T10:00:01Z", "@version": "2", "level": "ERROR"}\n'
    )
    got = rows(
        "fields @@timestamp, @@version, level | filter @@version = 2 | sort @timestamp asc", log
    )
    assert got == [{"@@timestamp": "2024-05-01T10:00:01Z", "@@version": "2", "level": "ERROR"}]
    # the system field is still the event's time
    assert rows("fields @timestamp | sort @timestamp asc | limit 1", log) == [
        {"@timestamp": "2024-05-01 10:00:00.000"}
    ]
