"""The steps the engine computes in Python between SQL stages: diff/logcompare (pattern counts
in two windows), relevantfields (scores), and the lookup tables read from CSV or JSON files."""

from __future__ import annotations

import csv
import json
import os
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from fdscope.errors import QueryError
from fdscope.insights._pattern import cluster, matches
from fdscope.insights._sql import sql_ident, to_sql


def read_lookup(path: str | os.PathLike[str]) -> tuple[list[str], list[list[str | None]]]:
    """A lookup table: a CSV file with a header row, or JSON (a list of objects, or JSON
    lines of objects). Values are text; returns (columns, rows)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise QueryError(f"cannot read the lookup table {p}: {exc.strerror}") from None
    if p.suffix.lower() in (".json", ".jsonl", ".ndjson"):
        try:
            data = json.loads(text)
            objs = data if isinstance(data, list) else [data]
        except ValueError:
            try:
                objs = [json.loads(line) for line in text.splitlines() if line.strip()]
            except ValueError as exc:
                raise QueryError(f"the lookup table {p} is not JSON: {exc}") from None
        if not all(isinstance(o, dict) for o in objs):
            raise QueryError(f"the lookup table {p} must hold JSON objects (one per row)")
        cols: list[str] = []
        for o in objs:
            cols += [str(k) for k in o if str(k) not in cols]

        def cell(v: Any) -> str | None:
            if v is None:
                return None
            return v if isinstance(v, str) else json.dumps(v)

        return cols, [[cell(o.get(c)) for c in cols] for o in objs]
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise QueryError(f"the lookup table {p} is empty (a header row is needed)")
    cols = [c.strip() for c in rows[0]]
    return cols, [[(r[i] if i < len(r) else None) for i in range(len(cols))] for r in rows[1:]]


def create_lookups(con: Any, tables: dict[str, tuple[list[str], list[list[str | None]]]]) -> None:
    """The lookup tables as ``__lookup<i>`` (in the order of ``tables``), ``_rn`` = file row."""
    for i, (cols, rows) in enumerate(tables.values()):
        defs = ", ".join(f"{sql_ident(c)} VARCHAR" for c in cols)
        con.execute(f"CREATE OR REPLACE TEMP TABLE __lookup{i} (_rn BIGINT, {defs})")
        if rows:
            marks = ", ".join("?" for _ in range(len(cols) + 1))
            con.executemany(
                f"INSERT INTO __lookup{i} VALUES ({marks})", [[n, *r] for n, r in enumerate(rows)]
            )


def compare_table(con: Any, p: Any, i: int) -> None:
    """diff / logcompare: cluster the @message values of both windows together, then count
    each pattern in the window and in the baseline window."""
    step = p.steps[i]
    lo, hi, blo, bhi = step.extra
    rows = con.execute(
        to_sql(p, upto=i - 1, select=f"SELECT ts, {step.pattern_source} FROM \x00prev\x00")
    ).fetchall()
    lines = [m for _, m in rows if m]
    clusters = cluster(lines)
    cur: Counter[str] = Counter()
    prev: Counter[str] = Counter()
    memo: dict[str, str] = {}
    for ts, m in rows:
        if not m:
            continue
        pat = memo.get(m)
        if pat is None:
            pat = next((c.pattern for c in clusters if matches(c.pattern, m)), m)
            memo[m] = pat
        if lo <= ts <= hi:
            cur[pat] += 1
        elif blo <= ts <= bhi:
            prev[pat] += 1
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __pattern{i} (pattern VARCHAR, cur BIGINT, prev BIGINT, "
        "change BIGINT, is_new BOOLEAN, samples VARCHAR)"
    )
    data = [
        (
            c.pattern,
            cur[c.pattern],
            prev[c.pattern],
            cur[c.pattern] - prev[c.pattern],
            cur[c.pattern] > 0 and prev[c.pattern] == 0,
            json.dumps(list(c.samples)),
        )
        for c in clusters
        if cur[c.pattern] or prev[c.pattern]
    ]
    if data:
        con.executemany(f"INSERT INTO __pattern{i} VALUES (?, ?, ?, ?, ?, ?)", data)


def _flatten(doc: Any, prefix: str, out: dict[str, str], limit: int = 200) -> None:
    if len(out) >= limit:
        return
    if isinstance(doc, dict):
        for k, v in doc.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out, limit)
    elif isinstance(doc, list):
        for n, v in enumerate(doc):
            _flatten(v, f"{prefix}.{n}", out, limit)
    elif prefix:
        out[prefix] = doc if isinstance(doc, str) else json.dumps(doc)


def _number(x: str) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def _ks(a: list[float], b: list[float]) -> float:
    """The Kolmogorov-Smirnov distance of two samples (0: same distribution, 1: apart)."""
    a, b = sorted(a), sorted(b)
    i = j = 0
    d = 0.0
    while i < len(a) and j < len(b):
        x = min(a[i], b[j])
        while i < len(a) and a[i] <= x:
            i += 1
        while j < len(b) and b[j] <= x:
            j += 1
        d = max(d, abs(i / len(a) - j / len(b)))
    return d


def relevant_table(con: Any, p: Any, i: int) -> None:
    """relevantfields: each field's relevance to the condition, comparing the events that
    meet it with those that do not."""
    step = p.steps[i]
    named, sel, skip, created = step.extra
    cols = f"{step.pattern_source}" + (f", {sel}" if sel else "")
    if not named:
        cols += ", msg, CAST(j AS VARCHAR)"
    rows = con.execute(to_sql(p, upto=i - 1, select=f"SELECT {cols} FROM \x00prev\x00")).fetchall()
    values: dict[str, tuple[list[str], list[str]]] = {}
    for r in rows:
        hit = bool(r[0])
        if named:
            fields = {n: v for n, v in zip(named, r[1:], strict=False) if v is not None}
        else:
            fields = {}
            if r[2]:
                try:
                    _flatten(json.loads(r[2]), "", fields)
                except ValueError:
                    pass
        for n, v in fields.items():
            if n in skip:
                continue
            pair = values.setdefault(n, ([], []))
            pair[0 if hit else 1].append(v)
    out: list[tuple[str, float, str | None, float | None, float | None]] = []
    for n, (cond, base) in values.items():
        if not cond or not base:
            out.append((n, 1.0 if cond else 0.0, None, None, None))  # only on one side
            continue
        cn = [x for x in (_number(v) for v in cond) if x is not None]
        bn = [x for x in (_number(v) for v in base) if x is not None]
        if len(cn) == len(cond) and len(bn) == len(base):
            out.append((n, _ks(cn, bn), None, statistics.median(cn), statistics.median(bn)))
            continue
        fc, fb = Counter(cond), Counter(base)
        shifts = {v: fc[v] / len(cond) - fb[v] / len(base) for v in set(fc) | set(fb)}
        tvd = sum(abs(x) for x in shifts.values()) / 2
        top = sorted(shifts.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:3]
        contrib = json.dumps({v: round(d, 4) for v, d in top})
        out.append((n, tvd, contrib, None, None))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __pattern{i} (field VARCHAR, score DOUBLE, "
        "contributors VARCHAR, cond_median DOUBLE, base_median DOUBLE)"
    )
    if out:
        con.executemany(f"INSERT INTO __pattern{i} VALUES (?, ?, ?, ?, ?)", out)


STEPS = {"compare": compare_table, "relevant": relevant_table}
