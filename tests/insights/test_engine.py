"""End-to-end: queries over a small synthetic log set, checked against hand-computed rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fdscope.insights import QuerySyntaxError, execute, parse, plan, to_sql, tokenize

T0 = 1_764_295_200_000  # 2025-11-28 02:00:00.000 UTC
RID = ["11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"]
MESSAGES = [
    f"START RequestId: {RID[0]} Version: $LATEST",
    f"[INFO]\t2025-11-28T02:00:00.010Z\t{RID[0]}\tuser=alice action=get latency=12",
    f"[ERROR]\t2025-11-28T02:00:00.020Z\t{RID[0]}\tOSError: [Errno 24] Too many open files",
    f"END RequestId: {RID[0]}",
    f"REPORT RequestId: {RID[0]}\tDuration: 102.50 ms\tBilled Duration: 103 ms\tMemory Size: 128 MB\tMax Memory Used: 64 MB\tInit Duration: 250.00 ms\t",
    f"START RequestId: {RID[1]} Version: $LATEST",
    '{"level": "error", "requestId": "'
    + RID[1]
    + '", "count": "10", "items": [{"id": 7}], "name": "file10"}',
    '{"level": "info", "requestId": "'
    + RID[1]
    + '", "count": "9", "items": [{"id": 8}], "name": "file9"}',
    f"REPORT RequestId: {RID[1]}\tDuration: 7.25 ms\tBilled Duration: 8 ms\tMemory Size: 128 MB\tMax Memory Used: 70 MB\t",
]


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    p = tmp_path / "events.jsonl"
    with p.open("w") as f:
        for i, m in enumerate(MESSAGES):
            f.write(
                json.dumps(
                    {
                        "timestamp": T0 + i * 30_000,
                        "message": m,
                        "logStream": "s1",
                        "logGroup": "/aws/lambda/f",
                    }
                )
                + "\n"
            )
    return p


def q(text: str, src: Path, **kw):
    return execute(text, [src], **kw)


def test_filter_like_regex_sort_limit(logs: Path) -> None:
    r = q(
        "fields @timestamp, @message | filter @message like /ERROR|error/ | sort @timestamp desc | limit 50",
        logs,
    )
    assert r.columns == ["@timestamp", "@message"]
    assert [row["@timestamp"] for row in r.rows] == [
        "2025-11-28 02:03:00.000",
        "2025-11-28 02:01:00.000",
    ]


def test_like_string_is_case_sensitive_substring(logs: Path) -> None:
    r = q('filter @message like "Errno 24" | fields @requestId', logs)
    assert [row["@requestId"] for row in r.rows] == [RID[0]]
    assert q('filter @message like "errno 24"', logs).rows == []
    assert len(q("filter @message like /(?i)errno 24/", logs).rows) == 1


def test_discovered_report_fields(logs: Path) -> None:
    r = q(
        'filter @type = "REPORT" | fields @requestId, @duration, @billedDuration, @maxMemoryUsed / 1000 / 1000 as mb, '
        "@initDuration | sort @duration asc",
        logs,
    )
    assert r.rows == [
        {
            "@requestId": RID[1],
            "@duration": "7.25",
            "@billedDuration": "8",
            "mb": "70",
            "@initDuration": None,
        },
        {
            "@requestId": RID[0],
            "@duration": "102.5",
            "@billedDuration": "103",
            "mb": "64",
            "@initDuration": "250",
        },
    ]


def test_stats_bin_and_aggregates(logs: Path) -> None:
    r = q("stats count(*) as n by bin(2m)", logs)
    assert r.rows == [
        {"bin(2m)": "2025-11-28 02:00:00.000", "n": "4"},
        {"bin(2m)": "2025-11-28 02:02:00.000", "n": "4"},
        {"bin(2m)": "2025-11-28 02:04:00.000", "n": "1"},
    ]
    r = q(
        'filter @type = "REPORT" | stats avg(@duration) as a, pct(@duration, 50) as p, sum(@billedDuration) as s',
        logs,
    )
    assert r.rows == [{"a": "54.875", "p": "7.25", "s": "111"}]


def test_stats_alias_reference_and_multiple_stats(logs: Path) -> None:
    r = q(
        'filter @type = "REPORT" | stats max(@memorySize / 1000 / 1000) as prov, max(@maxMemoryUsed / 1000 / 1000) as used, prov - used as over',
        logs,
    )
    assert r.rows == [{"prov": "128", "used": "70", "over": "58"}]
    r = q("stats count(*) as n by @logStream, bin(1m) | stats max(n) as peak", logs)
    assert r.rows == [{"peak": "2"}]


def test_json_fields_numeric_strings_and_natural_sort(logs: Path) -> None:
    r = q("filter count > 9 | fields name", logs)  # "10" > 9 numerically, "9" is not
    assert [row["name"] for row in r.rows] == ["file10"]
    r = q("filter ispresent(name) | sort name asc | fields name", logs)
    assert [row["name"] for row in r.rows] == ["file9", "file10"]
    r = q("filter ispresent(items.0.id) | fields items.0.id as first | sort first", logs)
    assert [row["first"] for row in r.rows] == ["7", "8"]


def test_parse_glob_and_regex_keep_unmatched_rows(logs: Path) -> None:
    r = q(
        'parse @message "user=* action=* latency=*" as user, action, latency | fields user, latency | sort @timestamp asc',
        logs,
    )
    assert len(r.rows) == len(MESSAGES)
    assert [row for row in r.rows if row["user"]] == [{"user": "alice", "latency": "12"}]
    r = q(r"parse @message /\[(?<lvl>[A-Z]+)\]/ | stats count(*) by lvl", logs)
    assert {row["lvl"]: row["count(*)"] for row in r.rows} == {None: "7", "ERROR": "1", "INFO": "1"}


def test_string_functions_zero_based_substr(logs: Path) -> None:
    r = q(
        'filter @type = "START" | fields substr(@message, 0, 5) as a, substr("xyZfooxyZ", 3, 3) as b, '
        'trim("xyZfooxyZ", "xyZ") as c, strlen("héllo") as d, replace("foo", "o", "0") as e, '
        'concat(toupper("a"), tolower("B")) as f, strcontains(@message, "START") as g | limit 1',
        logs,
    )
    assert r.rows == [
        {"a": "START", "b": "foo", "c": "foo", "d": "5", "e": "f00", "f": "Ab", "g": "1"}
    ]


def test_in_dedup_and_boolean_logic(logs: Path) -> None:
    r = q('filter @type in ["START", "END"] and not @message like "2222" | fields @type', logs)
    assert sorted(row["@type"] for row in r.rows) == ["END", "START"]
    r = q(
        "fields @requestId | filter ispresent(@requestId) | sort @timestamp desc | dedup @requestId",
        logs,
    )
    assert [row["@requestId"] for row in r.rows] == [RID[1], RID[0]]


def test_time_range(logs: Path) -> None:
    r = q("stats count(*) as n", logs, start=T0 + 60_000, end=T0 + 120_000)
    assert r.rows == [{"n": "3"}]


def test_stages_callable_one_by_one() -> None:
    text = "filter @message like /x/ | stats count(*) by bin(5m)"
    assert [t.kind for t in tokenize(text)][:4] == ["IDENT", "IDENT", "IDENT", "REGEX"]
    p = plan(parse(text))
    assert "GROUP BY" in to_sql(p)
    assert "aggregate" in p.explain()


def test_errors_point_at_the_spot() -> None:
    with pytest.raises(QuerySyntaxError) as e:
        parse("fields @message\n| stats cuont(*) by bin(5m)")
    err = e.value
    assert (err.line, err.column, err.suggestion) == (2, 9, "count")
    assert err.snippet.endswith("^") and "did you mean 'count'" in str(err)
    with pytest.raises(QuerySyntaxError) as e:
        parse("fileds @message")
    assert e.value.suggestion == "fields"


def test_cloud_only_commands_are_refused_locally(logs: Path) -> None:
    with pytest.raises(QuerySyntaxError, match="diff"):
        q("fields @message | diff", logs)
    # filterIndex and unmask have a local meaning
    assert len(q('filterIndex @type = "REPORT" | unmask @message', logs).rows) == 2


def test_functions_across_groups(logs: Path) -> None:
    r = q(
        'filter @type = "START" | sort @timestamp asc | limit 1 | fields '
        "datefloor(@timestamp, 1h) as f, dateceil(@timestamp, 1h) as c, fromMillis(0) as z, "
        'toMillis(@timestamp) as ms, if(strlen(@message) > 5, "long", "short") as i, '
        'case(1 > 2, "a", 2 > 1, "b", "c") as k, coalesce(nothere, "dflt") as co, '
        'isValidIp("10.1.2.3") as ip, isIpInSubnet("10.1.2.3", "10.0.0.0/8") as sub, '
        'isValidIpV6("10.1.2.3") as v6, jsonStringify(jsonParse("{\\"a\\": [1, 2]}")) as js, '
        'greatest(1, 5, 3) as g, abs(-2) as a, 2 ^ 3 as p, 10 % 3 as m, isblank("  ") as b',
        logs,
    )
    assert r.rows == [
        {
            "f": "2025-11-28 02:00:00.000",
            "c": "2025-11-28 02:00:00.000",
            "z": "1970-01-01 00:00:00.000",
            "ms": str(T0),
            "i": "long",
            "k": "b",
            "co": "dflt",
            "ip": "true",
            "sub": "true",
            "v6": "false",
            "js": '{"a":[1,2]}',
            "g": "5",
            "a": "2",
            "p": "8",
            "m": "1",
            "b": "1",
        }
    ]


def test_more_aggregations_and_offset(logs: Path) -> None:
    r = q(
        "filter ispresent(@requestId) | stats count_distinct(@requestId) as d, earliest(@type) as e, "
        "latest(@type) as l, sortsFirst(@requestId) as sf, sortsLast(@requestId) as sl, "
        "stddev(@duration) as sd, min(@duration) as lo, count(@duration) as n",
        logs,
    )
    row = r.rows[0]
    assert (row["d"], row["e"], row["l"], row["sf"], row["sl"], row["n"], row["lo"]) == (
        "2",
        "START",
        "REPORT",
        RID[0],
        RID[1],
        "2",
        "7.25",
    )
    assert abs(float(row["sd"]) - 67.35) < 0.01
    r = q("stats count(*) as n by bin(2m) offset 1m", logs)
    assert [x["bin(2m)"] for x in r.rows][0] == "2025-11-28 02:00:00.000"
    assert sum(int(x["n"]) for x in r.rows) == len(MESSAGES)


def test_unnest_pattern_display_and_comments(logs: Path) -> None:
    r = q(
        "# the JSON lines carry an items list\n"
        "filter ispresent(items) | fields jsonParse(@message) as doc | unnest doc.items into item "
        "| display item.id, `doc.level`",
        logs,
    )
    assert sorted(x["item.id"] for x in r.rows) == ["7", "8"]
    r = q('filter @type in ["START", "END"] | pattern @message', logs)
    assert {x["@pattern"]: x["@sampleCount"] for x in r.rows} == {
        "START RequestId: <*> Version: $LATEST": "2",
        "END RequestId: <*>": "1",
    }
    r = q('filter @message =~ /Errno/ and @requestId not in ["x", "y"] | fields @requestId', logs)
    assert r.rows == [{"@requestId": RID[0]}]


def test_keywords_and_functions_are_case_insensitive(logs: Path) -> None:
    a = q('FILTER @type = "REPORT" | STATS COUNT(*) AS n, AVG(@duration) AS d BY BIN(1H)', logs)
    b = q('filter @type = "REPORT" | stats count(*) as n, avg(@duration) as d by bin(1h)', logs)
    # the values agree; column names keep the text as written, as in CloudWatch
    assert [list(r.values()) for r in a.rows] == [list(r.values()) for r in b.rows]
    assert a.columns[0] == "BIN(1H)" and a.rows[0]["n"] == "2"


@pytest.mark.parametrize(
    "text",
    [
        "fields @message | autoregress",
        "fields @message | anomaly",
        "lookup users userId OUTPUT name",
        "fields @message | join x",
    ],
)
def test_more_cloud_only_commands_name_themselves(logs: Path, text: str) -> None:
    word = text.split("|")[-1].split()[0] if "|" in text else text.split()[0]
    with pytest.raises(QuerySyntaxError, match=word):
        q(text, logs)


def test_sort_is_aws_natural_order(tmp_path: Path) -> None:
    # the ascending example of https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Sort.html
    aws = [
        "!:",
        "#",
        "*%04",
        "0#",
        "5A",
        "111A",
        "2345_",
        "@",
        "@_",
        "A",
        "A9876fghj",
        "a12345hfh",
        "0",
        "01",
        "1",
        "2",
        "3",
    ]
    f = tmp_path / "e.jsonl"
    shuffled = aws[::2] + aws[1::2]
    f.write_text(
        "".join(
            json.dumps({"timestamp": T0 + i, "message": json.dumps({"v": v})}) + "\n"
            for i, v in enumerate(shuffled)
        )
    )
    assert [r["v"] for r in execute("sort v asc | fields v", [f]).rows] == aws
    assert [r["v"] for r in execute("sort v desc | fields v", [f]).rows] == aws[::-1]
