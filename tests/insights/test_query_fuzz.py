"""hypothesis: the tokenizer, parser and planner raise only the engine's own query error."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fdscope.insights import QuerySyntaxError, parse, plan, to_sql, tokenize
from fdscope.insights._pattern import cluster, matches

ALPHABET = st.sampled_from(
    list("abcxyz@._`'\"/\\|,()[]{}+-*%^=!<>~# \n\t0123456789")
    + [
        "fields ",
        "filter ",
        "stats ",
        "sort ",
        "limit ",
        "parse ",
        "dedup ",
        "unnest ",
        "pattern ",
        " by ",
        " as ",
    ]
    + [
        "count(*)",
        "bin(5m)",
        " like ",
        " in ",
        " and ",
        " not ",
        "desc",
        "@message",
        "@timestamp",
        "5m",
        "1h",
        "pct(",
    ]
)
QUERYISH = st.lists(ALPHABET, max_size=30).map("".join)


@settings(max_examples=150, deadline=None)
@given(QUERYISH)
def test_parse_and_plan_raise_only_query_errors(text: str) -> None:
    try:
        tokenize(text)
        q = parse(text)
        to_sql(plan(q))
    except QuerySyntaxError as e:
        assert e.line >= 1 and e.column >= 1 and e.snippet.rstrip().endswith("^")


@settings(max_examples=120, deadline=None)
@given(st.text(max_size=60))
def test_any_text_raises_only_query_errors(text: str) -> None:
    try:
        to_sql(plan(parse(text)))
    except QuerySyntaxError as e:
        assert e.offset <= len(text)


LINES = st.lists(
    st.builds(
        lambda w, n: f"{w} id={n} took {n % 7}ms",
        st.sampled_from(["GET /a", "POST /b", "ERROR db", "retry"]),
        st.integers(0, 10_000),
    )
    | st.text(alphabet="ab 12", max_size=12),
    max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(LINES, st.randoms())
def test_pattern_properties(lines: list[str], rnd) -> None:
    clusters = cluster(lines)
    nonempty = [x for x in lines if x]
    # counts add up to the input, and every line fits exactly the template it was counted in
    assert sum(c.count for c in clusters) == len(nonempty)
    for line in nonempty:
        assert any(matches(c.pattern, line) for c in clusters)
    # stable: the same lines in another order give the same templates and counts
    shuffled = list(lines)
    rnd.shuffle(shuffled)
    assert [(c.pattern, c.count) for c in cluster(shuffled)] == [
        (c.pattern, c.count) for c in clusters
    ]
    if nonempty:
        assert abs(sum(c.ratio for c in clusters) - 1.0) < 1e-9


@settings(max_examples=4, deadline=None)
@given(
    st.lists(st.lists(st.integers(-1000, 1000), min_size=1, max_size=40), min_size=1, max_size=30),
    st.sampled_from([0, 1, 10, 25, 50, 90, 95, 99, 99.9, 100]),
)
def test_pct_agrees_with_the_project_percentile(groups: list[list[int]], p: float) -> None:
    import json
    import tempfile
    from pathlib import Path

    from fdscope.insights import execute
    from fdscope.metrics import percentile

    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "e.jsonl"
        f.write_text(
            "".join(
                json.dumps({"timestamp": 1, "message": json.dumps({"g": g, "v": v})}) + "\n"
                for g, values in enumerate(groups)
                for v in values
            )
        )
        rows = execute(f"stats pct(v, {p}) as x by g", [f]).rows
    got = {int(r["g"]): float(r["x"]) for r in rows}
    assert got == {g: percentile(values, p) for g, values in enumerate(groups)}
