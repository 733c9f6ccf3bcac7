"""The bulk path: statistics per period straight from EMF files through DuckDB.

For files too large for the standard-library parser: each line a JSON object,
either an EMF record (as the monitor prints it) or a log event whose
``message`` holds one (``events.jsonl`` of a run, CloudWatch export lines,
``logs pull``), also after a Lambda text prefix (``<time>\t<request id>\tINFO\t{...}``);
other lines are skipped.  Each record counts once (not once per dimension
set); arrays are samples, ``{"Values", "Counts"}`` weighted samples.  Same
statistics, same percentile definition as :func:`fdscope.metrics.aggregate`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from fdscope._extras import extra
from fdscope.emf import (
    MAX_MS,
    MIN_MS,
    SECONDS_HIGH,
    SECONDS_LOW,
    TS_OUT_OF_RANGE,
    TS_SECONDS,
)
from fdscope.errors import MetricsError
from fdscope.metrics._series import Bucket, check_period
from fdscope.metrics._stats import Statistic, compute, parse_statistic

_SUFFIXES = {".jsonl", ".json", ".log", ".txt", ".gz", ".ndjson"}


def _files(sources: Sequence[str | Path]) -> list[str]:
    out = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            out += sorted(
                str(f)
                for f in p.rglob("*")
                if f.is_file() and f.suffix in _SUFFIXES and not f.name.startswith(".")
            )
        elif p.is_file():
            out.append(str(p))
        else:
            raise MetricsError(f"no such file or directory: {p}")
    if not out:
        raise MetricsError("no EMF files to read")
    return out


def _bare_emf(path: str) -> bool:
    """True when the file's first non-blank line is an EMF record itself (not a log event)."""
    import gzip

    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    doc = json.loads(line)
                    return isinstance(doc, dict) and isinstance(doc.get("_aws"), dict)
    except (OSError, ValueError):
        return False
    return False


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def bulk_aggregate(  # noqa: C901
    sources: Sequence[str | Path],
    metric: str,
    period: int,
    statistics: Sequence[str | Statistic],
    *,
    namespace: str | None = None,
    dimensions: Mapping[str, str] | None = None,
    start: int | None = None,
    end: int | None = None,
    threads: int | None = None,
    skipped: Counter[str] | None = None,
) -> list[Bucket]:
    """Statistics of ``metric`` per ``period`` s over EMF JSON-lines files, through DuckDB.

    Returns Buckets like :func:`fdscope.metrics.aggregate`.  Raises MetricsError
    when DuckDB is missing, a source does not exist, or DuckDB fails.  Values whose
    ``_aws.Timestamp`` is outside the years 1-9999 or in seconds (not ms) are left out and
    counted in ``skipped`` (by reason, as :class:`fdscope.emf.ParseStats` names them).  A line
    of any size is read (DuckDB's object size is raised to the largest file).
    """
    check_period(period)
    stats = [parse_statistic(s) if isinstance(s, str) else s for s in statistics]
    with extra("query", "the bulk path"):
        import duckdb
    files = _files(sources)
    # a line may be as long as its file (16 MB by default in DuckDB: a bigger one failed)
    longest = max((Path(f).stat().st_size for f in files), default=0) + 1
    max_object = min(max(longest, 16 << 20), 1 << 30)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    bare = all(_bare_emf(f) for f in files)
    where = ["m IS NOT NULL", "ts IS NOT NULL"]
    params: list[object] = [files]
    if bare:
        # typed read: DuckDB parses only the members it needs
        columns = {
            "_aws": 'STRUCT("Timestamp" BIGINT, "CloudWatchMetrics" JSON)',
            metric: "{mtype}",
        }
        for k in dimensions or {}:
            columns.setdefault(k, "VARCHAR")
        col_sql = ", ".join(f"{_sql_str(k)}: {_sql_str(v)}" for k, v in columns.items())
        source = f"""
            SELECT _aws."Timestamp" AS ts, {_ident(metric)} AS m, _aws."CloudWatchMetrics" AS cwm
                {"".join(f", {_ident(k)} AS {_ident('d_' + k)}" for k in sorted(dimensions or {}))}
            FROM read_json(?, format = 'newline_delimited', columns = {{{col_sql}}},
                           ignore_errors = {{ignore}}, maximum_object_size = {max_object})"""
        if namespace is not None:
            where.append("list_contains(json_extract_string(cwm, '$[*].Namespace'), ?)")
            params.append(namespace)
        for k, v in sorted((dimensions or {}).items()):
            where.append(f"{_ident('d_' + k)} = ?")
            params.append(v)
    else:
        source = """
            SELECT TRY_CAST(j ->> '$._aws.Timestamp' AS BIGINT) AS ts, j -> ? AS m, j FROM (
                SELECT CASE WHEN json_exists(json, '$._aws') THEN json
                            -- Lambda may prepend time, request id and level to the document
                            -- (Node console.log, Python logging): read from the first '{',
                            -- as fdscope.emf.parse_message does
                            ELSE TRY_CAST(substr(msg, strpos(msg, '{')) AS JSON) END AS j
                FROM (SELECT json, json ->> '$.message' AS msg
                      FROM read_json_objects(?, format = 'newline_delimited', ignore_errors = true,
                                             maximum_object_size = MAX_OBJECT))
            ) WHERE j IS NOT NULL""".replace("MAX_OBJECT", str(max_object))
        params = ["$." + json.dumps(metric), files]
        if namespace is not None:
            where.append(
                "list_contains(json_extract_string(j, '$._aws.CloudWatchMetrics[*].Namespace'), ?)"
            )
            params.append(namespace)
        for k, v in sorted((dimensions or {}).items()):
            where.append("j->>? = ?")
            params += ["$." + json.dumps(k), v]
    if start is not None:
        where.append(f"ts >= {int(start)}")
    if end is not None:
        where.append(f"ts < {int(end)}")
    p_ms = period * 1000
    simple = {"SampleCount", "Sum", "Average", "Minimum", "Maximum", "p"}
    need_lists = any(s.kind not in simple for s in stats)
    sel = ["sum(c) AS n", "sum(v * c) AS s", "min(v) AS lo", "max(v) AS hi", "max(c) AS cmax"]
    pcts = sorted({s.p for s in stats if s.kind == "p" and s.p is not None})
    for i, p in enumerate(pcts):
        sel.append(f"quantile_disc(v, {float(p) / 100!r}) AS q{i}")
    json_samples = f"""
        picked AS MATERIALIZED (
            SELECT ts, m, json_type(m) AS t FROM recs WHERE {" AND ".join(where)}
        ),
        samples AS (
            SELECT ts, unnest(CAST(m AS DOUBLE[])) AS v, CAST(1 AS DOUBLE) AS c FROM picked WHERE t = 'ARRAY'
            UNION ALL
            SELECT ts, CAST(m AS DOUBLE) AS v, CAST(1 AS DOUBLE) AS c FROM picked
                WHERE t IN ('DOUBLE', 'BIGINT', 'UBIGINT')
            UNION ALL
            SELECT ts, unnest(CAST(m -> 'Values' AS DOUBLE[])) AS v,
                       unnest(CAST(m -> 'Counts' AS DOUBLE[])) AS c
                FROM picked WHERE t = 'OBJECT'
        )"""
    array_samples = f"""
        samples AS (
            SELECT ts, unnest(m) AS v, CAST(1 AS DOUBLE) AS c FROM recs WHERE {" AND ".join(where)}
        )"""
    # out-of-range and seconds-not-ms times go to two marker buckets, counted then dropped
    # (a real bucket is a multiple of 1000)
    tail = f"""
        SELECT CASE WHEN ts > {MAX_MS} OR ts < {MIN_MS} THEN -1
                    WHEN ts >= {SECONDS_LOW} AND ts < {SECONDS_HIGH} THEN -2
                    ELSE ts - ts % {p_ms} END AS bucket, {{select}}
        FROM samples WHERE c > 0 GROUP BY bucket ORDER BY bucket
    """
    variants = []
    if bare:
        # fastest: every value an array; DuckDB raises on anything else, then the JSON path
        variants.append(
            "WITH recs AS ("
            + source.replace("{mtype}", "DOUBLE[]").replace("{ignore}", "false")
            + "),"
            + array_samples
            + tail
        )
        source = source.replace("{mtype}", "JSON").replace("{ignore}", "true")
    variants.append("WITH recs AS (" + source + ")," + json_samples + tail)

    def run(select: list[str]) -> tuple[list[str], list[tuple]]:
        while True:
            try:
                cur = con.execute(variants[0].replace("{select}", ", ".join(select)), params)
                return [d[0] for d in cur.description], cur.fetchall()
            except duckdb.Error as exc:
                if len(variants) == 1:
                    raise MetricsError(f"bulk read failed: {exc}")
                variants.pop(0)  # the typed fast path does not fit these files

    cols, rows = run(sel)
    if need_lists or (pcts and any(r[cols.index("cmax")] != 1.0 for r in rows)):
        # the trimmed family and weighted percentiles: exact, in Python, over each bucket
        lcols, lrows = run(["list(v) AS vs", "list(c) AS cs"])
        assert [r[0] for r in lrows] == [r[0] for r in rows]
        cols = cols + lcols[1:]
        rows = [a + b[1:] for a, b in zip(rows, lrows, strict=True)]
    out = []
    for row in rows:
        r = dict(zip(cols, row, strict=True))
        if r["bucket"] in (-1, -2):
            if skipped is not None:
                skipped[TS_OUT_OF_RANGE if r["bucket"] == -1 else TS_SECONDS] += int(r["n"])
            continue
        unit_weights = r["cmax"] == 1.0
        values: dict[str, float | None] = {}
        for s in stats:
            k = s.kind
            if k == "SampleCount":
                values[s.name] = r["n"]
            elif k == "Sum":
                values[s.name] = r["s"]
            elif k == "Average":
                values[s.name] = r["s"] / r["n"]
            elif k == "Minimum":
                values[s.name] = r["lo"]
            elif k == "Maximum":
                values[s.name] = r["hi"]
            elif k == "p" and unit_weights and s.p is not None:
                values[s.name] = r[f"q{pcts.index(s.p)}"]
            else:  # weighted percentiles and the trimmed family: exact, in Python
                values[s.name] = compute(s, r["vs"], r["cs"])
        out.append(Bucket(int(r["bucket"]), float(r["n"]), values))
    con.close()
    return out
