"""Every example query of AWS's current Logs Insights reference pages (tests/fixtures/insights/
aws_pages.json, each with its page) parses; those with a local meaning run; the new commands
raise nothing but the query error on generated input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fdscope.errors import QueryError
from fdscope.insights import QuerySyntaxError, execute, parse, plan, to_sql

HERE = Path(__file__).resolve().parent.parent / "fixtures" / "insights"
PAGES = json.loads((HERE / "aws_pages.json").read_text())
MAIN = HERE / "aws_pages.jsonl"
NAMED = {
    name: [HERE / "payments.jsonl"]
    for name in (
        "payments",
        "lg",
        "/aws/lambda/my-function",
        "/aws/lambda/payment-service",
        "/aws/lambda/database-service",
        "/aws/lambda/payment-processor",
    )
}
LOOKUPS = {"user_data": HERE / "user_data.csv", "net_table": HERE / "net_table.csv"}
T0 = 1_764_295_200_000


@pytest.mark.parametrize("case", PAGES, ids=lambda c: c["query"][:50])
def test_page_example_parses(case: dict) -> None:
    assert case["source"].startswith("https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/")
    if "error" in case:  # the page's own typo: reported with a position
        with pytest.raises(QuerySyntaxError, match=re.escape(case["error"])) as exc:
            if case["local"]:
                parse(case["query"])
            else:
                execute(case["query"], [MAIN], named=NAMED, lookups=LOOKUPS)
        assert exc.value.line >= 1 and exc.value.snippet.rstrip().endswith("^")
        return
    parse(case["query"])


@pytest.mark.parametrize(
    "case", [c for c in PAGES if c["local"] and "error" not in c], ids=lambda c: c["query"][:50]
)
def test_page_example_runs_locally(case: dict) -> None:
    query = case["query"]
    window = {}
    if query.startswith("diff"):  # diff compares the query's window with an earlier one
        window = {"start": T0 + 200_000, "end": T0 + 400_000}
        query = "fields @message | " + query
    try:
        lookups = {k: HERE / v for k, v in case.get("lookups", {}).items()} or LOOKUPS
        result = execute(query, [MAIN], named=NAMED, lookups=lookups, **window)
    except QuerySyntaxError as exc:
        # the one refusal of a page example is a query error naming the command
        assert "anomaly" in case["query"] and "anomaly" in str(exc)
        return
    assert isinstance(result.rows, list) and result.columns


def test_refusals_name_the_command_and_why() -> None:
    for text, word in (
        ("fields @message | pattern @message | anomaly", "anomaly"),
        ("fields @message | stats count(*) as n | fillmissing", "fillmissing needs"),
        ("fields a | stats count(*) as n by a | sessionize a", "sessionize"),
        ("cidrlookup nosuch ip OUTPUT x", "lookup table"),
        ("fields @message | diff", "diff"),
        ("lookup nosuch id OUTPUT x", "lookup table"),
    ):
        with pytest.raises(QuerySyntaxError, match=word) as exc:
            execute(text, [MAIN])
        assert exc.value.column >= 1


def test_notes_are_said_once() -> None:
    r = execute("filterIndex a = 1 | filterIndex b = 2 | unmask", [MAIN])
    assert len(r.statistics["notes"]) == 2


def test_positioned_errors_and_suggestions_for_new_commands() -> None:
    cases = [
        ("fields a | addtotal", "addtotals"),
        ("fields a | logcompar timeshift 1d", "logcompare"),
        ("fields a | diff previousDya", "previousDay"),
        ("SOURCE logGroup(namePrefix: ['x'])", "logGroups"),
    ]
    for text, hint in cases:
        with pytest.raises(QuerySyntaxError) as exc:
            parse(text)
        assert exc.value.suggestion == hint, (text, exc.value)
    with pytest.raises(QuerySyntaxError, match="expected where") as exc:
        parse("relevantfields a b")
    assert exc.value.column == 18


def test_source_time_range_and_limit_any() -> None:
    named = {"lg": [MAIN]}
    everything = execute("SOURCE lg | stats count(*) as n", [], named=named).rows[0]["n"]
    recent = execute("SOURCE lg start=-1d end=now | stats count(*) as n", [], named=named)
    assert everything == "120" and recent.rows[0]["n"] == "0"  # the fixture is from 2025
    iso = "SOURCE lg start=2025-11-28T02:00:00Z end=2025-11-28T02:02:00Z | stats count(*) as n"
    n = int(execute(iso, [], named=named).rows[0]["n"])
    assert 0 < n < 120
    assert len(execute("fields @message | limit any 3", [MAIN]).rows) == 3


WORDS = st.sampled_from(
    [
        "SOURCE ",
        "'lg' ",
        "logGroups(",
        "namePrefix: ['a'] ",
        ")",
        "start=-1d ",
        "end=now ",
        "join ",
        "type=left ",
        "left=a ",
        "right=b ",
        "where ",
        "a.x=b.x ",
        "(SOURCE 'lg')",
        "lookup ",
        "user_data ",
        "user_id ",
        "OUTPUT ",
        "email",
        "expand ",
        "addtotals ",
        "col=true ",
        "row=false ",
        "fieldname=T ",
        "logcompare ",
        "timeshift 1d",
        "diff ",
        "previousDay",
        "relevantfields ",
        "anomaly",
        "json ",
        "field=x ",
        '"a.b" ',
        "as y",
        "parse ",
        "logfmt ",
        "csv ",
        "multi",
        "/(\\d+)/ ",
        "limit any 2",
        " | ",
        ", ",
        "filter x in (",
        "fields ",
        "@`aws.tag.k:v`",
        "a[1].b ",
        "jsonParse(@message)",
        "autoregress a ",
        "p=1-3 ",
        "AS x ",
        "filldown ",
        "cpu* ",
        "fillmissing ",
        "with 0 for n",
        "stats count(*) as n by bin(1m) ",
        "cidrlookup ",
        "net_table ",
        "OUTPUTNEW region",
        "outlier ",
        "action=remove ",
        "param=0.5 ",
        "uselower=true ",
        "mark=true ",
        "accum a ",
        "appendcols ",
        "override=true ",
        "max=3 ",
        "(SOURCE lg | stats count(*) as m by b)",
        "sessionize ",
        "maxspan 5m ",
        "countFrequent ",
        "count_frequent ",
        "b",
        "stats rate(a, 1m) as r, histogram(a, 3) as h, countOverTime(a), sumOverTime(a) by bin(1m)",
    ]
)


def test_table_commands_positioned_errors() -> None:
    cases = [
        ("fields a | autoregress a p=0", "a lag of 1 or more"),
        ("fields a | outlier action=drop a", "remove or transform"),
        ("fields a | outlier mark=yes a", "true or false"),
        ("fields a | cidrlookup t ip OUTPT x", "OUTPUT or OUTPUTNEW"),
        ("fields a | appendcols max=0 (SOURCE lg)", "a whole number"),
        ("fields a | fillmissing with x for y", "a number"),
        ("fields a | sessionize a maxspan 1mo", "maxspan"),
        ("fields a | countFrequent", "a field to count"),
    ]
    for text, hint in cases:
        with pytest.raises(QuerySyntaxError) as exc:
            parse(text)
        assert hint in str(exc.value), (text, str(exc.value))
        assert exc.value.column > 10


def test_case_takes_at_most_ten_branches() -> None:
    """The functions page: case "supports up to 10 branches" (and a default)."""
    ten = ", ".join(f'a = {k}, "v{k}"' for k in range(10))
    parse(f'fields case({ten}, "other") as c')
    with pytest.raises(QuerySyntaxError, match="2 to 21 arguments") as exc:
        parse(f'fields case({ten}, a = 10, "v10", "other") as c')
    assert exc.value.column == 8


def test_maps_and_lists_in_string_functions_and_comparisons() -> None:
    """The functions page, "Structure types": a map or list is null for string, number and
    datetime functions; the JSON functions still take it."""
    q = (
        "fields jsonParse(@message) as m | filter ispresent(m.transactionId) | limit 1 "
        '| fields concat(m, "!") as c, substr(m, 1) as s, startsWith(m, "{") as sw, '
        "md5(m) as h, abs(m) as a, datefloor(m, 1h) as d, jsonArraySize(m.users) as n, "
        "isempty(m) as e"
    )
    row = execute(q, [MAIN]).rows[0]
    assert (row["c"], row["s"], row["sw"], row["h"], row["a"], row["d"]) == (
        "!",
        None,
        "0",
        None,
        None,
        None,
    )
    assert row["n"] == "2" and row["e"] == "1"


def test_period_caps_apply_to_datefloor_too() -> None:
    rows = execute(
        "fields datefloor(@timestamp, 120m) as a, datefloor(@timestamp, 1h) as b | limit 5",
        [MAIN],
    ).rows
    assert all(r["a"] == r["b"] for r in rows)


def test_count_frequent_spelling_and_wildcard_filldown() -> None:
    a = execute("filter ispresent(a) | count_frequent b", [MAIN]).rows
    b = execute("filter ispresent(a) | countFrequent b", [MAIN]).rows
    assert a == b and a[0]["_approxcount"] >= a[-1]["_approxcount"]
    rows = execute(
        "filter ispresent(a) or ispresent(lf) | sort @timestamp asc | fields a, b | filldown",
        [MAIN],
    ).rows
    assert all(r["a"] is not None for r in rows[1:])


def test_diff_without_window_is_refused_with_the_reason() -> None:
    with pytest.raises(QuerySyntaxError, match="give the window"):
        execute("fields @message | diff", [MAIN])


@settings(max_examples=200, deadline=None)
@given(st.lists(WORDS, max_size=14).map("".join))
def test_new_commands_raise_only_query_errors(text: str) -> None:
    try:
        to_sql(
            plan(
                parse(text),
                lookups={"user_data": ["user_id", "email"], "net_table": ["cidr", "region"]},
                window=(0, 10**13),
            )
        )
    except QuerySyntaxError as e:
        assert e.line >= 1 and e.column >= 1 and e.snippet.rstrip().endswith("^")


@settings(max_examples=60, deadline=None)
@given(st.lists(WORDS, max_size=10).map("".join))
def test_new_commands_run_or_raise_query_errors(text: str) -> None:
    try:
        execute(text, [MAIN], named={"lg": [MAIN]}, lookups=LOOKUPS, start=T0, end=T0 + 10**7)
    except QueryError:
        pass
