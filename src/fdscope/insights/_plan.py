"""Stage 4: the plan. Resolves fields and types, and turns each command into a step.

A step is one SELECT over the previous step (a CTE in the final SQL). Types
follow CloudWatch's loose typing: a field read from a log is text, and text
that looks like a number compares and computes as a number.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

from fdscope.insights import _ast as A
from fdscope.insights._errors import QuerySyntaxError, closest
from fdscope.insights._functions import ANY, BOOL, JSON, NUM, STR, TS, lookup
from fdscope.insights._lexer import unit_ms
from fdscope.insights._parser import children
from fdscope.insights._sql import DuckDB, sql_ident, sql_number, sql_string

NULLT = "null"
_NUMERIC = (NUM, TS)
_NUM_RE = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")

# base columns of the ``events`` table
_BASE = {
    "@timestamp": ("ts", TS),
    "@message": ("msg", STR),
    "@logStream": ("stream", STR),
    "@log": ("grp", STR),
    "@ingestionTime": ("ingest", TS),
}
_REPORT = "starts_with(msg, 'REPORT RequestId: ')"


def _report_num(pattern: str, scale: str = "") -> str:
    return f"CASE WHEN {_REPORT} THEN TRY_CAST(regexp_extract(msg, {sql_string(pattern)}, 1) AS DOUBLE){scale} END"


_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# discovered fields of Lambda logs (AWS "Supported logs and discovered fields"), computed
# from @message only when a query names them
DISCOVERED: dict[str, tuple[str, str]] = {
    "@type": (
        "CASE WHEN starts_with(msg, 'REPORT RequestId: ') THEN 'REPORT' "
        "WHEN starts_with(msg, 'START RequestId: ') THEN 'START' "
        "WHEN starts_with(msg, 'END RequestId: ') THEN 'END' END",
        STR,
    ),
    "@requestId": (
        "CASE WHEN regexp_matches(msg, '^(START|END|REPORT) RequestId: ') "
        "THEN nullif(regexp_extract(msg, '^[A-Z]+ RequestId: ([^\\s]+)', 1), '') "
        "WHEN starts_with(msg, '[') THEN nullif(regexp_extract(msg, '^\\[[A-Z]+\\]\\t[^\\t]*\\t([^\\t]+)\\t', 1), '') "
        "WHEN starts_with(msg, '{') AND json_valid(msg) THEN json_extract_string(msg, '$.requestId') "
        "WHEN regexp_matches(msg, '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z\\t') "
        "THEN nullif(nullif(regexp_extract(msg, '^\\S+\\t([^\\t]+)\\t(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\\t', 1), ''), 'undefined') "
        f"ELSE nullif(regexp_extract(msg, '^\\S+ ({_UUID}) Task timed out', 1), '') END",
        STR,
    ),
    "@duration": (_report_num("\\tDuration: ([0-9.]+) ms"), NUM),
    "@billedDuration": (_report_num("Billed Duration: ([0-9.]+) ms"), NUM),
    "@memorySize": (_report_num("Memory Size: ([0-9]+) MB", " * 1000000"), NUM),
    "@maxMemoryUsed": (_report_num("Max Memory Used: ([0-9]+) MB", " * 1000000"), NUM),
    "@initDuration": (_report_num("Init Duration: ([0-9.]+) ms"), NUM),
    "@xrayTraceId": (
        f"CASE WHEN {_REPORT} THEN nullif(regexp_extract(msg, 'XRAY TraceId: ([^\\s]+)', 1), '') END",
        STR,
    ),
}


@dataclass(frozen=True)
class Column:
    id: str  # SQL column of the relation
    type: str


@dataclass(frozen=True)
class Step:
    """One stage of the plan: ``kind``, a one-line ``detail`` and its SELECT (a NUL-delimited placeholder stands for the input)."""

    kind: str
    detail: str
    sql: str
    pattern_source: str | None = None  # for kind "pattern": the column clustered
    extra: tuple = ()  # for kinds "compare" and "relevant": what the engine needs
    materialized: bool = False  # a MATERIALIZED CTE: its rows stay in insertion order


@dataclass(frozen=True)
class Plan:
    """The steps, the output columns (names, types) and the final SELECT."""

    query: A.Query
    steps: tuple[Step, ...]
    columns: tuple[str, ...]
    types: tuple[str, ...]
    output_sql: str
    dialect: type[DuckDB] = DuckDB
    notes: tuple[str, ...] = ()  # what runs differently locally, said once in the output
    needs_history: bool = False  # reads events outside the query's window (SOURCE start=, diff)
    select_sql: str = ""  # the output columns (``expr AS "name"``), for appendcols
    order_sql: str = ""  # `` ORDER BY …`` of the output, or ""
    limit: int | None = None

    def explain(self) -> str:
        """A readable listing of the steps."""
        lines = [f"{i}. {s.kind:<9} {s.detail}" for i, s in enumerate(self.steps)]
        lines.append(f"{len(self.steps)}. output    {', '.join(self.columns)}")
        return "\n".join(lines)


@dataclass(frozen=True)
class V:
    """A rendered expression: SQL text, type, and the Python value of a literal."""

    sql: str
    type: str
    lit: object = None


@dataclass
class _Scope:
    cols: dict[str, Column] = field(default_factory=dict)
    raw: bool = True  # events (not stats output): discovered and JSON fields resolvable


class Planner:
    """Turns a parsed Query into a Plan. ``dialect`` supplies the SQL spellings."""

    DEFAULT_LIMIT = 10_000  # CloudWatch returns at most this many rows when no limit is given
    DEFAULT_SORT_DESC = False  # "sort f" without asc/desc

    def __init__(
        self,
        query: A.Query,
        dialect: type[DuckDB] = DuckDB,
        *,
        default_limit: int | None = DEFAULT_LIMIT,
        window: tuple[int | None, int | None] = (None, None),
        lookups: dict[str, list[str]] | None = None,
        now_ms: int | None = None,
        default_source: str = "",
    ) -> None:
        import time

        self.q = query
        self.window = window
        self.lookups = lookups or {}
        self.now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        self.notes: list[str] = []
        self.needs_history = False
        self.source_cond = default_source  # the scan's SOURCE condition
        self.join: tuple[str, str] | None = None  # (left alias, right alias) after join
        self.d = dialect
        self.default_limit = default_limit
        self.steps: list[Step] = []
        self.scope = _Scope({name: Column(cid, t) for name, (cid, t) in _BASE.items()})
        self.discovered: dict[str, str] = {}
        self.need_json = False
        self.counter = 0
        self.display: list[str] = []
        self.explicit_display: list[str] | None = None
        self.field_parts: dict[str, tuple[str, ...]] = {}  # displayed name -> its segments
        self.stats_outputs: dict[object, str] = {}  # the last stats' expressions -> columns
        self.created: list[str] = []  # fields made by parse/unnest, shown by default
        self.order: list[str] = ["ts DESC NULLS LAST", "seq DESC"]
        self.default_order = True
        self.stats_done = False
        self.final_limit: int | None = None
        self.pattern_done = False
        self.numbered = False  # a ``seq`` column (file order) exists
        self.number_in_scan = False
        self.group_ids: list[str] = []  # the last stats' group columns
        self.bins: tuple[str, A.Literal, int, list[str]] | None = None  # stats … by bin()

    # ---- entry ------------------------------------------------------------------------
    def build(self) -> Plan:
        cmds = self.q.commands
        for i, cmd in enumerate(cmds):
            if i and isinstance(cmds[i - 1], A.Dedup) and not isinstance(cmd, A.Limit | A.Dedup):
                raise self.err("only limit can follow dedup", cmd)
            if i and isinstance(cmd, A.Source):
                raise self.err(
                    "SOURCE must be the first command", cmd, expected="'|' and a command"
                )
            self.final_limit = None
            self.command(cmd)
        return self.finish()

    def err(self, msg: str, node: A.Node | None, **kw: str | None) -> QuerySyntaxError:
        return QuerySyntaxError(msg, self.q.text, node.start if node else 0, **kw)  # type: ignore[arg-type]

    def new_id(self, prefix: str = "c") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def add(self, kind: str, detail: str, sql: str, **kw: object) -> None:
        self.steps.append(Step(kind, detail, sql, **kw))  # type: ignore[arg-type]

    # ---- commands ---------------------------------------------------------------------
    def command(self, cmd: A.Command) -> None:
        method = _COMMANDS.get(type(cmd).__name__)
        if method is None:  # pragma: no cover - the parser makes no other commands
            raise self.err(f"unsupported command {cmd.keyword}", cmd)
        getattr(self, method)(cmd)

    def cmd_filter(self, cmd: A.Filter) -> None:
        if cmd.index:
            self.note(
                "filterIndex runs as filter locally (a field index only narrows what "
                "CloudWatch scans; local files have none)"
            )
        cond = self.truth(self.expr(cmd.condition))
        self.add("filter", self.src(cmd.condition), f"SELECT * FROM \x00prev\x00 WHERE {cond}")

    def cmd_limit(self, cmd: A.Limit) -> None:
        self.add(
            "limit",
            f"{'any ' if cmd.any else ''}{cmd.count} rows",
            f"SELECT * FROM \x00prev\x00{self.order_by()} LIMIT {cmd.count}",
        )
        self.final_limit = cmd.count

    def cmd_unmask(self, cmd: A.Unmask) -> None:
        if cmd.source is not None:
            self.expr(cmd.source)  # resolves (and checks) the field; nothing is masked locally
        self.note("unmask: local files are not masked, so it changes nothing")

    def cmd_anomaly(self, cmd: A.Anomaly) -> None:
        raise self.err(
            "anomaly is not run locally: it scores patterns with CloudWatch's machine-learning "
            "models trained on the log group's history, which local files do not have "
            "(run it with --log-group)",
            cmd,
        )

    def cmd_cloud_only(
        self, cmd: A.CloudOnly
    ) -> None:  # pragma: no cover - the parser makes none now
        raise self.err(f"the {cmd.keyword} command has no local version", cmd)

    def cmd_fields(self, cmd: A.Fields) -> None:
        names: list[str] = []
        adds: list[tuple[str, V]] = []
        for item in cmd.items:
            v = self.expr(item.expr)
            name = item.name
            if not (isinstance(item.expr, A.Field) and item.alias is None):
                adds.append((name, v))
            else:  # `a.b` (one segment with a dot) is not a.b
                self.field_parts[name] = item.expr.parts
            names.append(name)
        self.project(adds, "fields")
        if cmd.display:
            self.explicit_display = names
        else:
            for n in names:
                if n not in self.display:
                    self.display.append(n)

    def project(self, adds: list[tuple[str, V]], kind: str, detail: str | None = None) -> None:
        if not adds:
            return
        parts = []
        for name, v in adds:
            cid = self.new_id()
            parts.append(f"{v.sql} AS {cid}")
            self.scope.cols[name] = Column(cid, v.type)
        self.add(
            kind,
            detail or ", ".join(n for n, _ in adds),
            f"SELECT *, {', '.join(parts)} FROM \x00prev\x00",
        )

    def cmd_parse(self, cmd: A.Parse) -> None:
        src = self.text(self.expr(cmd.source))
        pat = cmd.pattern
        if cmd.mode in ("logfmt", "csv") or pat is None:
            self.parse_fields(cmd, src)
            return
        if cmd.multi:  # one row per match (a row without a match stays, without the fields)
            rx = _re2(pat.value)
            _check_regex(self, rx, pat)
            mid = self.new_id("m")
            every = f"regexp_extract_all({src}, {sql_string('(' + rx + ')')}, 1)"
            self.add(
                "parse",
                f"{self.src(cmd.source)} every match of {pat.value!r}",
                f"SELECT *, unnest(CASE WHEN len({every}) = 0 THEN [NULL] ELSE {every} END) AS {mid} "
                "FROM \x00prev\x00",
            )
            src = mid
        if pat.kind == "str":
            regex, names = _glob_regex(pat.value), list(cmd.names)
            groups = list(range(1, len(names) + 1))
        else:
            regex = _re2(pat.value)
            named = re.findall(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>", regex)
            try:
                compiled = _py_regex(regex)
            except re.error as exc:
                raise self.err(f"invalid regular expression: {exc}", pat) from None
            if cmd.names:
                names = list(cmd.names)
                groups = list(range(1, len(names) + 1))
            else:
                names = named
                groups = [compiled.groupindex[n] for n in named]
        total = _py_regex(regex).groups
        labels = ["m"] + [f"g{g}" for g in range(1, total + 1)]
        hid = self.new_id("p")
        extract = self.d.REGEX_EXTRACT.format(
            src, sql_string("(" + regex + ")"), "[" + ", ".join(sql_string(x) for x in labels) + "]"
        )
        parts = []
        for name, g in zip(names, groups, strict=False):
            cid = self.new_id()
            parts.append(
                # [NULL, value][1 + matched]: no CASE, so DuckDB evaluates the regex once per row
                f"list_extract([NULL, struct_extract({hid}, 'g{g}')], "
                f"1 + CAST(struct_extract({hid}, 'm') <> '' AS INTEGER)) AS {cid}"
            )
            self.scope.cols[name] = Column(cid, STR)
            if name not in self.created:
                self.created.append(name)
        self.add(
            "parse",
            f"{self.src(cmd.source)} {pat.value!r} -> {', '.join(names)}",
            f"SELECT *, {extract} AS {hid} FROM \x00prev\x00",
        )
        self.add("project", ", ".join(names), f"SELECT *, {', '.join(parts)} FROM \x00prev\x00")

    def parse_fields(self, cmd: A.Parse, src: str) -> None:
        """parse … logfmt as m (a map of the pairs) and parse … csv as a, b, c."""
        cid = self.new_id()
        if cmd.mode == "logfmt":
            name = cmd.names[0]
            self.add(
                "parse",
                f"{self.src(cmd.source)} logfmt -> {name}",
                f"SELECT *, CAST(_fd_logfmt({src}) AS JSON) AS {cid} FROM \x00prev\x00",
            )
            self.scope.cols[name] = Column(cid, JSON)
            if name not in self.created:
                self.created.append(name)
            return
        parts = []
        for i, name in enumerate(cmd.names):
            col = self.new_id()
            parts.append(f"list_extract({cid}, {i + 1}) AS {col}")
            self.scope.cols[name] = Column(col, STR)
            if name not in self.created:
                self.created.append(name)
        self.add(
            "parse",
            f"{self.src(cmd.source)} csv -> {', '.join(cmd.names)}",
            f"SELECT *, _fd_csv({src}) AS {cid} FROM \x00prev\x00",
        )
        self.add("project", ", ".join(cmd.names), f"SELECT *, {', '.join(parts)} FROM \x00prev\x00")

    def cmd_json_field(self, cmd: A.JsonField) -> None:
        """json field=f "a.b" as x: the key a.b of the JSON text (or map) in f."""
        v = self.expr(cmd.source)
        path = sql_string(_json_path(tuple(cmd.path.split("."))))
        if v.type == JSON:
            sql = self.d.JSON_GET.format(v.sql, path)
        else:
            t = self.text(v)
            sql = f"CASE WHEN json_valid({t}) THEN json_extract_string({t}, {path}) END"
        self.project(
            [(cmd.alias, V(sql, STR))],
            "json",
            f"{self.src(cmd.source)} {cmd.path!r} -> {cmd.alias}",
        )
        if cmd.alias not in self.created:
            self.created.append(cmd.alias)

    def cmd_expand(self, cmd: A.Expand) -> None:
        """expand f: one row per item of the JSON array in f, in place of f (AWS "expand")."""
        v = self.expr(cmd.field)
        if v.type == JSON:
            src = v.sql
        else:
            t = self.text(v)
            src = f"coalesce({self.d.JSON_PARSE.format(t)}, to_json({t}))"
        cid = self.new_id()
        # an event without the field stays (one row, the field absent); an empty array: no row
        self.add(
            "expand",
            self.src(cmd.field),
            f"SELECT *, unnest(CASE WHEN {src} IS NULL THEN [NULL::JSON] "
            f"WHEN json_type({src}) = 'ARRAY' THEN CAST({src} AS JSON[]) ELSE [{src}] END) AS {cid} "
            "FROM \x00prev\x00",
        )
        name = cmd.field.name
        self.scope.cols[name] = Column(cid, JSON)
        self.field_parts.pop(name, None)

    def cmd_addtotals(self, cmd: A.AddTotals) -> None:
        """Row totals (a column summing the numeric values of the fields) and, with col=true,
        a summary row after the others (each field's column sum)."""
        if cmd.fields:
            names = [f.name for f in cmd.fields]
            for f in cmd.fields:
                self.expr(f)  # checks the field exists
        else:
            shown = self.explicit_display or self.display
            names = [n for n in shown if n != cmd.fieldname]
        vals = {
            n: self.field(A.Field(0, 0, self.field_parts.get(n) or tuple(n.split("."))), name=n)
            for n in names
        }
        nums = {
            n: (v.sql if v.type == NUM else self.d.TO_NUMBER.format(self.text(v)))
            for n, v in vals.items()
            if v.type != TS
        }
        if cmd.row:
            total = " + ".join(f"coalesce({x}, 0)" for x in nums.values()) or "NULL"
            present = " OR ".join(f"{x} IS NOT NULL" for x in nums.values()) or "FALSE"
            self.project(
                [(cmd.fieldname, V(f"CASE WHEN {present} THEN {total} END", NUM))],
                "addtotals",
                f"{cmd.fieldname} = " + " + ".join(nums),
            )
            if (
                cmd.fieldname not in self.display
                and not self.stats_done
                or self.stats_done
                and cmd.fieldname not in self.display
            ):
                self.display.append(cmd.fieldname)
            if self.explicit_display is not None and cmd.fieldname not in self.explicit_display:
                self.explicit_display.append(cmd.fieldname)
        if not cmd.col:
            return
        # the summary row: sums of the numeric values; other columns absent; after every row
        ids = sorted(
            {c.id for c in self.scope.cols.values()}
            | ({"ts", "msg", "stream", "grp", "ingest", "src"} if self.scope.raw else set())
        )
        sums = {self.scope.cols[n].id: f"sum({x})" for n, x in nums.items() if n in self.scope.cols}
        if cmd.row and cmd.fieldname in self.scope.cols:
            sums[self.scope.cols[cmd.fieldname].id] = f"sum({self.scope.cols[cmd.fieldname].id})"
        for n, x in nums.items():  # a field read from the event (not yet a column) gets one
            if n not in self.scope.cols:
                cid = self.new_id()
                self.add("project", n, f"SELECT *, {x} AS {cid} FROM \x00prev\x00")
                self.scope.cols[n] = Column(cid, NUM)
                ids.append(cid)
                sums[cid] = f"sum({cid})"
        order = self.order_by()  # numbers the rows first when the order needs it
        keep = [i for i in ids if i != "seq"] + (
            ["seq"] if self.numbered and self.scope.raw else []
        )
        row = ", ".join(f"{sums[i]} AS {i}" if i in sums else f"NULL AS {i}" for i in keep)
        cols = ", ".join(keep)
        self.add(
            "addtotals",
            "summary row",
            f"SELECT {cols}, 0 AS _fd_summary FROM (SELECT * FROM \x00prev\x00{order}) "
            f"UNION ALL SELECT {row}, 1 FROM \x00prev\x00",
        )
        for n in nums:
            col = self.scope.cols.get(n)
            if col is not None and col.type != NUM:
                self.scope.cols[n] = Column(col.id, col.type)
        self.order = ["_fd_summary ASC"] + [
            o for o in self.order if o.split(" ")[0] in keep or "(" in o
        ]
        if not self.scope.raw:
            pass

    def cmd_stats(self, cmd: A.Stats) -> None:
        raw = self.scope
        post: dict[str, V] = {}
        group_sql: list[str] = []
        out_cols: dict[str, Column] = {}
        names: list[str] = []
        offset_ms = cmd.offset.ms if cmd.offset else 0
        if cmd.offset and cmd.offset.ms <= 0:
            raise self.err("offset must be a fixed period (ms to weeks)", cmd.offset)
        for item in cmd.by:
            self._offset = offset_ms
            try:
                v = self.expr(item.expr)
            finally:
                self._offset = 0
            gid = self.new_id("g")
            group_sql.append(f"{v.sql} AS {gid}")
            post[item.name] = V(gid, v.type)
            out_cols[item.name] = Column(gid, v.type)
            names.append(item.name)
        if cmd.offset and not any(
            isinstance(i.expr, A.Call) and i.expr.name == "bin" for i in cmd.by
        ):
            raise self.err("offset needs a 'by bin(period)' clause", cmd.offset)
        aggs: list[str] = []
        item_sql: list[str] = []
        for item in cmd.items:
            v = self.expr(item.expr, aggs=aggs, post=post)
            if not aggs and not _has_agg(item.expr):
                raise self.err(
                    "each stats item needs an aggregation such as count(*) or avg(field)", item.expr
                )
            cid = self.new_id()
            item_sql.append(f"{v.sql} AS {cid}")
            post[item.name] = V(f"({v.sql})", v.type)
            out_cols[item.name] = Column(cid, v.type)
            names.append(item.name)
        group_by = (
            f" GROUP BY {', '.join(str(i + 1) for i in range(len(group_sql)))}" if group_sql else ""
        )
        select = ", ".join(group_sql + aggs) or "count(*) AS _none"
        detail = ", ".join(i.text for i in cmd.items) + (
            " by " + ", ".join(i.text for i in cmd.by) if cmd.by else ""
        )
        self.add("aggregate", detail, f"SELECT {select} FROM \x00prev\x00{group_by}")
        keep = [c.split(" AS ")[-1] for c in group_sql]
        self.add(
            "project", ", ".join(names), f"SELECT {', '.join(keep + item_sql)} FROM \x00prev\x00"
        )
        self.scope = _Scope(out_cols, raw=False)
        self.stats_outputs = {_canon(i.expr): i.name for i in (*cmd.by, *cmd.items)}
        self.display = names
        self.explicit_display = None
        self.created = []
        del raw
        self.order = [f"{out_cols[n].id} ASC NULLS LAST" for n in names[: len(cmd.by)]]
        self.default_order = True
        self.stats_done = True
        self.group_ids = [out_cols[i.name].id for i in cmd.by]
        self.bins = None
        for item in cmd.by:
            e = item.expr
            if isinstance(e, A.Call) and e.name.lower() == "bin" and self.bins is None:
                assert isinstance(e.args[0], A.Literal)
                gid = out_cols[item.name].id
                others = [g for g in self.group_ids if g != gid]
                self.bins = (gid, e.args[0], offset_ms, others)

    def cmd_sort(self, cmd: A.Sort) -> None:
        terms: list[str] = []
        for key in cmd.keys:
            terms += self.sort_terms(self.sort_key(key), self.descending(key))
        if "seq" in self._ids():
            terms.append("seq ASC")
        self.order = terms
        self.default_order = False
        self.add(
            "sort",
            ", ".join(k.text + (" desc" if self.descending(k) else " asc") for k in cmd.keys),
            "SELECT * FROM \x00prev\x00",
        )

    def sort_key(self, key: A.SortKey) -> V:
        """A sort key; after stats, an expression written as a stats output is that column."""
        if self.scope.raw:
            return self.expr(key.expr)
        name = self.stats_outputs.get(_canon(key.expr))
        if name is not None and name in self.scope.cols:  # sort count(*) desc
            col = self.scope.cols[name]
            return V(col.id, col.type)
        try:
            return self.expr(key.expr)
        except QuerySyntaxError as exc:
            names = list(self.scope.cols)
            hint = closest(key.text, names) or (names[-1] if names else None)
            if hint is None or exc.suggestion:
                raise
            raise QuerySyntaxError(
                exc.reason + f"; to sort by a column of stats, name it: `{hint}`",
                self.q.text,
                exc.offset,
                expected=exc.expected,
            ) from None

    def descending(self, key: A.SortKey) -> bool:
        return self.DEFAULT_SORT_DESC if key.descending is None else key.descending

    def sort_terms(self, v: V, desc: bool) -> list[str]:
        d = "DESC" if desc else "ASC"
        if v.type in (NUM, TS, BOOL):
            return [f"{v.sql} {d} NULLS LAST"]
        # AWS "sort": ascending puts every text value before every number value; numbers
        # by value, text in natural order; descending is the reverse. Absent values last.
        t = self.text(v)
        isnum = self.d.IS_NUMBER.format(t)
        return [
            f"({t} IS NULL) ASC",
            f"{isnum} {d}",
            f"(CASE WHEN {isnum} THEN {self.d.TO_NUMBER.format(t)} END) {d}",
            f"(CASE WHEN {isnum} THEN {t} END) {d}",
            f"{self.d.NATURAL_KEY.format(t)} {d}",
        ]

    def _ids(self) -> set[str]:
        ids = {c.id for c in self.scope.cols.values()}
        if self.scope.raw:
            ids |= {"seq", "ts"}
        return ids

    def cmd_dedup(self, cmd: A.Dedup) -> None:
        keys = [self.expr(f).sql for f in cmd.fields]
        nulls = " OR ".join(f"{k} IS NULL" for k in keys)
        self.add(
            "dedup",
            ", ".join(f.name for f in cmd.fields),
            f"SELECT * FROM \x00prev\x00 QUALIFY row_number() OVER (PARTITION BY {', '.join(keys)} "
            f"{self.order_by()}) = 1 OR {nulls}",
        )

    def cmd_unnest(self, cmd: A.Unnest) -> None:
        v = self.expr(cmd.source)
        if v.type == JSON:
            src = v.sql
        else:  # text that is JSON is parsed; other text is one string item
            t = self.text(v)
            src = f"coalesce({self.d.JSON_PARSE.format(t)}, to_json({t}))"
        cid = self.new_id()
        self.add(
            "unnest",
            f"{self.src(cmd.source)} into {cmd.alias}",
            f"SELECT *, {self.d.UNNEST_JSON.format(src)} AS {cid} FROM \x00prev\x00",
        )
        self.scope.cols[cmd.alias] = Column(cid, JSON)
        if cmd.alias not in self.created:
            self.created.append(cmd.alias)

    def cmd_pattern(self, cmd: A.Pattern) -> None:
        v = self.expr(cmd.source)
        cid = self.new_id()
        self.add(
            "project", self.src(cmd.source), f"SELECT *, {self.text(v)} AS {cid} FROM \x00prev\x00"
        )
        self.add(
            "pattern",
            f"cluster {self.src(cmd.source)}",
            "SELECT * FROM \x00pattern\x00",
            pattern_source=cid,
        )
        cols = {
            "@pattern": Column("pattern", STR),
            "@ratio": Column("ratio", NUM),
            "@sampleCount": Column("sample_count", NUM),
            "@severityLabel": Column("severity", STR),
            "@tokens": Column("tokens", STR),
            "@logSamples": Column("samples", STR),
        }
        self.scope = _Scope(cols, raw=False)
        self.group_ids = []
        self.bins = None
        self.stats_outputs = {}
        self.display = list(cols)
        self.explicit_display = None
        self.created = []
        self.order = ["sample_count DESC", "pattern ASC"]
        self.stats_done = True

    # ---- output -----------------------------------------------------------------------
    def finish(self) -> Plan:
        if self.explicit_display is not None:
            names = self.explicit_display
        elif self.stats_done:
            names = self.display
        else:
            names = self.display or ["@timestamp", "@message"] + [
                n for n in self.created if n not in ("@timestamp", "@message")
            ]
        cols: list[str] = []
        types: list[str] = []
        for name in names:
            parts = self.field_parts.get(name) or tuple(name.split("."))
            v = self.field(A.Field(0, 0, parts), name=name)
            if v.type == TS:
                cols.append(f"{self.d.TS_TEXT.format(v.sql)}")
            elif v.type == JSON:  # a string item shows as its text, not quoted
                cols.append(self.d.JSON_TEXT.format(v.sql))
            else:
                cols.append(v.sql)
            types.append(v.type)
        limit = self.final_limit if self.final_limit is not None else self.default_limit
        select = ", ".join(f"{c} AS {sql_ident(n)}" for c, n in zip(cols, names, strict=False))
        out = f"SELECT {select} FROM \x00prev\x00"
        order = self.order_by()
        out += order
        if limit is not None:
            out += f" LIMIT {int(limit)}"
        steps = [self.scan_step()] + self.steps
        return Plan(
            self.q,
            tuple(steps),
            tuple(names),
            tuple(types),
            out,
            self.d,
            tuple(self.notes),
            self.needs_history,
            select,
            order,
            limit,
        )

    def scan_step(self) -> Step:
        cols = ["ts", "msg", "stream", "grp", "ingest", "src"]
        if self.number_in_scan:
            cols.append("row_number() OVER () AS seq")
        for name, cid in self.discovered.items():
            cols.append(f"{DISCOVERED[name][0]} AS {cid}")
        if self.need_json:
            cols.append(f"{self.d.JSON_FRAGMENT.format('msg')} AS j")
        detail = "events" + (" + " + ", ".join(self.discovered) if self.discovered else "")
        detail += " + JSON fields" if self.need_json else ""
        conds = [c for c in (self.source_cond, self.window_cond(self.window)) if c]
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        return Step("scan", detail, f"SELECT {', '.join(cols)} FROM \x00prev\x00{where}")

    def window_cond(self, window: tuple[int | None, int | None], col: str = "ts") -> str:
        lo, hi = window
        conds = ([f"{col} >= {int(lo)}"] if lo is not None else []) + (
            [f"{col} <= {int(hi)}"] if hi is not None else []
        )
        return " AND ".join(conds)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # ---- SOURCE, subqueries, join, lookup --------------------------------------------
    def source_sql(self, cmd: A.Source, src: str = "src", grp: str = "grp") -> str:
        """Which events a SOURCE names: ``--source NAME=PATH`` inputs, else events whose @log is
        the name; logGroups(namePrefix: …) by prefix of either; logGroups() every input."""
        conds = []
        if cmd.names:
            names = ", ".join(sql_string(n) for n in cmd.names)
            conds.append(f"({src} IN ({names}) OR ({src} = '' AND {grp} IN ({names})))")
        if cmd.prefixes:
            key = f"(CASE WHEN {src} <> '' THEN {src} ELSE {grp} END)"
            conds.append(
                "("
                + " OR ".join(f"starts_with({key}, {sql_string(p)})" for p in cmd.prefixes)
                + ")"
            )
        if cmd.options:
            keys = sorted({k for k, _ in cmd.options})
            self.note(
                f"SOURCE {', '.join(keys)}: local files have no account, log class or data "
                "source; every input is read"
            )
        return " OR ".join(conds) if conds else "TRUE"

    def source_window(self, cmd: A.Source) -> tuple[int | None, int | None]:
        if cmd.since is None and cmd.until is None:
            return self.window
        self.needs_history = True
        lo = self.time_word(cmd, cmd.since) if cmd.since is not None else self.window[0]
        hi = self.time_word(cmd, cmd.until) if cmd.until is not None else self.window[1]
        return lo, hi

    def time_word(self, cmd: A.Source, word: str) -> int:
        """start=/end= words: now, a signed period from now (-1d, 0s), ISO 8601, or epoch s/ms."""
        from datetime import datetime, timezone

        w = word.strip()
        m = re.fullmatch(r"([-+]?)(\d+)([A-Za-z]+)", w)
        if w.lower() == "now":
            return self.now_ms
        if m and unit_ms(m.group(3)) not in (None,) and (unit_ms(m.group(3)) or 0) > 0:
            ms = int(m.group(2)) * (unit_ms(m.group(3)) or 0)
            return self.now_ms - ms if m.group(1) == "-" else self.now_ms + ms
        if re.fullmatch(r"\d{9,13}", w):
            n = int(w)
            return n if n > 10**11 else n * 1000
        try:
            dt = datetime.fromisoformat(w.replace("Z", "+00:00"))
        except ValueError:
            at = self.q.text.find(word, cmd.start)
            raise QuerySyntaxError(
                f"cannot read the time {word!r}",
                self.q.text,
                at if at >= 0 else cmd.start,
                expected="now, -1d, -3600s, 2026-01-23T00:00:00Z or epoch seconds",
            ) from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return int(dt.timestamp() * 1000)

    def cmd_source(self, cmd: A.Source) -> None:
        self.source_cond = self.source_sql(cmd)
        self.window = self.source_window(cmd)

    def sub_plan(self, commands: tuple[A.Command, ...], what: str, node: A.Node) -> Plan:
        """A subquery's own plan over the same events, window and lookups; its notes and
        history need carry over to this plan. ``what`` names it in the error for a command
        a subquery cannot use."""
        sub = Planner(
            A.Query(self.q.text, commands),
            self.d,
            default_limit=None,
            window=self.window,
            lookups=self.lookups,
            now_ms=self.now_ms,
        )
        p = sub.build()
        for n in sub.notes:
            self.note(n)
        self.needs_history = self.needs_history or p.needs_history
        if any(st.kind in ("pattern", "compare", "relevant") for st in p.steps):
            raise self.err(f"{what} cannot use pattern, diff, logcompare or relevantfields", node)
        return p

    def subquery_sql(self, node: A.In, want: str | None) -> str:
        """An ``x in (SOURCE … | …)`` subquery: its own plan over the events, one column."""
        sq = node.subquery
        assert sq is not None
        p = self.sub_plan(sq.commands, "a subquery", node)
        col = want if want in p.columns else p.columns[0]
        from fdscope.insights._sql import to_sql

        return f"(SELECT {sql_ident(col)} FROM ({to_sql(p)}) AS _sq)"

    def right_field(self, parts: tuple[str, ...]) -> V:
        """A field of the right side of a join (its events' columns carry an r_ prefix)."""
        name = ".".join(parts)
        if name in _BASE:
            cid, t = _BASE[name]
            return V(f"r_{cid}", t)
        if name in DISCOVERED:
            sql, t = DISCOVERED[name]
            return V("(" + re.sub(r"\bmsg\b", "r_msg", sql) + ")", t)
        if parts[0].startswith("@@"):
            parts = (parts[0][1:], *parts[1:])
        return V(self.d.EVENT_JSON_GET.format("r_j", sql_string(_json_path(parts))), STR)

    def cmd_join(self, cmd: A.Join) -> None:
        if self.join is not None:
            raise self.err("only one join command is supported per query", cmd)
        if not self.scope.raw:
            raise self.err("join needs log events: it cannot follow stats or pattern", cmd)
        self.number()  # the left side's file order, before rows pair up
        lkey = self.field(cmd.left_key)
        rkey = self.right_field(cmd.right_key.parts)
        cond = self.source_sql(cmd.source, "src", "grp")
        win = self.window_cond(self.source_window(cmd.source))
        where = " AND ".join(c for c in (f"({cond})", win) if c)
        right = (
            "SELECT ts AS r_ts, msg AS r_msg, stream AS r_stream, grp AS r_grp, ingest AS r_ingest, "
            f"{self.d.JSON_FRAGMENT.format('msg')} AS r_j FROM events WHERE {where}"
        )
        how = "LEFT JOIN" if cmd.kind == "left" else "JOIN"
        on = self.compare("=", lkey, rkey)
        self.add(
            "join",
            f"{cmd.kind} {cmd.left}.{cmd.left_key.name} = {cmd.right}.{cmd.right_key.name} "
            f"({self.src(cmd.source)})",
            f"SELECT * FROM \x00prev\x00 {how} ({right}) AS _r ON {on}",
        )
        self.join = (cmd.left, cmd.right)

    def cmd_lookup(self, cmd: A.Lookup) -> None:
        names = list(self.lookups)
        if cmd.table not in self.lookups:
            raise self.err(
                f"no lookup table named {cmd.table!r}",
                cmd,
                suggestion=closest(cmd.table, names),
                expected=f"--lookup {cmd.table}=FILE.csv (or .json) on the command line",
            )
        table = self.lookups[cmd.table]
        idx = names.index(cmd.table)
        for col in [k for k, _ in cmd.keys] + list(cmd.outputs):
            if col not in table:
                raise self.err(
                    f"the lookup table {cmd.table!r} has no column {col!r}",
                    cmd,
                    suggestion=closest(col, table),
                    expected="one of " + ", ".join(table),
                )
        keys = [(k, self.field(f)) for k, f in cmd.keys]
        on = " AND ".join(f"{self.text(v)} = _t.{sql_ident(k)}" for k, v in keys)
        part = ", ".join(sql_ident(k) for k, _ in keys)
        cols = []
        for out in cmd.outputs:
            cid = self.new_id()
            cols.append(f"_t.{sql_ident(out)} AS {cid}")
            self.scope.cols[out] = Column(cid, STR)
            self.field_parts.pop(out, None)
            if out not in self.display:  # lookup appends its output fields to the results
                self.display.append(out)
        self.add(
            "lookup",
            f"{cmd.table} on {', '.join(k for k, _ in cmd.keys)} -> {', '.join(cmd.outputs)}",
            f"SELECT \x00prev\x00.*, {', '.join(cols)} FROM \x00prev\x00 LEFT JOIN (SELECT * FROM "
            f"__lookup{idx} QUALIFY row_number() OVER (PARTITION BY {part} ORDER BY _rn) = 1) AS _t "
            f"ON {on}",
        )

    # ---- diff, logcompare, relevantfields --------------------------------------------
    def cmd_compare(self, cmd: A.Compare) -> None:
        lo, hi = self.window
        if lo is None or hi is None:
            raise self.err(
                f"{cmd.keyword} compares the query's time window with an earlier one: give the "
                "window (--start and --end, or SOURCE … start= end=)",
                cmd,
            )
        if not self.scope.raw:
            raise self.err(
                f"{cmd.keyword} compares log events: it cannot follow stats or pattern", cmd
            )
        if cmd.shift == "previous":
            blo, bhi = lo - (hi - lo) - 1, lo - 1
        elif cmd.shift == "month":
            blo, bhi = _months_back(lo), _months_back(hi)
        else:
            ms = {"day": 86_400_000, "week": 604_800_000}.get(cmd.shift, cmd.shift_ms)
            blo, bhi = lo - ms, hi - ms
        self.needs_history = True
        self.window = (None, None)  # the scan reads both windows; the step splits them
        both = f"(({self.window_cond((lo, hi))}) OR ({self.window_cond((blo, bhi))}))"
        self.add("filter", "the two windows", f"SELECT * FROM \x00prev\x00 WHERE {both}")
        cid = self.new_id()
        self.add("project", "@message", f"SELECT *, msg AS {cid} FROM \x00prev\x00")
        self.add(
            "compare",
            f"patterns of {_ts_words(lo, hi)} against {_ts_words(blo, bhi)}",
            "SELECT * FROM \x00pattern\x00",
            pattern_source=cid,
            extra=(lo, hi, blo, bhi),
        )
        self.note(
            f"{cmd.keyword}: the @message patterns of the window and the baseline window, "
            "counted in each (AWS documents no output columns; these are fdscope's)"
        )
        cols = {
            "@pattern": Column("pattern", STR),
            "@currentCount": Column("cur", NUM),
            "@previousCount": Column("prev", NUM),
            "@change": Column("change", NUM),
            "@isNew": Column("is_new", BOOL),
            "@logSamples": Column("samples", STR),
        }
        self.after_table(cols, ["cur DESC", "pattern ASC"])

    def after_table(self, cols: dict[str, Column], order: list[str]) -> None:
        self.group_ids = []
        self.bins = None
        self.scope = _Scope(cols, raw=False)
        self.stats_outputs = {}
        self.display = list(cols)
        self.explicit_display = None
        self.created = []
        self.order = order
        self.stats_done = True

    def cmd_relevant(self, cmd: A.RelevantFields) -> None:
        if not self.scope.raw:
            raise self.err(
                "relevantfields reads log events: it cannot follow stats or pattern", cmd
            )
        cond = self.truth(self.expr(cmd.condition))
        skip = {".".join(f.parts) for f in _fields_in(cmd.condition)}
        named = []
        for f in cmd.fields:
            v = self.expr(f)
            named.append((f.name, self.text(v)))
        self.need_json = self.need_json or not cmd.fields
        cid = self.new_id()
        sel = ", ".join(f"{t} AS {sql_ident('f:' + n)}" for n, t in named)
        self.add(
            "project",
            "condition",
            f"SELECT *, coalesce({cond}, FALSE) AS {cid} FROM \x00prev\x00",
        )
        self.add(
            "relevant",
            f"fields against {self.src(cmd.condition)}",
            "SELECT * FROM \x00pattern\x00",
            pattern_source=cid,
            extra=(tuple(n for n, _ in named), sel, tuple(sorted(skip)), tuple(self.created)),
        )
        self.note(
            "relevantfields: scores are fdscope's (categorical fields: total variation distance "
            "of the value frequencies; numeric fields: Kolmogorov-Smirnov distance)"
        )
        cols = {
            "@fieldName": Column("field", STR),
            "@relevanceScore": Column("score", NUM),
            "@topRelevanceContributors": Column("contributors", STR),
            "@conditionalMedian": Column("cond_median", NUM),
            "@baselineMedian": Column("base_median", NUM),
        }
        self.after_table(cols, ["score DESC", "field ASC"])

    # ---- the rest of AWS's command table: row order, windows, tables ------------------
    def shown(self) -> list[str]:
        """The fields the results would show at this point."""
        if self.explicit_display is not None:
            return list(self.explicit_display)
        if self.stats_done or self.display:
            return list(self.display)
        return ["@timestamp", "@message"] + [
            n for n in self.created if n not in ("@timestamp", "@message")
        ]

    def show(self, name: str) -> None:
        """A field a command adds joins the shown fields."""
        if self.explicit_display is not None and name not in self.explicit_display:
            self.explicit_display.append(name)
        if self.stats_done or self.display:
            if name not in self.display:
                self.display.append(name)
        elif name not in self.created:
            self.created.append(name)

    def window_order(self) -> str:
        """``ORDER BY …`` of the rows as the results show them (for lag, running sums and
        fill-down): events in the current sort (file order breaks ties); after stats the
        group columns break ties, so the output shows the same order."""
        if not self.scope.raw:
            ids = self._ids()
            self.order = self.order + [
                f"{g} ASC NULLS LAST"
                for g in self.group_ids
                if g in ids and not any(o.split(" ")[0] == g for o in self.order)
            ]
        return self.order_by().strip()

    def set_field(self, name: str, cid: str, type_: str) -> None:
        self.scope.cols[name] = Column(cid, type_)
        self.field_parts.pop(name, None)

    def named(self, name: str, node: A.Node) -> V:
        """A field by its shown name (``a.b`` may be the one key a.b)."""
        parts = self.field_parts.get(name) or tuple(name.split("."))
        return self.field(A.Field(node.start, node.end, parts), name=name)

    def cmd_autoregress(self, cmd: A.Autoregress) -> None:
        """autoregress f p=N-M: f's value N..M rows before, in the order the rows are shown."""
        v = self.expr(cmd.field)
        order = self.window_order()
        base = cmd.alias or cmd.field.name
        adds = []
        for k in range(cmd.first, cmd.last + 1):
            name = cmd.alias if cmd.alias and cmd.first == cmd.last else f"{base}_p{k}"
            adds.append((name, V(f"lag({v.sql}, {k}) OVER ({order})", v.type)))
        self.project(adds, "autoregress", f"{cmd.field.name} p={cmd.first}-{cmd.last}")
        for name, _ in adds:
            self.field_parts.pop(name, None)
            self.show(name)

    def cmd_accum(self, cmd: A.Accum) -> None:
        """accum f [AS out]: the running sum of f's numeric values down the shown rows."""
        x = self.num(self.expr(cmd.field))
        order = self.window_order()
        name = cmd.alias or cmd.field.name
        frame = "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
        self.project([(name, V(f"sum({x}) OVER ({order} {frame})", NUM))], "accum")
        self.field_parts.pop(name, None)
        if cmd.alias:
            self.show(name)

    def cmd_filldown(self, cmd: A.FillDown) -> None:
        """filldown [f …]: an absent value takes the last present one above it."""
        shown = self.shown()
        names: list[str] = []
        for pat in cmd.patterns or ("*",):
            if "*" in pat:
                rx = re.compile(".*".join(re.escape(p) for p in pat.split("*")) + r"\Z")
                names += [n for n in shown if rx.match(n) and n not in names]
            elif pat not in names:
                names.append(pat)
        order = self.window_order()
        frame = "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
        adds = []
        for n in names:
            v = self.named(n, cmd)
            adds.append((n, V(f"last_value({v.sql} IGNORE NULLS) OVER ({order} {frame})", v.type)))
        self.project(adds, "filldown")
        for n, _ in adds:
            self.field_parts.pop(n, None)

    def cmd_fillmissing(self, cmd: A.FillMissing) -> None:
        """fillmissing: a row for each empty bin of the last ``stats … by bin()``, from the
        first to the last bin (the query window's bins when one is given); with other group
        keys, for each of their combinations."""
        if self.bins is None or self.scope.raw:
            raise self.err(
                "fillmissing needs a 'stats … by bin(period)' before it",
                cmd,
                expected="stats … by bin(5m) | fillmissing",
            )
        gid, period, offset, others = self.bins
        if gid not in self._ids():
            raise self.err("fillmissing: the bin column of stats is no longer there", cmd)
        fills: dict[str, str] = {}
        for lit, f in cmd.fills:
            col = self.scope.cols.get(f.name)
            if col is None:
                raise self.err(
                    f"fillmissing: no field {f.name!r} in the results of stats",
                    f,
                    suggestion=closest(f.name, list(self.scope.cols)),
                )
            if col.id == gid or col.id in others:
                raise self.err(f"fillmissing: {f.name!r} is a group of stats, not a value", f)
            if lit.kind == "num" and col.type == NUM:
                fills[col.id] = sql_number(lit.number)
                continue
            if col.type not in (STR, ANY, NULLT):  # the column becomes text
                cid = self.new_id()
                self.add(
                    "project",
                    f.name,
                    f"SELECT *, {self.text(V(col.id, col.type))} AS {cid} FROM \x00prev\x00",
                )
                self.scope.cols[f.name] = col = Column(cid, STR)
            fills[col.id] = sql_string(lit.value)
        lo = f"(SELECT min({gid}) FROM \x00prev\x00)"
        hi = f"(SELECT max({gid}) FROM \x00prev\x00)"
        wlo, whi = self.window
        if wlo is not None:
            lo = f"least({lo}, {self.floor_to(str(int(wlo) + offset), period)})"
        if whi is not None:
            hi = f"greatest({hi}, {self.floor_to(str(int(whi) + offset), period)})"
        if period.ms > 0:  # at most 100,000 bins
            series = f"unnest(generate_series({lo}, least({hi}, {lo} + CAST({int(period.ms)} AS BIGINT) * 99999), {int(period.ms)}))"
        else:
            months = {-1: 1, -3: 3, -12: 12}[int(period.ms)]
            series = (
                f"epoch_ms(unnest(generate_series(make_timestamp({lo} * 1000), "
                f"make_timestamp({hi} * 1000), INTERVAL {months} MONTH)))"
            )
        keys = ", ".join(others)
        kt = f"(SELECT DISTINCT {keys} FROM \x00prev\x00)" if others else "(SELECT 1 AS _one)"
        same = " AND ".join(
            [f"_p.{gid} = _b._b"] + [f"_p.{k} IS NOT DISTINCT FROM _k.{k}" for k in others]
        )
        cols = ", ".join(
            [f"_b._b AS {gid}"]
            + [f"_k.{k} AS {k}" for k in others]
            + [f"{v} AS {c}" for c, v in fills.items()]
        )
        self.add(
            "fill",
            f"empty bins{' with ' + ', '.join(f.name for _, f in cmd.fills) if cmd.fills else ''}",
            f"SELECT * FROM \x00prev\x00 UNION ALL BY NAME SELECT {cols} FROM (SELECT {series} AS _b) AS _b, "
            f"{kt} AS _k WHERE NOT EXISTS (SELECT 1 FROM \x00prev\x00 AS _p WHERE {same})",
        )

    def cmd_countfrequent(self, cmd: A.CountFrequent) -> None:
        """countFrequent f, …: stats count(*) as _approxcount by f, … (exact locally), most
        frequent first; ties by the values of the fields."""
        star = A.Call(cmd.start, cmd.start, "count", (), star=True)
        items = (A.Item(star, "_approxcount", "count(*)"),)
        by = tuple(A.Item(f, None, f.name) for f in cmd.fields)
        self.cmd_stats(A.Stats(cmd.start, cmd.end, cmd.keyword, items, by))
        cid = self.scope.cols["_approxcount"].id
        self.order = [f"{cid} DESC"] + [f"{g} ASC NULLS LAST" for g in self.group_ids]
        self.default_order = False

    def cmd_sessionize(self, cmd: A.Sessionize) -> None:
        """sessionize f, … maxspan d AS out: per identity, events in time order; a gap longer
        than maxspan starts a new session. Sessions are numbered 1, 2, … by their first event
        (time, then file order); an event with an identity field absent has no session."""
        if not self.scope.raw:
            raise self.err("sessionize groups log events: it cannot follow stats or pattern", cmd)
        keys = [self.expr(f).sql for f in cmd.fields]
        self.number()
        part = ", ".join(keys)
        nulls = " OR ".join(f"{k} IS NULL" for k in keys)
        w = f"PARTITION BY {part} ORDER BY ts, seq"
        new, run, fts, fseq, out = (self.new_id() for _ in range(5))
        self.add(
            "session",
            "gaps",
            f"SELECT *, CASE WHEN {nulls} THEN NULL WHEN lag(ts) OVER ({w}) IS NULL "
            f"OR ts - lag(ts) OVER ({w}) > {int(cmd.maxspan_ms)} THEN 1 ELSE 0 END AS {new} FROM \x00prev\x00",
        )
        self.add(
            "session",
            "runs",
            f"SELECT *, sum({new}) OVER ({w} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS {run} FROM \x00prev\x00",
        )
        s = f"PARTITION BY {part}, {run} ORDER BY ts, seq"
        self.add(
            "session",
            "first events",
            f"SELECT *, first_value(ts) OVER ({s}) AS {fts}, first_value(seq) OVER ({s}) AS {fseq} FROM \x00prev\x00",
        )
        self.add(
            "session",
            f"{', '.join(f.name for f in cmd.fields)} -> {cmd.alias}",
            f"SELECT *, CASE WHEN {run} IS NOT NULL THEN dense_rank() OVER (PARTITION BY {run} IS NULL "
            f"ORDER BY {fts}, {fseq}) END AS {out} FROM \x00prev\x00",
        )
        self.set_field(cmd.alias, out, NUM)
        self.show(cmd.alias)

    def cmd_outlier(self, cmd: A.Outlier) -> None:
        """outlier: per field, Q1 and Q3 (nearest rank, as pct) of its numeric values; above
        Q3 + param x IQR (and with uselower below Q1 - param x IQR) is an outlier: the row is
        dropped (remove) or the value set to the bound (transform); mark adds _outlier."""
        vals = [(f.name, self.expr(f)) for f in cmd.fields]
        qs, tests, outs = [], [], []
        for name, v in vals:
            x = self.num(v)
            q1, q3 = self.new_id("q"), self.new_id("q")
            qs.append(
                f"{self.d.PERCENTILE.format(x, '0.25')} OVER () AS {q1}, "
                f"{self.d.PERCENTILE.format(x, '0.75')} OVER () AS {q3}"
            )
            p = sql_number(cmd.param)
            up, low = f"({q3} + {p} * ({q3} - {q1}))", f"({q1} - {p} * ({q3} - {q1}))"
            hi_t, lo_t = f"coalesce({x} > {up}, FALSE)", f"coalesce({x} < {low}, FALSE)"
            tests.append(f"({hi_t} OR {lo_t})" if cmd.uselower else hi_t)
            if not cmd.remove:
                bound_hi = up if v.type == NUM else self.d.NUM_TEXT.format(up)
                bound_lo = low if v.type == NUM else self.d.NUM_TEXT.format(low)
                t = v.type if v.type == NUM else STR
                src = v.sql if v.type == NUM else self.text(v)
                lower = f"WHEN {lo_t} THEN {bound_lo} " if cmd.uselower else ""
                outs.append((name, V(f"CASE WHEN {hi_t} THEN {bound_hi} {lower}ELSE {src} END", t)))
        self.add("outlier", "quartiles", f"SELECT *, {', '.join(qs)} FROM \x00prev\x00")
        any_out = " OR ".join(tests)
        if cmd.mark:
            self.project([("_outlier", V(f"({any_out})", BOOL))], "outlier", "_outlier")
            self.show("_outlier")
        if cmd.remove:
            self.add(
                "filter", "outliers removed", f"SELECT * FROM \x00prev\x00 WHERE NOT ({any_out})"
            )
        else:
            self.project(outs, "outlier", "clamped " + ", ".join(n for n, _ in outs))
            for n, _ in outs:
                self.field_parts.pop(n, None)

    def cmd_cidrlookup(self, cmd: A.CidrLookup) -> None:
        """cidrlookup table ip OUTPUT …: the table row whose CIDR range holds the address (the
        longest prefix; then the first in the file); OUTPUTNEW fills only absent fields."""
        names = list(self.lookups)
        if cmd.table not in self.lookups:
            raise self.err(
                f"no lookup table named {cmd.table!r}",
                cmd,
                suggestion=closest(cmd.table, names),
                expected=f"--lookup {cmd.table}=FILE.csv (or .json) on the command line",
            )
        table = self.lookups[cmd.table]
        cidr = cmd.cidr_column or ("cidr" if "cidr" in table else table[0] if table else "cidr")
        for col in [cidr] + [c for c, _ in cmd.outputs]:
            if col not in table:
                raise self.err(
                    f"the lookup table {cmd.table!r} has no column {col!r}",
                    cmd,
                    suggestion=closest(col, table),
                    expected="one of " + ", ".join(table),
                )
        if self.scope.raw:
            self.number()  # the file order, before the rows meet the table
        ip = self.new_id()
        self.add(
            "project",
            cmd.ip.name,
            f"SELECT *, {self.text(self.expr(cmd.ip))} AS {ip} FROM \x00prev\x00",
        )
        m = self.new_id()
        pack = ", ".join(f"o{k} := _t.{sql_ident(c)}" for k, (c, _) in enumerate(cmd.outputs))
        pre = f"_fd_cidr_prefix(_e.{ip}, _t.{sql_ident(cidr)})"
        idx = names.index(cmd.table)
        self.add(
            "cidrlookup",
            f"{cmd.table} on {cmd.ip.name} in {cidr}",
            f"SELECT _e.*, (SELECT arg_max(struct_pack({pack}), CAST({pre} AS BIGINT) * 1000000000 - _t._rn) "
            f"FROM __lookup{idx} AS _t WHERE {pre} IS NOT NULL) AS {m} FROM \x00prev\x00 AS _e",
        )
        adds = []
        for k, (_, name) in enumerate(cmd.outputs):
            got = f"struct_extract({m}, 'o{k}')"
            if cmd.new_only:
                try:
                    old = self.text(self.named(name, cmd))
                except QuerySyntaxError:
                    old = "NULL"
                got = f"coalesce({old}, {got})"
            adds.append((name, V(got, STR)))
        self.project(adds, "cidrlookup", ", ".join(n for n, _ in adds))
        for n, _ in adds:
            self.field_parts.pop(n, None)
            self.show(n)

    def cmd_appendcols(self, cmd: A.AppendCols) -> None:
        """appendcols ( subquery ): row k of the results takes the columns of the subquery's row
        k (its own order; at most max rows); extra subquery rows are rows of their own.
        override=true: a field both have takes the subquery's value."""
        p = self.sub_plan(cmd.subquery.commands, "an appendcols subquery", cmd)
        from fdscope.insights._sql import to_sql

        lim = min(cmd.max_rows, p.limit) if p.limit is not None else cmd.max_rows
        inner = to_sql(
            p,
            select=f"SELECT {p.select_sql}, row_number() OVER ({p.order_sql.strip()}) AS _pos FROM \x00prev\x00",
        )
        ids = [self.new_id() for _ in p.columns]
        sub_sel = ", ".join(f"{sql_ident(n)} AS {i}" for n, i in zip(p.columns, ids, strict=True))
        mpos, pos, has = self.new_id(), self.new_id(), self.new_id()
        order = self.window_order()
        self.add(
            "project",
            "row positions",
            f"SELECT *, row_number() OVER ({order}) AS {mpos} FROM \x00prev\x00",
        )
        self.add(
            "appendcols",
            f"{len(p.columns)} columns by row position" + (" (override)" if cmd.override else ""),
            f"SELECT _m.*, {', '.join(f'_s.{i}' for i in ids)}, coalesce(_m.{mpos}, _s._pos) AS {pos}, "
            f"_s._pos IS NOT NULL AS {has} "
            f"FROM \x00prev\x00 AS _m FULL JOIN (SELECT {sub_sel}, _pos FROM ({inner}) AS _sq "
            f"WHERE _pos <= {int(lim)}) AS _s ON _m.{mpos} = _s._pos",
        )
        merged = []
        for name, sid, t in zip(p.columns, ids, p.types, strict=True):
            t = t if t in (NUM, BOOL) else STR
            col = self.scope.cols.get(name)
            old: V | None = V(col.id, col.type) if col is not None else None
            if old is None and self.scope.raw:
                try:
                    old = self.named(name, cmd)
                except QuerySyntaxError:
                    old = None
            self.show(name)
            if old is None:
                self.set_field(name, sid, t)
                continue
            new = V(sid, t)
            if old.type != t:
                new, old = V(self.text(new), STR), V(self.text(old), STR)
            if cmd.override:  # the subquery's value where it has the row
                sql = f"CASE WHEN {has} THEN {new.sql} ELSE {old.sql} END"
            else:  # the results' value where they have the row
                sql = f"CASE WHEN {mpos} IS NOT NULL THEN {old.sql} ELSE {new.sql} END"
            merged.append((name, V(sql, new.type)))
        self.project(merged, "appendcols", ", ".join(n for n, _ in merged))
        for n, _ in merged:
            self.field_parts.pop(n, None)
        self.order = [f"{pos} ASC"]
        self.default_order = False

    # ---- expressions ------------------------------------------------------------------
    _offset = 0

    def src(self, node: A.Node) -> str:
        return " ".join(self.q.text[node.start : node.end].split())

    def field(self, f: A.Field, *, name: str | None = None, post: dict[str, V] | None = None) -> V:
        name = name or f.name
        if post is not None:
            if name in post:
                return post[name]
            raise self.err(
                f"field {name!r} must be inside an aggregation (count, sum, avg, ...) or named after 'by'",
                f,
            )
        col = self.scope.cols.get(name)
        if col is not None:
            return V(col.id, col.type)
        if self.join is not None and len(f.parts) > 1 and f.parts[0] in self.join:
            if f.parts[0] == self.join[1]:
                return self.right_field(f.parts[1:])
            return self.field(A.Field(f.start, f.end, f.parts[1:]))
        if self.scope.raw and name in DISCOVERED:
            cid = self.discovered.setdefault(name, f"d{len(self.discovered) + 1}")
            self.scope.cols[name] = Column(cid, DISCOVERED[name][1])
            return V(cid, DISCOVERED[name][1])
        parts = f.parts if f.parts else tuple(name.split("."))
        for k in range(len(parts) - 1, 0, -1):
            head = ".".join(parts[:k])
            hc = self.scope.cols.get(head)
            if hc is not None and hc.type == JSON:
                return V(self.d.JSON_GET.format(hc.id, sql_string(_json_path(parts[k:]))), STR)
        if self.scope.raw:
            self.need_json = True
            if parts[0].startswith("@@"):
                # a JSON key that starts with @ is discovered with one more @ (AWS: "Supported
                # logs and discovered fields"), so it never hides @timestamp or @message
                parts = (parts[0][1:], *parts[1:])
            return V(self.d.EVENT_JSON_GET.format("j", sql_string(_json_path(parts))), STR)
        raise self.err(
            f"field {name!r} does not exist after stats or pattern", f if f.end else None
        )

    def expr(  # noqa: C901
        self, node: A.Node, *, aggs: list[str] | None = None, post: dict[str, V] | None = None
    ) -> V:
        e = self.expr
        if isinstance(node, A.Field):
            return self.field(node, post=post)
        if isinstance(node, A.Literal):
            if node.kind == "num":
                return V(sql_number(node.number), NUM, node.number)
            if node.kind == "str":
                return V(sql_string(node.value), STR, node.value)
            if node.kind == "bool":
                return V(node.value.upper(), BOOL, node.value == "true")
            if node.kind == "duration":
                raise self.err(
                    "a time period is only allowed in bin, datefloor, dateceil and offset", node
                )
            raise self.err("a /regex/ is only allowed after like or =~", node)
        if isinstance(node, A.ListExpr):
            raise self.err("a list is only allowed after 'in'", node)
        if isinstance(node, A.Unary):
            v = e(node.operand, aggs=aggs, post=post)
            if node.op == "not":
                return V(f"(NOT {self.truth(v)})", BOOL)
            return V(f"(- {self.num(v)})", NUM)
        if isinstance(node, A.Logical):
            terms = [self.truth(e(o, aggs=aggs, post=post)) for o in node.operands]
            return V("(" + f" {node.op.upper()} ".join(terms) + ")", BOOL)
        if isinstance(node, A.Binary):
            a = e(node.left, aggs=aggs, post=post)
            b = e(node.right, aggs=aggs, post=post)
            if node.op in ("=", "!=", "<", "<=", ">", ">="):
                return V(self.compare(node.op, a, b), BOOL)
            return self.arith(node.op, a, b)
        if isinstance(node, A.Match):
            v = e(node.operand, aggs=aggs, post=post)
            t = self.stext(v)
            if node.pattern.kind == "regex":
                rx = _re2(node.pattern.value)
                _check_regex(self, rx, node.pattern)
                sql = self.d.REGEX_SEARCH.format(t, sql_string(rx))
            else:
                sql = self.d.CONTAINS.format(t, sql_string(node.pattern.value))
            return V(f"(NOT {sql})" if node.negated else sql, BOOL)
        if isinstance(node, A.In) and node.subquery is not None:
            v = e(node.operand, aggs=aggs, post=post)
            want = node.operand.name if isinstance(node.operand, A.Field) else None
            sql = f"coalesce({self.text(v)} IN {self.subquery_sql(node, want)}, FALSE)"
            return V(f"(NOT {sql})" if node.negated else sql, BOOL)
        if isinstance(node, A.In):
            v = e(node.operand, aggs=aggs, post=post)
            items = [e(i, aggs=aggs, post=post) for i in node.items]
            if not items:
                sql = "FALSE"
            elif v.type in (STR, ANY) and all(
                isinstance(i.lit, str) and not _NUM_RE.match(i.lit) for i in items
            ):
                sql = f"({v.sql} IN ({', '.join(i.sql for i in items)}))"
            else:
                sql = "(" + " OR ".join(self.compare("=", v, i) for i in items) + ")"
            return V(f"(NOT {sql})" if node.negated else sql, BOOL)
        if isinstance(node, A.Call):
            return self.call(node, aggs=aggs, post=post)
        raise self.err("unsupported expression", node)  # pragma: no cover

    # conversions
    def num(self, v: V) -> str:
        if v.type in _NUMERIC:
            return v.sql
        if v.type == BOOL:
            return f"CAST({v.sql} AS INTEGER)"
        if isinstance(v.lit, str):
            return sql_number(float(v.lit)) if _NUM_RE.match(v.lit) else "NULL"
        if v.type == JSON:
            return self.d.TO_NUMBER.format(self.d.JSON_TEXT.format(v.sql))
        return self.d.TO_NUMBER.format(v.sql)

    def order_by(self) -> str:
        """`` ORDER BY …`` in the current order, or nothing (stats without ``by`` has none)."""
        if any(t.startswith("seq ") for t in self.order):
            self.number()
        return f" ORDER BY {', '.join(self.order)}" if self.order else ""

    def number(self) -> None:
        """Give the rows a ``seq`` column in file order, where a sort first needs it.

        Ties of a sort key keep file order, so the rows need numbers; but a row number
        over the scan makes DuckDB read the file on one thread. Every step before the first
        sort keeps the rows in file order (filters, projections, parse, unnest), so the rows
        are numbered there instead: after a filter, over its few rows, materialized in
        insertion order; without a filter, in the scan.
        """
        if self.numbered:
            return
        self.numbered = True
        if not any(st.kind == "filter" for st in self.steps):
            self.number_in_scan = True
            return
        last = self.steps[-1]
        self.steps[-1] = Step(
            last.kind, last.detail, last.sql, last.pattern_source, last.extra, materialized=True
        )
        self.add(
            "number",
            "rows in file order",
            "SELECT *, row_number() OVER () AS seq FROM \x00prev\x00",
        )

    def text(self, v: V) -> str:
        if v.type in (STR, ANY, NULLT):
            return v.sql
        if v.type == NUM:
            return self.d.NUM_TEXT.format(v.sql)
        if v.type == TS:
            return self.d.TS_TEXT.format(v.sql)
        if v.type == BOOL:
            return self.d.BOOL_TEXT.format(v.sql)
        if v.type == JSON:
            return f"json_extract_string({v.sql}, '$')"
        return v.sql

    def stext(self, v: V) -> str:
        """Text for string functions and comparisons: a map or list is absent (AWS functions
        page, "Structure types": maps and lists are null in string, number and datetime
        functions, and comparing one to anything is false)."""
        if v.type == JSON:
            return f"(CASE WHEN json_type({v.sql}) NOT IN ('OBJECT', 'ARRAY') THEN json_extract_string({v.sql}, '$') END)"
        return self.text(v)

    def truth(self, v: V) -> str:
        if v.type == BOOL:
            return v.sql
        if v.type in _NUMERIC:
            return f"({v.sql} <> 0)"
        t = self.text(v)
        return f"({t} IS NOT NULL AND {t} <> '' AND lower({t}) <> 'false')"

    def compare(self, op: str, a: V, b: V) -> str:
        sop = "<>" if op == "!=" else op
        if a.type == BOOL or b.type == BOOL:
            if a.type == b.type:
                return f"({a.sql} {sop} {b.sql})"
            return f"({self.text(a)} {sop} {self.text(b)})"
        if a.type in _NUMERIC or b.type in _NUMERIC:
            other = b if a.type in _NUMERIC else a
            if isinstance(other.lit, str) and not _NUM_RE.match(other.lit):
                return f"({self.text(a)} {sop} {self.text(b)})"
            return f"({self.num(a)} {sop} {self.num(b)})"
        ta, tb = self.stext(a), self.stext(b)
        if isinstance(a.lit, str) or isinstance(b.lit, str):
            lit, fld = (a, tb) if isinstance(a.lit, str) else (b, ta)
            assert isinstance(lit.lit, str)
            flip = lit is a
            if _NUM_RE.match(lit.lit):
                n = self.d.TO_NUMBER.format(fld)
                num_cmp = (
                    f"{sql_number(float(lit.lit))} {sop} {n}"
                    if flip
                    else f"{n} {sop} {sql_number(float(lit.lit))}"
                )
                str_cmp = f"{lit.sql} {sop} {fld}" if flip else f"{fld} {sop} {lit.sql}"
                return f"(CASE WHEN {n} IS NOT NULL THEN {num_cmp} ELSE {str_cmp} END)"
            return f"({ta} {sop} {tb})"
        na, nb = self.d.TO_NUMBER.format(ta), self.d.TO_NUMBER.format(tb)
        return f"(CASE WHEN {na} IS NOT NULL AND {nb} IS NOT NULL THEN {na} {sop} {nb} ELSE {ta} {sop} {tb} END)"

    def arith(self, op: str, a: V, b: V) -> V:
        x, y = self.num(a), self.num(b)
        if op == "/":
            sql = self.d.DIVIDE.format(x, y)
        elif op == "%":
            sql = self.d.MODULO.format(x, y)
        elif op == "^":
            sql = self.d.POWER.format(x, y)
        else:
            sql = f"({x} {op} {y})"
        t = TS if op in "+-" and (a.type == TS) != (b.type == TS) else NUM
        return V(sql, t)

    def period(self, node: A.Node, fn: str) -> A.Literal:
        if not (isinstance(node, A.Literal) and node.kind == "duration"):
            raise self.err(f"{fn}() needs a time period like 5m or 1h", node)
        if node.ms < 0 and node.number != 1:
            raise self.err("calendar periods (mo, q, y) can only be 1", node)
        if node.ms == 0:
            raise self.err("the period must be longer than zero", node)
        return _capped(node)

    def floor_to(self, ts_sql: str, p: A.Literal, ceil: bool = False) -> str:
        if p.ms < 0:
            unit = self.d.CALENDAR_UNIT[int(p.ms)]
            floor = self.d.CALENDAR_FLOOR.format(ts_sql, sql_string(unit))
            if ceil:
                return f"(CASE WHEN {floor} = {ts_sql} THEN {ts_sql} ELSE epoch_ms(date_trunc({sql_string(unit)}, make_timestamp({ts_sql} * 1000) + INTERVAL 1 {unit})) END)"
            return floor
        tmpl = self.d.CEIL_TO if ceil else self.d.FLOOR_TO
        return tmpl.format(f"CAST({ts_sql} AS BIGINT)", int(p.ms))

    def call(self, node: A.Call, *, aggs: list[str] | None, post: dict[str, V] | None) -> V:  # noqa: C901
        spec = lookup(node.name)
        assert spec is not None
        name = spec.name.lower()
        if spec.aggregate:
            if aggs is None:
                raise self.err(f"{spec.name}() is an aggregation: use it in stats", node)
            return self.aggregate(node, name, aggs)
        if name == "bin":
            p = self.period(node.args[0], "bin")
            ts = self.field(A.Field(node.start, node.start, ("@timestamp",)))
            if ts.type != TS:
                raise self.err("bin() needs @timestamp, which does not exist after stats", node)
            base = f"({ts.sql} + {self._offset})" if self._offset else ts.sql
            return V(self.floor_to(base, p), TS)
        d = self.d
        if name in ("datefloor", "dateceil"):
            p = self.period(node.args[1], name)
            when = self.expr(node.args[0], aggs=aggs, post=post)
            return V(self.floor_to(self.num(when), p, ceil=name == "dateceil"), TS)
        args = [self.expr(a, aggs=aggs, post=post) for a in node.args]
        if name in ("abs", "ceil", "floor", "log", "sqrt", "greatest", "least"):
            return V(f"{d.SIMPLE_FUNCTIONS[name]}({', '.join(self.num(a) for a in args)})", NUM)
        if name in ("toupper", "tolower", "strlen", "ltrim", "rtrim", "trim", "replace"):
            rtype = NUM if name == "strlen" else STR
            return V(f"{d.SIMPLE_FUNCTIONS[name]}({', '.join(self.stext(a) for a in args)})", rtype)
        if name == "concat":
            return V(f"concat({', '.join(self.stext(a) for a in args)})", STR)
        if name == "substr":
            start = f"{d.TO_INT.format(self.num(args[1]))} + 1"
            if len(args) == 3:
                return V(
                    f"substr({self.stext(args[0])}, {start}, {d.TO_INT.format(self.num(args[2]))})",
                    STR,
                )
            return V(f"substr({self.stext(args[0])}, {start})", STR)
        if name == "strcontains" and len(args) == 2:
            return V(
                f"CAST(coalesce({d.CONTAINS.format(self.stext(args[0]), self.stext(args[1]))}, FALSE) AS INTEGER)",
                NUM,
            )
        if name == "frommillis":  # out of range: absent, as an unparsable time is
            return V(d.TRY_INT.format(self.num(args[0])), TS)
        if name == "tomillis":
            return V(self.num(args[0]), NUM)
        if name == "now":
            return V(d.NOW_SECONDS, NUM)
        if name == "ispresent":
            return V(f"({args[0].sql} IS NOT NULL)", BOOL)
        if name == "coalesce":
            return self.unify("coalesce", args)
        if name == "if":
            c = self.truth(args[0])
            rest = self.unify_list(args[1:])
            other = rest[1].sql if len(rest) > 1 else "NULL"
            return V(f"(CASE WHEN {c} THEN {rest[0].sql} ELSE {other} END)", rest[0].type)
        if name == "case":
            pairs = args[: len(args) - len(args) % 2]
            default = args[-1] if len(args) % 2 else None
            vals = self.unify_list(
                [pairs[i + 1] for i in range(0, len(pairs), 2)] + ([default] if default else [])
            )
            whens = " ".join(
                f"WHEN {self.truth(pairs[i])} THEN {vals[i // 2].sql}"
                for i in range(0, len(pairs), 2)
            )
            dflt = f" ELSE {vals[-1].sql}" if default else ""
            return V(f"(CASE {whens}{dflt} END)", vals[0].type)
        if name == "jsonparse":
            if args[0].type == JSON:
                return args[0]
            return V(d.JSON_PARSE.format(self.text(args[0])), JSON)
        if name == "jsonstringify":
            a = args[0]
            return V(
                f"CAST(json({a.sql}) AS VARCHAR)"
                if a.type == JSON
                else f"CAST(to_json({a.sql}) AS VARCHAR)",
                STR,
            )
        new = self.call_new(name, node, args)
        if new is not None:
            return new
        if name.startswith("isvalidip"):
            version = {"isvalidip": 0, "isvalidipv4": 4, "isvalidipv6": 6}[name]
            return V(d.IP_VALID.format(self.text(args[0]), version), BOOL)
        if name.endswith("insubnet"):
            version = {"isipinsubnet": 0, "isipv4insubnet": 4, "isipv6insubnet": 6}[name]
            return V(d.IP_IN_SUBNET.format(self.text(args[0]), self.text(args[1]), version), BOOL)
        raise self.err(f"{spec.name}() is not supported locally", node)  # pragma: no cover

    def call_new(self, name: str, node: A.Call, args: list[V]) -> V | None:
        """The functions AWS's pages added; None for the others."""
        t = [self.text(a) if name in _STRUCTURE_ARGS else self.stext(a) for a in args]
        template = _NEW_CALL_SQL.get(name)
        if template is not None:
            sql, typ = template
            return V(sql.format(*t), typ)
        method = _NEW_CALLS.get(name)
        if method is None:
            return None
        fn: Callable[[str, A.Call, list[V], list[str]], V | None] = getattr(self, method)
        return fn(name, node, args, t)

    def call_number(self, name: str, node: A.Call, args: list[V], t: list[str]) -> V:
        """round, haversine, tonumber/todouble, toint/tolong, dectohex."""
        if name == "round":
            digits = f"CAST({self.num(args[1])} AS INTEGER)" if len(args) > 1 else "0"
            return V(f"round({self.num(args[0])}, {digits})", NUM)
        if name == "haversine":
            la1, lo1, la2, lo2 = (f"radians({self.num(a)})" for a in args)
            return V(
                f"(2 * 6371 * asin(sqrt(power(sin(({la2} - {la1}) / 2), 2) + cos({la1}) * cos({la2}) "
                f"* power(sin(({lo2} - {lo1}) / 2), 2))))",
                NUM,
            )
        if name in ("tonumber", "todouble"):
            return V(self.num(args[0]), NUM)
        if name in ("toint", "tolong"):
            width = "INTEGER" if name == "toint" else "BIGINT"
            return V(f"TRY_CAST(trunc({self.num(args[0])}) AS {width})", NUM)
        x = f"TRY_CAST(trunc({self.num(args[0])}) AS BIGINT)"  # dectohex
        return V(
            f"CASE WHEN {x} < 0 THEN '-0x' || lower(hex(-{x})) ELSE '0x' || lower(hex({x})) END",
            STR,
        )

    def call_time(self, name: str, node: A.Call, args: list[V], t: list[str]) -> V:
        """parsedate, formatdate/strftime and the query's own times."""
        if name == "parsedate":
            fmt = _java_format(self, node.args[1])
            self.utc_only(node, 2)
            return V(f"epoch_ms(try_strptime({t[0]}, {sql_string(fmt)}))", NUM)
        if name in ("formatdate", "strftime"):
            self.utc_only(node, 2)
            ms = self.num(args[0])
            return V(
                f"CASE WHEN abs({ms}) < 9e15 THEN strftime(make_timestamp(CAST({ms} AS BIGINT) * 1000), {t[1]}) END",
                STR,
            )
        lo = str(self.window[0]) if self.window[0] is not None else "(SELECT min(ts) FROM events)"
        hi = str(self.window[1]) if self.window[1] is not None else "(SELECT max(ts) FROM events)"
        sql = {"querystarttime": lo, "queryendtime": hi}.get(name, f"({hi} - {lo})")
        return V(sql, NUM)

    def call_text(self, name: str, node: A.Call, args: list[V], t: list[str]) -> V | None:
        """isnumeric, regexreplace and strcontains with its case flag (None without it)."""
        if name == "isnumeric":
            return V(f"coalesce({self.d.IS_NUMBER.format(f'trim({t[0]})')}, FALSE)", BOOL)
        if name == "regexreplace":
            if isinstance(node.args[1], A.Literal) and node.args[1].kind == "str":
                _check_regex(self, node.args[1].value, node.args[1])
            return V(f"regexp_replace({t[0]}, {t[1]}, {t[2]}, 'g')", STR)
        if len(args) != 3:  # strcontains
            return None
        ci = self.truth(args[2])
        return V(
            f"CAST(coalesce(CASE WHEN {ci} THEN contains(lower({t[0]}), lower({t[1]})) "
            f"ELSE contains({t[0]}, {t[1]}) END, FALSE) AS INTEGER)",
            NUM,
        )

    def utc_only(self, node: A.Call, i: int) -> None:
        """A time-zone argument: locally only UTC (DuckDB here has no time-zone data)."""
        if len(node.args) <= i:
            return
        tz = node.args[i]
        if not (isinstance(tz, A.Literal) and tz.kind == "str" and tz.value.upper() in _UTC):
            raise self.err(
                f"{node.name}() runs locally in UTC only", tz, expected='"UTC" as the time zone'
            )

    def unify_list(self, vals: list[V]) -> list[V]:
        types = {v.type for v in vals if v.type != NULLT and v.sql != "NULL"}
        if len(types) <= 1:
            return vals
        if types <= {NUM, TS}:
            return [V(self.num(v), NUM) for v in vals]
        return [V(self.text(v), STR) for v in vals]

    def unify(self, fn: str, vals: list[V]) -> V:
        u = self.unify_list(vals)
        return V(f"{fn}({', '.join(v.sql for v in u)})", u[0].type)

    def aggregate(self, node: A.Call, name: str, aggs: list[str]) -> V:
        for a in node.args:
            if _has_agg(a):
                raise self.err("aggregations cannot be nested", a)
        args = [self.expr(a) for a in (node.args[:1] if name == "rate" else node.args)]
        fn: Callable[[A.Call, str, list[V]], tuple[str, str]] = getattr(
            self, _AGGREGATES.get(name, "agg_sorts")
        )
        sql, t = fn(node, name, args)
        aid = f"a{len(aggs) + 1}_{self.new_id('')}"
        aggs.append(f"{sql} AS {aid}")
        return V(aid, t)

    def agg_plain(self, node: A.Call, name: str, args: list[V]) -> tuple[str, str]:
        """The aggregations without arguments to check: count … rate."""
        if name == "count":
            return ("count(*)" if node.star or not args else f"count({args[0].sql})"), NUM
        if name == "count_distinct":
            return f"count(DISTINCT {args[0].sql})", NUM
        if name in ("sum", "avg"):
            return f"{name}({self.num(args[0])})", NUM
        if name == "stddev":
            return self.d.STDDEV.format(self.num(args[0])), NUM
        if name in ("min", "max"):
            arg = args[0]
            return f"{name}({self.num(arg)})", arg.type if arg.type in _NUMERIC else NUM
        if name == "countovertime":  # events with the field, per group (per bin with by bin)
            return f"count({args[0].sql})", NUM
        if name == "sumovertime":
            return f"sum({self.num(args[0])})", NUM
        return self.rate(node, args), NUM  # rate

    def agg_percentile(self, node: A.Call, name: str, args: list[V]) -> tuple[str, str]:
        """pct / percentile: the percentile (0 to 100) a literal."""
        pn = node.args[1]
        if not (isinstance(pn, A.Literal) and pn.kind == "num" and 0 <= pn.number <= 100):
            raise self.err(f"{node.name}() needs a percentile between 0 and 100", pn)
        arg = args[0]
        t = arg.type if arg.type in _NUMERIC else NUM
        return self.d.PERCENTILE.format(self.num(arg), sql_number(pn.number / 100)), t

    def agg_by_time(self, node: A.Call, name: str, args: list[V]) -> tuple[str, str]:
        """earliest / latest: the value at the group's first / last @timestamp."""
        ts = self.scope.cols.get("@timestamp")
        if ts is None or not self.scope.raw:
            raise self.err(
                f"{node.name}() needs @timestamp, which does not exist after stats", node
            )
        tmpl = self.d.ARG_MIN if name == "earliest" else self.d.ARG_MAX
        return tmpl.format(args[0].sql, ts.id), args[0].type

    def agg_histogram(self, node: A.Call, name: str, args: list[V]) -> tuple[str, str]:
        b = node.args[1]
        if not (isinstance(b, A.Literal) and b.kind == "num" and b.number == int(b.number)):
            raise self.err("histogram() needs a whole number of buckets", b)
        if not 1 <= b.number <= 1000:
            raise self.err("histogram() takes 1 to 1000 buckets", b)
        return f"_fd_histogram(list({self.num(args[0])}), {sql_number(b.number)})", STR

    def agg_sorts(self, node: A.Call, name: str, args: list[V]) -> tuple[str, str]:
        """sortsfirst / sortslast: numbers by value, text in natural order."""
        d = self.d
        arg = args[0]
        tmpl = d.ARG_MIN if name == "sortsfirst" else d.ARG_MAX
        if arg.type in _NUMERIC:
            return f"{'min' if name == 'sortsfirst' else 'max'}({arg.sql})", arg.type
        return tmpl.format(self.text(arg), d.NATURAL_KEY.format(self.text(arg))), STR

    def rate(self, node: A.Call, args: list[V]) -> str:
        """rate(f, interval): the change of f from the group's earliest to its latest event
        (numeric values only), per interval: (last - first) / (t_last - t_first) * interval."""
        p = node.args[1]
        if not (isinstance(p, A.Literal) and p.kind == "duration") or p.ms <= 0:
            raise self.err("rate() needs a fixed time period like 1m or 1h", p)
        ts = self.scope.cols.get("@timestamp")
        if ts is None or not self.scope.raw:
            raise self.err("rate() needs @timestamp, which does not exist after stats", node)
        x = self.num(args[0])
        ok = f"FILTER (WHERE {x} IS NOT NULL)"
        return (
            f"((arg_max({x}, {ts.id}) {ok} - arg_min({x}, {ts.id}) {ok}) / "
            f"NULLIF(max({ts.id}) {ok} - min({ts.id}) {ok}, 0) * {int(p.ms)})"
        )


# command (its AST class's name) -> the Planner method that plans it
_COMMANDS = {
    "Fields": "cmd_fields",
    "Filter": "cmd_filter",
    "Stats": "cmd_stats",
    "Sort": "cmd_sort",
    "Limit": "cmd_limit",
    "Parse": "cmd_parse",
    "JsonField": "cmd_json_field",
    "Expand": "cmd_expand",
    "AddTotals": "cmd_addtotals",
    "Dedup": "cmd_dedup",
    "Unnest": "cmd_unnest",
    "Unmask": "cmd_unmask",
    "Pattern": "cmd_pattern",
    "Source": "cmd_source",
    "Join": "cmd_join",
    "Lookup": "cmd_lookup",
    "Compare": "cmd_compare",
    "RelevantFields": "cmd_relevant",
    "Anomaly": "cmd_anomaly",
    "CloudOnly": "cmd_cloud_only",
    # the rest of AWS's command table
    "Autoregress": "cmd_autoregress",
    "Accum": "cmd_accum",
    "FillDown": "cmd_filldown",
    "FillMissing": "cmd_fillmissing",
    "CountFrequent": "cmd_countfrequent",
    "Sessionize": "cmd_sessionize",
    "Outlier": "cmd_outlier",
    "CidrLookup": "cmd_cidrlookup",
    "AppendCols": "cmd_appendcols",
}

# the functions AWS's pages added that are one SQL template over their arguments as text
_NEW_CALL_SQL: dict[str, tuple[str, str]] = {
    "messagesize": ("octet_length(encode({0}))", NUM),
    # AWS's string functions page: "Number", 1 when missing or empty (or only white space)
    "isempty": ("CAST(coalesce({0}, '') = '' AS INTEGER)", NUM),
    "isblank": ("CAST(coalesce(regexp_full_match({0}, '\\s*'), TRUE) AS INTEGER)", NUM),
    "jsonarraysize": (
        "CASE WHEN json_valid({0}) AND json_type({0}) = 'ARRAY' THEN json_array_length({0}) END",
        NUM,
    ),
    "jsonarraycontains": (
        "coalesce(CASE WHEN json_valid({0}) AND json_type({0}) = 'ARRAY' THEN "
        "list_contains(json_extract_string({0}, '$[*]'), {1}) END, FALSE)",
        BOOL,
    ),
    "ipv4tonumber": ("_fd_ip_num({0})", NUM),
    **{
        n: ("_fd_ip_kind({0}, " + sql_string(n[2:-2]) + ")", BOOL)
        for n in ("isprivateip", "ispublicip", "isreservedip")
    },
    "startswith": ("CAST(coalesce(starts_with({0}, {1}), FALSE) AS INTEGER)", NUM),
    "endswith": ("CAST(coalesce(suffix({0}, {1}), FALSE) AS INTEGER)", NUM),
    "urlencode": ("url_encode({0})", STR),
    "urldecode": ("_fd_text_fn({0}, 'urldecode')", STR),
    "base64encode": ("to_base64(encode({0}))", STR),
    **{n: ("_fd_text_fn({0}, " + sql_string(n) + ")", STR) for n in ("base64decode", "hextoascii")},
    "hextodec": ("TRY_CAST(_fd_text_fn({0}, 'hextodec') AS DOUBLE)", NUM),
    "split": ("to_json(string_split({0}, {1}))", JSON),
    "md5": ("md5({0})", STR),
    "sha256": ("sha256({0})", STR),
}
# AWS functions page, "Datetime functions": "The cap for ms is 1000, the caps for s and m are
# 60, and the cap for h is 24" (bin(300s) runs as 60 seconds); unit ms -> the cap
_PERIOD_CAPS = {1: 1000, 1000: 60, 60_000: 60, 3_600_000: 24}


def _capped(p: A.Literal) -> A.Literal:
    """A period of bin/datefloor/dateceil as CloudWatch runs it: over its unit's cap, the cap."""
    unit = unit_ms(p.value.lstrip("0123456789.")) or 0
    cap = _PERIOD_CAPS.get(unit)
    if cap is None or p.number <= cap:
        return p
    return replace(p, number=float(cap), ms=cap * unit)


# functions whose first argument may be a map or list (the others see one as absent)
_STRUCTURE_ARGS = frozenset({"jsonarraysize", "jsonarraycontains"})
# the others -> the Planner method that plans them
_NEW_CALLS = {
    **dict.fromkeys(
        ("round", "haversine", "tonumber", "todouble", "toint", "tolong", "dectohex"),
        "call_number",
    ),
    **dict.fromkeys(
        (
            "parsedate",
            "formatdate",
            "strftime",
            "querystarttime",
            "queryendtime",
            "querytimerange",
        ),
        "call_time",
    ),
    **dict.fromkeys(("isnumeric", "regexreplace", "strcontains"), "call_text"),
}

# aggregation -> the Planner method that plans it (any other: agg_sorts, sortsfirst/sortslast)
_AGGREGATES = {
    **dict.fromkeys(
        (
            "count",
            "count_distinct",
            "sum",
            "avg",
            "stddev",
            "min",
            "max",
            "countovertime",
            "sumovertime",
            "rate",
        ),
        "agg_plain",
    ),
    **dict.fromkeys(("pct", "percentile"), "agg_percentile"),
    **dict.fromkeys(("earliest", "latest"), "agg_by_time"),
    "histogram": "agg_histogram",
}


def _months_back(ms: int) -> int:
    """The same time one calendar month earlier (the day clamped to the month's length)."""
    import calendar
    from datetime import datetime, timezone

    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    y, m = (dt.year, dt.month - 1) if dt.month > 1 else (dt.year - 1, 12)
    day = min(dt.day, calendar.monthrange(y, m)[1])
    return int(dt.replace(year=y, month=m, day=day).timestamp() * 1000)


def _ts_words(lo: int, hi: int) -> str:
    from datetime import datetime, timezone

    f = "%Y-%m-%d %H:%M:%S"
    a = datetime.fromtimestamp(lo / 1000, tz=timezone.utc).strftime(f)
    b = datetime.fromtimestamp(hi / 1000, tz=timezone.utc).strftime(f)
    return f"{a}..{b}"


def _fields_in(node: A.Node) -> list[A.Field]:
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if isinstance(n, A.Field):
            out.append(n)
        stack.extend(children(n))
    return out


def _canon(x: object) -> object:
    """An expression without its positions: equal for the same expression written anywhere."""
    if isinstance(x, A.Node):
        return (type(x).__name__,) + tuple(
            _canon(getattr(x, f.name)) for f in fields(x) if f.name not in ("start", "end")
        )
    if isinstance(x, tuple):
        return tuple(_canon(i) for i in x)
    return x  # the parser spells function names canonically


def _has_agg(node: A.Node) -> bool:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, A.Call):
            spec = lookup(n.name)
            if spec is not None and spec.aggregate:
                return True
        stack.extend(children(n))
    return False


def _json_path(parts: tuple[str, ...]) -> str:
    out = "$"
    for p in parts:
        if p.isascii() and p.isdigit():
            out += f"[{int(p)}]"
        else:
            out += '."' + p.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return out


_UTC = ("UTC", "Z", "GMT", "+00:00", "ETC/UTC")
# Java DateTimeFormatter letters (parseDate) as strptime directives; longest first
_JAVA = (
    ("yyyy", "%Y"),
    ("uuuu", "%Y"),
    ("yy", "%y"),
    ("MMMM", "%B"),
    ("MMM", "%b"),
    ("MM", "%m"),
    ("dd", "%d"),
    ("HH", "%H"),
    ("hh", "%I"),
    ("mm", "%M"),
    ("ss", "%S"),
    ("SSSSSS", "%f"),
    ("SSS", "%g"),
    ("EEEE", "%A"),
    ("EEE", "%a"),
    ("a", "%p"),
    ("XXX", "%z"),
    ("Z", "%z"),
    ("M", "%-m"),
    ("d", "%-d"),
    ("H", "%-H"),
)


def _java_format(planner: Planner, node: A.Node) -> str:
    """parseDate's Java pattern as a strptime format, or a positioned error."""
    if not (isinstance(node, A.Literal) and node.kind == "str"):
        raise planner.err("parseDate() needs the format as a string literal", node)
    src, out, i = node.value, [], 0
    while i < len(src):
        if src[i] == "'":
            j = src.find("'", i + 1)
            j = len(src) if j == -1 else j
            out.append(src[i + 1 : j].replace("%", "%%") or "'")
            i = j + 1
            continue
        for pat, rep in _JAVA:
            if src.startswith(pat, i):
                out.append(rep)
                i += len(pat)
                break
        else:
            if src[i].isalpha():
                raise planner.err(
                    f"parseDate() format letter {src[i]!r} is not supported locally",
                    node,
                    expected="yyyy MM dd HH mm ss SSS (and literals in quotes)",
                )
            out.append("%%" if src[i] == "%" else src[i])
            i += 1
    return "".join(out)


def _glob_regex(glob: str) -> str:
    """A parse glob as a regex: literal text, each * a lazy group (the last one greedy at the end)."""
    pieces = glob.split("*")
    out = "^" if glob.startswith("*") else ""
    for i, piece in enumerate(pieces):
        out += _escape(piece)
        if i < len(pieces) - 1:
            last_star_at_end = i == len(pieces) - 2 and pieces[-1] == ""
            out += "(.*)" if last_star_at_end else "(.*?)"
    return out


def _escape(text: str) -> str:
    """Escape regex metacharacters only (RE2 rejects escapes of plain letters and spaces)."""
    return "".join("\\" + ch if ch in ".^$*+?()[]{}|\\/" else ch for ch in text)


def _re2(pattern: str) -> str:
    """Named groups in the (?P<name>) spelling RE2 reads."""
    return re.sub(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>", r"(?P<\1>", pattern)


def _py_regex(rx: str) -> re.Pattern[str]:
    """Compile with Python for checks and group numbers; RE2 allows inline flags anywhere."""
    return re.compile(re.sub(r"\(\?[imsU]+\)", "", rx))


def _check_regex(planner: Planner, rx: str, node: A.Node) -> None:
    try:
        _py_regex(rx)
    except re.error as exc:
        raise planner.err(f"invalid regular expression: {exc}", node) from None


def plan(
    query: A.Query | str,
    *,
    default_limit: int | None = Planner.DEFAULT_LIMIT,
    window: tuple[int | None, int | None] = (None, None),
    lookups: dict[str, list[str]] | None = None,
    now_ms: int | None = None,
    default_source: str = "",
) -> Plan:
    """Plan a parsed query (or query text); raises QuerySyntaxError for what cannot run.

    ``window``: the query's time range (ms, inclusive); ``lookups``: the columns of each
    lookup table by name (``--lookup NAME=FILE``)."""
    if isinstance(query, str):
        from fdscope.insights._parser import parse

        query = parse(query)
    return Planner(
        query,
        default_limit=default_limit,
        window=window,
        lookups=lookups,
        now_ms=now_ms,
        default_source=default_source,
    ).build()
