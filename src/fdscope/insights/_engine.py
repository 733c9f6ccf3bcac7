"""Running a plan on DuckDB: load, lock down, execute, render rows as CloudWatch does."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fdscope._extras import extra
from fdscope.errors import QueryError
from fdscope.insights import _ast as A
from fdscope.insights._analysis import STEPS, create_lookups, read_lookup
from fdscope.insights._errors import clip
from fdscope.insights._pattern import cluster
from fdscope.insights._plan import Plan, Planner, plan
from fdscope.insights._sql import DuckDB, to_sql


@dataclass(frozen=True)
class QueryResult:
    """Rows of a query: ``columns`` in order, each row a dict column -> text (None: absent).

    Values are rendered as CloudWatch Logs Insights renders them: text, numbers
    without a trailing ``.0``, times ``YYYY-MM-DD HH:MM:SS.mmm`` (UTC).
    """

    columns: list[str]
    rows: list[dict[str, str | None]]
    statistics: dict[str, Any] = field(default_factory=dict)


def render(value: Any) -> str | None:
    """One value as text, the way CloudWatch returns it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (float, Decimal)):
        f = float(value)
        if f != f or f in (float("inf"), float("-inf")):
            return None
        if f == int(f) and abs(f) < 1e15:
            return str(int(f))
        return repr(f)
    return str(value)


class _FastRejected(Exception):
    """A file read by DuckDB directly holds lines that are not events (read it in Python)."""


def _ip_valid(text: str | None, version: int) -> bool | None:
    if text is None:
        return None
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    return version in (0, ip.version)


def _ip_in_subnet(text: str | None, subnet: str | None, version: int) -> bool | None:
    if text is None or subnet is None:
        return None
    try:
        ip = ipaddress.ip_address(text.strip())
        net = ipaddress.ip_network(subnet.strip(), strict=False)
    except ValueError:
        return False
    if version and ip.version != version:
        return False
    return ip.version == net.version and ip in net


def _leaf_paths(doc: Any, prefix: str, out: list[str], limit: int) -> None:
    if len(out) >= limit:
        return
    if isinstance(doc, dict) and doc:
        for k, v in doc.items():
            key = '."' + str(k).replace("\\", "\\\\").replace('"', '\\"') + '"'
            _leaf_paths(v, prefix + key, out, limit)
    elif isinstance(doc, list) and doc:
        for i, v in enumerate(doc):
            _leaf_paths(v, f"{prefix}[{i}]", out, limit)
    else:
        out.append(prefix)


def _json_discovered(text: str | None, path: str | None) -> bool | None:
    """True when ``path`` is (or leads to) one of the first 200 fields of the JSON ``text``."""
    import json

    if text is None or path is None:
        return None
    try:
        doc = json.loads(text)
        leaves: list[str] = []
        _leaf_paths(doc, "$", leaves, DuckDB.MAX_JSON_FIELDS)
    except (ValueError, RecursionError):
        return False
    return any(
        leaf == path or leaf.startswith(path + ".") or leaf.startswith(path + "[")
        for leaf in leaves
    )


def connect() -> Any:
    """A fresh in-memory DuckDB connection with fdscope's macros and functions."""
    with extra("query", "running a query on local logs"):
        import duckdb

    con = duckdb.connect(":memory:", config={"threads": max(1, min(os.cpu_count() or 1, 4))})
    con.execute("SET enable_progress_bar = false")
    for stmt in DuckDB.PRELUDE:
        con.execute(stmt)
    with extra("query", "running a query on local logs"):
        from duckdb.sqltypes import BOOLEAN, INTEGER, VARCHAR

    udfs = (
        ("_fd_ip_valid", _ip_valid, [VARCHAR, INTEGER]),
        ("_fd_json_discovered", _json_discovered, [VARCHAR, VARCHAR]),
        ("_fd_ip_in_subnet", _ip_in_subnet, [VARCHAR, VARCHAR, INTEGER]),
    )
    for name, fn, params in udfs:
        create: Any = con.create_function
        create(name, fn, params, BOOLEAN, null_handling="special")
    from fdscope.insights._udf import register

    register(con)
    return con


def lock_down(con: Any, allowed: list[str]) -> None:
    """Only the named input files stay readable; then the configuration is locked."""
    from fdscope.insights._sql import sql_string

    con.execute(f"SET allowed_paths = [{', '.join(sql_string(p) for p in allowed)}]")
    con.execute("SET allowed_directories = []")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")


def run_plan(con: Any, p: Plan) -> QueryResult:
    """Execute a plan over the ``events`` view of ``con``."""
    with extra("query", "running a query on local logs"):
        import duckdb

    try:
        for i, step in enumerate(p.steps):
            if step.kind in STEPS:
                STEPS[step.kind](con, p, i)
                continue
            if step.kind != "pattern":
                continue
            src = step.pattern_source
            values = [
                r[0]
                for r in con.execute(
                    to_sql(p, upto=i - 1, select=f"SELECT {src} FROM \x00prev\x00")
                ).fetchall()
            ]
            clusters = cluster(values)
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE __pattern{i} (pattern VARCHAR, ratio DOUBLE, sample_count BIGINT, "
                "severity VARCHAR, tokens VARCHAR, samples VARCHAR)"
            )
            if clusters:
                import json

                con.executemany(
                    f"INSERT INTO __pattern{i} VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (
                            c.pattern,
                            c.ratio,
                            c.count,
                            c.severity,
                            json.dumps(list(c.tokens)),
                            json.dumps(list(c.samples)),
                        )
                        for c in clusters
                    ],
                )
        cur = con.execute(to_sql(p))
        raw = cur.fetchall()
    except duckdb.Error as exc:
        msg = str(exc).splitlines()[0]
        from fdscope.insights._loader import fast_rejected

        if fast_rejected(msg):
            raise _FastRejected(msg) from None
        where = _failing_step(con, p)
        raise QueryError(f"the query failed in DuckDB{where}: {clip(msg)}") from None
    cols = list(p.columns)
    rows = [{c: render(v) for c, v in zip(cols, r, strict=False)} for r in raw]
    return QueryResult(cols, rows, {"recordsMatched": len(rows)})


def _failing_step(con: Any, p: Plan) -> str:
    """`` at step N (kind: detail)``: the first step of the plan whose SQL fails, or "".

    DuckDB's own errors point into the generated SQL, not the query: this names the
    command the user wrote. Runs only after a failure (each step's rows are hashed).
    """
    with extra("query", "running a query on local logs"):
        import duckdb

    for i, step in enumerate(p.steps):
        if step.kind in STEPS or step.kind == "pattern":
            continue
        try:
            con.execute(
                to_sql(p, upto=i, select="SELECT max(hash(r)) FROM \x00prev\x00 AS r")
            ).fetchall()
        except duckdb.Error:
            return f" at step {i + 1} of the plan ({step.kind}: {clip(step.detail, 120)})"
        except Exception:  # noqa: BLE001 - a plan that cannot be cut there: no position
            return ""
    return ""


def execute(
    query: str | A.Query,
    sources: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    start: int | None = None,
    end: int | None = None,
    log_group: str | None = None,
    default_limit: int | None = Planner.DEFAULT_LIMIT,
    named: Mapping[str, Sequence[str | os.PathLike[str]]] | None = None,
    lookups: Mapping[str, str | os.PathLike[str]] | None = None,
) -> QueryResult:
    """Run a Logs Insights query over log files; returns a QueryResult.

    ``sources``: files, ``.gz``, directories or run directories (FORMATS.md
    section 1). ``start``/``end``: ms since the epoch (inclusive) or None.
    ``named``: inputs by name (``--source NAME=PATH``), what ``SOURCE`` and ``join``
    read; ``lookups``: lookup tables by name (CSV or JSON files), for ``lookup``.
    Raises QuerySyntaxError for a malformed query, QueryError when it cannot
    run, LogReadError when a source cannot be read.
    """
    from fdscope.insights._loader import load

    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    tables = {name: read_lookup(path) for name, path in (lookups or {}).items()}
    p = plan(
        query,
        default_limit=default_limit,
        window=(start, end),
        lookups={name: cols for name, (cols, _) in tables.items()},
        # with named inputs too, a query without SOURCE reads the positional ones
        default_source="src = ''" if named and list(sources) else "",
    )
    lo, hi = (None, None) if p.needs_history else (start, end)
    named_lists = {k: list(v) for k, v in (named or {}).items()}
    for fast in (True, False):
        con = connect()
        try:
            info = load(
                con,
                list(sources),
                start=lo,
                end=hi,
                log_group=log_group,
                fast=fast,
                named=named_lists,
            )
            create_lookups(con, tables)
            lock_down(con, info.fast_files)
            result = run_plan(con, p)
        except _FastRejected:
            if not fast:  # pragma: no cover - no file is fast-read then
                raise QueryError("the query failed in DuckDB: a file changed while read") from None
            continue  # a JSON-lines file holds lines that are not events: read it in Python
        finally:
            con.close()
        st = info.read_stats
        if st.malformed:
            result.statistics["skipped"] = dict(sorted(st.malformed.items()))
        if st.by_file:
            result.statistics["skippedFiles"] = st.summary().get("files", {})
        if st.stopped:
            result.statistics["stopped"] = dict(st.stopped)
        if st.bad_utf8:
            result.statistics["badUtf8"] = st.bad_utf8
        if p.notes:
            result.statistics["notes"] = list(p.notes)
        return result
    raise AssertionError("unreachable")  # pragma: no cover
