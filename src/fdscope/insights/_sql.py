"""Stage 5: SQL for DuckDB. The dialect's spellings are class attributes; ``to_sql`` joins a plan.

Every user value reaches SQL through :func:`sql_string` (a standard SQL string
literal: quotes doubled, nothing else special in DuckDB's standard strings) or
:func:`sql_number` (a float rendered by Python), and every name through
:func:`sql_ident`; no text of the query is pasted into SQL unescaped.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fdscope.insights._plan import Plan


# placeholders for the previous step and a pattern table: NUL never survives sql_string or
# sql_ident, so no user text can spell them
PREV = "\x00prev\x00"
PATTERN = "\x00pattern\x00"


def sql_string(value: str) -> str:
    """A SQL string literal DuckDB reads back as exactly ``value``."""
    if "\0" in value:
        value = value.replace("\0", "")
    return "'" + value.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace("\0", "").replace('"', '""') + '"'


def sql_number(value: float) -> str:
    """A numeric literal; non-finite values become NULL."""
    if not math.isfinite(value):
        return "NULL"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class DuckDB:
    """DuckDB spellings; another backend overrides these attributes, not the planner."""

    NAME = "duckdb"
    TO_NUMBER = "TRY_CAST({0} AS DOUBLE)"
    TO_INT = "CAST({0} AS BIGINT)"
    TRY_INT = "TRY_CAST({0} AS BIGINT)"
    NUM_TEXT = "_fd_num_text({0})"
    TS_TEXT = "_fd_ts_text({0})"
    JSON_TEXT = "json_extract_string({0}, '$')"  # a JSON string as its bare text
    BOOL_TEXT = "CASE WHEN {0} THEN 'true' WHEN NOT {0} THEN 'false' END"
    CONTAINS = "contains({0}, {1})"
    REGEX_SEARCH = "regexp_matches({0}, {1})"
    REGEX_EXTRACT = "regexp_extract({0}, {1}, {2})"
    NATURAL_KEY = "_fd_natkey({0})"
    IS_NUMBER = "_fd_is_number({0})"
    JSON_GET = "json_extract_string({0}, {1})"
    # a field of the event's JSON: CloudWatch discovers at most 200 of them (fewer than 199
    # commas means at most 200 leaves, so the Python check runs only for big documents)
    EVENT_JSON_GET = (
        "CASE WHEN {0} IS NOT NULL AND (length(CAST({0} AS VARCHAR)) - length(replace(CAST({0} AS VARCHAR), ',', '')) < 199 "
        "OR _fd_json_discovered(CAST({0} AS VARCHAR), {1})) THEN json_extract_string({0}, {1}) END"
    )
    MAX_JSON_FIELDS = 200
    JSON_PARSE = "CASE WHEN json_valid({0}) THEN CAST({0} AS JSON) END"
    JSON_FRAGMENT = "_fd_json_fragment({0})"
    # AWS "unnest": a list gives one row per item; a map, string or number is a list of one
    UNNEST_JSON = (
        "unnest(CASE WHEN json_type({0}) = 'ARRAY' THEN CAST({0} AS JSON[]) "
        "WHEN {0} IS NOT NULL THEN [CAST({0} AS JSON)] END)"
    )
    PERCENTILE = "quantile_disc({0}, {1})"
    STDDEV = "stddev_samp({0})"
    ARG_MIN = "arg_min({0}, {1})"
    ARG_MAX = "arg_max({0}, {1})"
    DIVIDE = "({0} / NULLIF({1}, 0))"
    MODULO = "fmod({0}, NULLIF({1}, 0))"
    POWER = "power({0}, {1})"
    FLOOR_TO = "(({0} // {1}) * {1})"
    CEIL_TO = "((({0} + {1} - 1) // {1}) * {1})"
    CALENDAR_FLOOR = (
        "CASE WHEN abs({0}) < 9e15 THEN epoch_ms(date_trunc({1}, make_timestamp({0} * 1000))) END"
    )
    CALENDAR_UNIT = {-1: "month", -3: "quarter", -12: "year"}
    NOW_SECONDS = "CAST(epoch(get_current_timestamp()) AS BIGINT)"
    IP_VALID = "_fd_ip_valid({0}, {1})"
    IP_IN_SUBNET = "_fd_ip_in_subnet({0}, {1}, {2})"
    SIMPLE_FUNCTIONS = {
        "abs": "abs",
        "ceil": "ceil",
        "floor": "floor",
        "log": "ln",
        "sqrt": "sqrt",
        "greatest": "greatest",
        "least": "least",
        "toupper": "upper",
        "tolower": "lower",
        "strlen": "length",
        "ltrim": "ltrim",
        "rtrim": "rtrim",
        "trim": "trim",
        "replace": "replace",
        "concat": "concat",
    }
    # macros created once per connection, before the configuration is locked
    PRELUDE = (
        "CREATE OR REPLACE TEMP MACRO _fd_num_text(x) AS CASE WHEN x IS NULL THEN NULL "
        "WHEN isfinite(x) AND x = trunc(x) AND abs(x) < 1e15 THEN CAST(CAST(x AS BIGINT) AS VARCHAR) "
        "ELSE CAST(CAST(x AS DOUBLE) AS VARCHAR) END",
        # a time out of DuckDB's range (fromMillis(99999999999999999)) is absent, not an error
        "CREATE OR REPLACE TEMP MACRO _fd_ts_text(ms) AS CASE WHEN abs(ms) < 9e15 THEN "
        "strftime(make_timestamp(CAST(ms AS BIGINT) * 1000), '%Y-%m-%d %H:%M:%S.%g') END",
        # AWS's natural sort: digit runs compare by length, then value (a 3-digit length
        # prefix does both); other runs by code point
        "CREATE OR REPLACE TEMP MACRO _fd_natkey(x) AS array_to_string(list_transform("
        "regexp_extract_all(x, '[0-9]+|[^0-9]+'), lambda s: CASE WHEN regexp_full_match(s, '[0-9]+') "
        "THEN lpad(CAST(length(s) AS VARCHAR), 3, '0') || s ELSE s END), '')",
        "CREATE OR REPLACE TEMP MACRO _fd_is_number(x) AS "
        "regexp_full_match(x, '[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?')",
        "CREATE OR REPLACE TEMP MACRO _fd_json_fragment(m) AS CASE "
        "WHEN m IS NULL OR strpos(m, '{') = 0 THEN NULL "
        "WHEN json_valid(substr(m, strpos(m, '{'))) THEN CAST(substr(m, strpos(m, '{')) AS JSON) "
        "WHEN json_valid(substr(m, strpos(m, '{'), length(m) - strpos(reverse(m), '}') - strpos(m, '{') + 2)) "
        "THEN CAST(substr(m, strpos(m, '{'), length(m) - strpos(reverse(m), '}') - strpos(m, '{') + 2) AS JSON) END",
    )


def cte_name(index: int) -> str:
    return f"s{index}"


def to_sql(plan: Plan, *, upto: int | None = None, select: str | None = None) -> str:
    """The plan as one DuckDB statement (a WITH chain ending in the output SELECT).

    ``upto``/``select``: stop after step ``upto`` and run ``select`` over it
    (the engine uses this to feed a ``pattern`` step).
    """
    steps = plan.steps if upto is None else plan.steps[: upto + 1]
    ctes = []
    for i, step in enumerate(steps):
        body = step.sql.replace(PREV, cte_name(i - 1) if i else "events")
        body = body.replace(PATTERN, f"__pattern{i}")
        mat = "MATERIALIZED " if step.materialized else ""
        ctes.append(f"{cte_name(i)} AS {mat}(\n  {body}\n)")
    last = cte_name(len(steps) - 1)
    tail = (select or plan.output_sql).replace(PREV, last)
    return "WITH " + ",\n".join(ctes) + "\n" + tail
