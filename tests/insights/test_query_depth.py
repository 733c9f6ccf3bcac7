"""Deep and long expressions, regex constructs RE2 lacks, times out of range: results or a
positioned query error, never a traceback or a raw DuckDB error."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fdscope.insights import QuerySyntaxError, execute, parse, plan, to_sql
from fdscope.insights._parser import MAX_DEPTH, MAX_NESTING

T0 = 1_795_834_800_123


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("depth") / "app.log"
    p.write_text(json.dumps({"timestamp": T0, "level": 1, "message": "EC2 State aa"}) + "\n")
    return p


def one(text: str, src: Path) -> dict[str, str | None]:
    rows = execute(text, [src]).rows
    assert len(rows) == 1, rows
    return rows[0]


def test_100_nested_parentheses_run(log: Path) -> None:
    q = "filter " + "(" * MAX_NESTING + "level = 1" + ")" * MAX_NESTING + " | fields level"
    assert one(q, log) == {"level": "1"}
    with pytest.raises(QuerySyntaxError) as exc:
        parse("filter " + "(" * (MAX_NESTING + 1) + "level = 1" + ")" * (MAX_NESTING + 1))
    assert exc.value.column == 8 + MAX_NESTING + 1


def test_1000_term_or_chain_under_the_10000_char_limit_runs(log: Path) -> None:
    # a generated request-id list; CloudWatch takes queries up to 10,000 characters
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html)
    ids = [f"@requestId = 'r{i:04d}'" for i in range(999)] + ["level = 1"]
    q = "filter " + " or ".join(ids) + " | fields level"
    assert len(q) < 30_000
    assert one(q, log) == {"level": "1"}
    q = "filter " + " and ".join(["level = 1"] * 1000) + " | fields level"
    assert one(q, log) == {"level": "1"}


def test_thousands_of_nots_and_signs_collapse(log: Path) -> None:
    assert one("filter " + "not " * 3000 + "level = 1 | fields level", log) == {"level": "1"}
    assert one("filter " + "not " * 3001 + "level = 2 | fields level", log) == {"level": "1"}
    assert one("fields " + "- " * 3001 + "level as v", log) == {"v": "-1"}
    assert one("fields " + "- " * 3000 + "level as v", log) == {"v": "1"}


def test_too_deep_arithmetic_is_a_positioned_error(log: Path) -> None:
    assert one("fields " + "+".join(["level"] * MAX_DEPTH) + " as v", log) == {"v": str(MAX_DEPTH)}
    with pytest.raises(QuerySyntaxError) as exc:
        parse("fields " + "+".join(["1"] * 5000) + " as v")
    assert "nested too deeply" in str(exc.value) and exc.value.line == 1


def test_nested_calls_at_the_limit_run_on_duckdb(log: Path) -> None:
    q = "fields " + "abs(" * (MAX_NESTING - 1) + "level" + ")" * (MAX_NESTING - 1) + " as v"
    assert one(q, log) == {"v": "1"}


@pytest.mark.parametrize(
    "regex, column",
    [
        ("EC2(?= State)", 26),  # lookahead
        ("EC2(?! x)", 26),
        ("(?<=EC2) State", 23),  # lookbehind
        ("(?<!x)EC2", 23),
        ("(a)\\1", 26),  # backreference
        ("(?<n>a)\\k<n>", 30),
        ("(?>a)", 23),  # atomic group
    ],
)
def test_regex_constructs_re2_lacks_are_lexer_errors(regex: str, column: int) -> None:
    # CWL_QuerySyntax.html: Insights regular expressions have no lookaround or backreferences
    with pytest.raises(QuerySyntaxError) as exc:
        parse(f"filter @message like /{regex}/")
    assert exc.value.column == column and exc.value.snippet.endswith("^")


def test_regex_lookalikes_inside_classes_or_escaped_are_fine(log: Path) -> None:
    assert one("filter @message like /[(?=]?S/ | fields level", log) == {"level": "1"}
    assert one("filter @message like /a\\(?=?a/ | fields level", log)  # escaped paren
    assert one("parse @message /(?<a>EC2) (?<b>\\w+)/ | fields a, b", log) == {
        "a": "EC2",
        "b": "State",
    }


def test_from_millis_out_of_range_is_absent(log: Path) -> None:
    r = one(
        "fields fromMillis(99999999999999999) as x, fromMillis(1e300) as y,"
        " datefloor(fromMillis(99999999999999999), 1mo) as z, fromMillis(0) as ok",
        log,
    )
    assert r == {"x": None, "y": None, "z": None, "ok": "1970-01-01 00:00:00.000"}


# -- the parser keeps precedence and associativity: the engine agrees with Python on
# generated expressions (and/or/not over comparisons; + - * / ^ with signs and parentheses)

BOOL_ATOM = st.sampled_from(["1 = 1", "1 = 2", "2 > 1", "1 != 1"])


BOOLS = st.recursive(
    BOOL_ATOM,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" and ", " or "]), inner).map("".join),
        inner.map(lambda x: f"not {x}"),
        inner.map(lambda x: f"({x})"),
    ),
    max_leaves=12,
)
NUM_ATOM = st.sampled_from(["1", "2", "3", "2 ^ 3", "3 ^ 2 ^ 0"])
NUMS = st.recursive(
    NUM_ATOM,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" + ", " - ", " * ", " / "]), inner).map("".join),
        inner.map(lambda x: f"-{x}"),
        inner.map(lambda x: f"({x})"),
    ),
    max_leaves=10,
)


@settings(max_examples=40, deadline=None)
@given(BOOLS, NUMS)
def test_generated_expressions_evaluate_as_python_does(log: Path, b: str, n: str) -> None:
    want_b = eval(b.replace("=", "==").replace("!==", "!=").replace(">==", ">="))  # noqa: S307
    try:
        want_n = eval(n.replace("^", "**"))  # noqa: S307
    except ZeroDivisionError:
        want_n = None
    r = one(f"fields ({b}) as b, ({n}) as n", log)
    assert r["b"] == ("true" if want_b else "false")
    if want_n is None or not math.isfinite(want_n):
        return
    assert r["n"] is not None and math.isclose(float(r["n"]), want_n, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400), st.sampled_from(["(", "abs(", "[", "not (", "-("]))
def test_any_nesting_raises_only_query_errors(depth: int, opener: str) -> None:
    close = "]" if opener == "[" else ")"
    text = "filter x in " if opener == "[" else "fields "
    text += opener * depth + "1" + close * depth + ("" if opener == "[" else " as v")
    try:
        to_sql(plan(parse(text)))
    except QuerySyntaxError as e:
        assert e.line == 1 and e.snippet.endswith("^")
