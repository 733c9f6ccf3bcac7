"""Stage 2: the parser. Tokens in, a :class:`~fdscope.insights._ast.Query` out.

Recursive descent; keywords and function names are case-insensitive; every
error is a :class:`QuerySyntaxError` pointing at the offending token.
"""

from __future__ import annotations

from fdscope.insights import _ast as A
from fdscope.insights._errors import QuerySyntaxError, closest
from fdscope.insights._functions import FUNCTIONS, lookup
from fdscope.insights._lexer import (
    DURATION,
    EOF,
    IDENT,
    NUMBER,
    OP,
    REGEX,
    STRING,
    TIME,
    Token,
    tokenize,
    unit_ms,
)

COMMANDS = (
    "fields",
    "display",
    "filter",
    "where",
    "filterIndex",
    "stats",
    "sort",
    "limit",
    "parse",
    "dedup",
    "unnest",
    "unmask",
    "pattern",
    "SOURCE",
    "diff",
    "anomaly",
    "lookup",
    "join",
    "addtotals",
    "expand",
    "logcompare",
    "relevantfields",
    "json",
    # the rest of AWS's command table (CWL_QuerySyntax), one page each
    "autoregress",
    "filldown",
    "fillmissing",
    "cidrlookup",
    "outlier",
    "accum",
    "appendcols",
    "sessionize",
    "countFrequent",
    "count_frequent",
)
_DIFF_PERIODS = {"previousday": "day", "previousweek": "week", "previousmonth": "month"}
_COMPARE = ("=", "==", "!=", "<", "<=", ">", ">=")
_ARITH = {"+": 1, "-": 1, "*": 2, "/": 2, "%": 2}
MAX_NESTING = 100  # parentheses, lists and calls inside one another
MAX_DEPTH = 200  # operations inside one another (a chain of and/or is one)
# words that end an expression list item
_RESERVED = frozenset(
    {"as", "by", "and", "or", "not", "like", "in", "asc", "desc", "into", "offset"}
)


def parse(query: str) -> A.Query:
    """Parse a Logs Insights query; returns a Query, raises QuerySyntaxError."""
    return _Parser(query, tokenize(query)).query()


class _Parser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.toks = tokens
        self.i = 0
        self.nesting = 0
        self.sub = 0  # inside a subquery: ``)`` ends a command too

    # ---- helpers ---------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def advance(self) -> Token:
        t = self.toks[self.i]
        if t.kind != EOF:
            self.i += 1
        return t

    def error(self, msg: str, tok: Token | None = None, **kw: str | None) -> QuerySyntaxError:
        t = tok or self.tok
        return QuerySyntaxError(msg, self.text, t.start, **kw)  # type: ignore[arg-type]

    def describe(self, t: Token) -> str:
        if t.kind == EOF:
            return "end of query"
        return repr(self.text[t.start : t.end])

    def is_op(self, *ops: str) -> bool:
        return self.tok.kind == OP and self.tok.value in ops

    def expect_op(self, op: str) -> Token:
        if not self.is_op(op):
            raise self.error(f"unexpected {self.describe(self.tok)}", expected=f"'{op}'")
        return self.advance()

    def at_command_end(self) -> bool:
        return self.tok.kind == EOF or self.is_op("|") or (self.sub > 0 and self.is_op(")"))

    def src(self, start: int, end: int) -> str:
        return " ".join(self.text[start:end].split())

    # ---- query and commands ----------------------------------------------------------
    def query(self) -> A.Query:
        cmds: list[A.Command] = []
        if self.tok.kind == EOF:
            raise self.error("empty query", expected="a command such as fields, filter or stats")
        while True:
            cmds.append(self.command())
            if self.tok.kind == EOF:
                break
            if not self.is_op("|"):
                raise self.error(
                    f"unexpected {self.describe(self.tok)} after the command",
                    expected="'|' or end of query",
                )
            self.advance()
            if self.tok.kind == EOF:
                raise self.error("query ends with '|'", expected="a command")
        return A.Query(self.text, tuple(cmds))

    def subquery(self, start: Token) -> A.Query:
        """``( SOURCE … | … )`` after ``in`` (AWS "subqueries"): the commands up to ``)``."""
        if self.sub:
            raise self.error("nested subqueries are not supported", start, expected="')'")
        self.sub += 1
        cmds: list[A.Command] = []
        try:
            while True:
                if self.tok.kind == EOF or self.is_op(")"):
                    raise self.error(
                        f"unexpected {self.describe(self.tok)}",
                        expected="a command of the subquery",
                    )
                cmds.append(self.command())
                if self.is_op(")"):
                    break
                if not self.is_op("|"):
                    raise self.error(
                        f"unexpected {self.describe(self.tok)} after the command",
                        expected="'|' or ')'",
                    )
                self.advance()
        finally:
            self.sub -= 1
        end = self.tok.end
        return A.Query(self.text[start.start : end], tuple(cmds))

    def command(self) -> A.Command:
        t = self.tok
        if t.kind != IDENT or t.quoted:
            raise self.error(
                f"unexpected {self.describe(t)}",
                expected="a command (" + ", ".join(COMMANDS[:9]) + ", ...)",
            )
        word = t.value.lower()
        method = getattr(self, "cmd_" + word.replace(".", "_"), None)
        if method is None:
            raise self.error(
                f"unknown command {t.value!r}",
                suggestion=closest(t.value, COMMANDS),
                expected="a command",
            )
        self.advance()
        cmd: A.Command = method(t)
        return cmd

    def cmd_fields(self, t: Token, display: bool = False) -> A.Command:
        # display takes aliases too: the sample queries page ends with
        # `DISPLAY loggingMessage, loggingType = "ERROR" as isError`
        items = self.items(allow_alias=True)
        return A.Fields(t.start, self.toks[self.i - 1].end, t.value, tuple(items), display=display)

    def cmd_display(self, t: Token) -> A.Command:
        return self.cmd_fields(t, display=True)

    def cmd_filter(self, t: Token, index: bool = False) -> A.Command:
        if self.at_command_end():
            raise self.error("filter needs a condition", expected="a condition")
        cond = self.expr()
        return A.Filter(t.start, cond.end, t.value, cond, index=index)

    cmd_where = cmd_filter

    def cmd_filterindex(self, t: Token) -> A.Command:
        return self.cmd_filter(t, index=True)

    def cmd_stats(self, t: Token) -> A.Command:
        items = self.items(allow_alias=True)
        by: list[A.Item] = []
        offset = None
        if self.tok.is_word("by"):
            self.advance()
            by = self.items(allow_alias=True)
        if self.tok.is_word("offset"):
            self.advance()
            offset = self.duration("offset")
        return A.Stats(t.start, self.toks[self.i - 1].end, t.value, tuple(items), tuple(by), offset)

    def cmd_sort(self, t: Token) -> A.Command:
        if self.tok.is_word("by"):
            self.advance()
        keys: list[A.SortKey] = []
        while True:
            if self.at_command_end():
                raise self.error("sort needs a field", expected="a field")
            e = self.expr()
            desc: bool | None = None
            if self.tok.is_word("asc", "desc"):
                desc = self.advance().value.lower() == "desc"
            keys.append(A.SortKey(e, desc, self.src(e.start, e.end)))
            if not self.is_op(","):
                break
            self.advance()
        return A.Sort(t.start, self.toks[self.i - 1].end, t.value, tuple(keys))

    def cmd_limit(self, t: Token) -> A.Command:
        any_ = False
        if self.tok.is_word("any") and self.peek().kind == NUMBER:
            self.advance()
            any_ = True
        n = self.tok
        if n.kind != NUMBER or not n.value.isdigit():
            raise self.error(f"unexpected {self.describe(n)}", expected="a whole number of rows")
        if int(n.value) == 0:  # StartQuery's limit is 1 to 10,000; the query's too
            raise self.error(
                "limit 0 returns nothing", expected="a whole number of rows, 1 or more"
            )
        if int(n.value) > 100_000:  # AWS "limit": up to 100,000
            raise self.error(
                "limit is at most 100,000 rows", expected="a whole number from 1 to 100,000"
            )
        self.advance()
        return A.Limit(t.start, n.end, t.value, int(n.value), any_)

    def cmd_parse(self, t: Token) -> A.Command:
        if self.tok.kind in (STRING, REGEX) or (
            self.tok.is_word("logfmt", "csv") and self.peek().is_word("as")
        ):
            source: A.Node = A.Field(t.end, t.end, ("@message",))
        else:
            source = self.primary()
        if self.tok.is_word("logfmt", "csv"):
            return self.parse_keyed(t, source)
        p = self.tok
        if p.kind not in (STRING, REGEX):
            raise self.error(
                f"unexpected {self.describe(p)}", expected='a pattern: "glob with *" or /regex/'
            )
        self.advance()
        pat = A.Literal(p.start, p.end, "str" if p.kind == STRING else "regex", p.value)
        names: list[str] = []
        if self.tok.is_word("as"):
            self.advance()
            names = self.parse_names()
        self.check_parse_names(p, pat, names)
        multi = False
        if self.tok.is_word("multi"):
            if pat.kind != "regex":
                raise self.error("multi needs a /regex/ pattern", expected="'|'")
            self.advance()
            multi = True
        return A.Parse(
            t.start,
            self.toks[self.i - 1].end,
            t.value,
            source,
            pat,
            tuple(names),
            "glob" if pat.kind == "str" else "regex",
            multi,
        )

    def parse_keyed(self, t: Token, source: A.Node) -> A.Command:
        """parse … logfmt as m / parse … csv as a, b, c (the pattern-less modes)."""
        mode = self.advance().value.lower()
        if not self.tok.is_word("as"):
            raise self.error(
                f"unexpected {self.describe(self.tok)}", expected=f"'as' and names after {mode}"
            )
        self.advance()
        aliases = self.parse_names()
        if mode == "logfmt" and len(aliases) != 1:
            raise self.error(
                "parse logfmt takes one name (the map of its keys)", t, expected="as NAME"
            )
        return A.Parse(
            t.start, self.toks[self.i - 1].end, t.value, source, None, tuple(aliases), mode
        )

    def parse_names(self) -> list[str]:
        """The comma-separated field names after parse's 'as' (at least one)."""
        names = [self.name("a field name")]
        while self.is_op(","):
            self.advance()
            names.append(self.name("a field name"))
        return names

    def check_parse_names(self, p: Token, pat: A.Literal, names: list[str]) -> None:
        """The names after 'as' fit the pattern: one per '*' of a glob, the groups of a regex."""
        if pat.kind == "str":
            stars = p.value.count("*")
            if stars == 0:
                raise self.error(
                    "a parse pattern needs at least one *", p, expected='"text * text"'
                )
            if len(names) != stars:
                raise self.error(
                    f"the pattern has {stars} '*' but {len(names)} names follow 'as'",
                    p,
                    expected=f"{stars} names after as",
                )
            return
        groups = _named_groups(p.value)
        if not groups and not names:
            raise self.error(
                "a parse regex needs named groups (?<name>...)", p, expected="(?<name>...)"
            )
        if names and len(names) != max(len(groups), _group_count(p.value)):
            raise self.error("the names after 'as' do not match the regex groups", p)

    def cmd_dedup(self, t: Token) -> A.Command:
        fields: list[A.Field] = []
        while True:
            tok = self.tok
            if tok.kind != IDENT:
                raise self.error(f"unexpected {self.describe(tok)}", expected="a field name")
            self.advance()
            fields.append(A.Field(tok.start, tok.end, tok.parts))
            if not self.is_op(","):
                break
            self.advance()
        return A.Dedup(t.start, self.toks[self.i - 1].end, t.value, tuple(fields))

    def cmd_unnest(self, t: Token) -> A.Command:
        src = self.primary()
        if not self.tok.is_word("into"):
            raise self.error(
                f"unexpected {self.describe(self.tok)}", expected="'into' and a field name"
            )
        self.advance()
        alias = self.name("a field name")
        return A.Unnest(t.start, self.toks[self.i - 1].end, t.value, src, alias)

    def cmd_unmask(self, t: Token) -> A.Command:
        src = None if self.at_command_end() else self.primary()
        return A.Unmask(t.start, self.toks[self.i - 1].end, t.value, src)

    def cmd_pattern(self, t: Token) -> A.Command:
        src: A.Node = (
            A.Field(t.end, t.end, ("@message",)) if self.at_command_end() else self.primary()
        )
        return A.Pattern(t.start, self.toks[self.i - 1].end, t.value, src)

    # ---- the rest of AWS's command table ----------------------------------------------
    def end_of(self) -> int:
        return self.toks[self.i - 1].end

    def field_tok(self, what: str) -> A.Field:
        tok = self.tok
        if tok.kind != IDENT or tok.is_word("as"):
            raise self.error(f"unexpected {self.describe(tok)}", expected=what)
        self.advance()
        return A.Field(tok.start, tok.end, tok.parts)

    def fields_comma(self, what: str) -> list[A.Field]:
        out = [self.field_tok(what)]
        while self.is_op(","):
            self.advance()
            out.append(self.field_tok(what))
        return out

    def alias(self) -> str | None:
        if not self.tok.is_word("as"):
            return None
        self.advance()
        return self.name("a name after 'as'")

    def bool_opt(self, opts: dict[str, Token], key: str, default: bool) -> bool:
        if key not in opts:
            return default
        v = opts[key].value.lower()
        if v not in ("true", "false"):
            raise self.error(f"{key}= takes true or false", opts[key], expected="true or false")
        return v == "true"

    def command_end(self, expected: str) -> None:
        if not self.at_command_end():
            raise self.error(f"unexpected {self.describe(self.tok)}", expected=expected)

    def cmd_autoregress(self, t: Token) -> A.Command:
        """``autoregress f [AS alias] [p=N[-M]]`` (AWS "autoregress")."""
        f = self.field_tok("the field to lag")
        alias = self.alias()
        first = last = 1
        if self.tok.is_word("p") and self.peek().kind == OP and self.peek().value == "=":
            self.advance()
            self.advance()
            n = self.tok
            if n.kind != NUMBER or not n.value.isdigit() or int(n.value) < 1:
                raise self.error(f"unexpected {self.describe(n)}", expected="a lag of 1 or more")
            first = last = int(self.advance().value)
            if self.is_op("-"):
                self.advance()
                m = self.tok
                if m.kind != NUMBER or not m.value.isdigit() or int(m.value) < first:
                    raise self.error(
                        f"unexpected {self.describe(m)}", expected=f"a lag of {first} or more"
                    )
                last = int(self.advance().value)
            if last > 1000:
                raise self.error("a lag is at most 1000 rows", n, expected="p=1 to p=1000")
        if alias is None:
            alias = self.alias()
        self.command_end("p=N, AS <name> or '|'")
        return A.Autoregress(t.start, self.end_of(), t.value, f, alias, first, last)

    def cmd_filldown(self, t: Token) -> A.Command:
        """``filldown [f …]``: field names or ``*`` patterns (AWS "filldown")."""
        pats: list[str] = []
        while not self.at_command_end():
            tok = self.tok
            if not (tok.kind == IDENT or self.is_op("*")):
                raise self.error(
                    f"unexpected {self.describe(tok)}",
                    expected="a field name or a pattern like cpu*",
                )
            start = tok.start
            end = self.advance().end
            # a pattern: adjacent names and *s (cpu*, *_ms, a*b)
            while (self.tok.kind == IDENT or self.is_op("*")) and self.tok.start == end:
                end = self.advance().end
            text = self.text[start:end]
            pats.append(tok.value if tok.kind == IDENT and end == tok.end else text)
            if self.is_op(","):
                self.advance()
        return A.FillDown(t.start, self.end_of(), t.value, tuple(pats))

    def cmd_fillmissing(self, t: Token) -> A.Command:
        """``fillmissing [with value for f [, value for f …]]`` (AWS "fillmissing")."""
        fills: list[tuple[A.Literal, A.Field]] = []
        if self.tok.is_word("with"):
            self.advance()
            while True:
                v = self.tok
                neg = False
                if self.is_op("-") and self.peek().kind == NUMBER:
                    neg = True
                    self.advance()
                    v = self.tok
                if v.kind == NUMBER:
                    num = -float(v.value) if neg else float(v.value)
                    lit = A.Literal(v.start, v.end, "num", ("-" if neg else "") + v.value, num)
                elif v.kind == STRING:
                    lit = A.Literal(v.start, v.end, "str", v.value)
                else:
                    raise self.error(
                        f"unexpected {self.describe(v)}", expected='a number or a "string"'
                    )
                self.advance()
                if not self.tok.is_word("for"):
                    raise self.error(
                        f"unexpected {self.describe(self.tok)}", expected="for <field>"
                    )
                self.advance()
                fills.append((lit, self.field_tok("a field of the stats")))
                if not self.is_op(","):
                    break
                self.advance()
        self.command_end("with <value> for <field>, or '|'")
        return A.FillMissing(t.start, self.end_of(), t.value, tuple(fills))

    def cmd_cidrlookup(self, t: Token) -> A.Command:
        """``cidrlookup table ip [AS col] OUTPUT|OUTPUTNEW col [AS f], …`` (AWS "cidrlookup")."""
        table = self.name("the name of a lookup table")
        ip = self.field_tok("the field holding an IP address")
        cidr = self.alias()
        if not self.tok.is_word("output", "outputnew"):
            raise self.error(
                f"unexpected {self.describe(self.tok)}",
                suggestion=closest(self.tok.value, ["OUTPUT", "OUTPUTNEW"])
                if self.tok.kind == IDENT
                else None,
                expected="OUTPUT or OUTPUTNEW and the fields to add",
            )
        new_only = self.advance().value.lower() == "outputnew"
        outs: list[tuple[str, str]] = []
        while True:
            col = self.name("a field of the lookup table")
            outs.append((col, self.alias() or col))
            if not self.is_op(","):
                break
            self.advance()
        self.command_end("',' or '|'")
        return A.CidrLookup(t.start, self.end_of(), t.value, table, ip, cidr, new_only, tuple(outs))

    def cmd_outlier(self, t: Token) -> A.Command:
        """``outlier [action=…] [param=n] [uselower=b] [mark=b] f …`` (AWS "outlier")."""
        opts = self.options(("action", "param", "uselower", "mark"))
        remove = False
        if "action" in opts:
            a = opts["action"].value.lower()
            if a not in ("remove", "transform"):
                raise self.error(
                    f"unknown action {opts['action'].value!r}",
                    opts["action"],
                    suggestion=closest(opts["action"].value, ["remove", "transform"]),
                    expected="remove or transform",
                )
            remove = a == "remove"
        param = 2.5
        if "param" in opts:
            p = opts["param"]
            try:
                param = float(p.value)
            except ValueError:
                param = -1.0
            if p.kind != NUMBER or not param >= 0 or param != param or param > 1e12:
                raise self.error(
                    "param= takes a number, 0 or more", p, expected="an IQR multiplier"
                )
        uselower = self.bool_opt(opts, "uselower", False)
        mark = self.bool_opt(opts, "mark", False)
        fields = []
        while not self.at_command_end():
            fields.append(self.field_tok("a numeric field"))
            if self.is_op(","):
                self.advance()
        if not fields:
            raise self.error("outlier needs a field", expected="one or more numeric fields")
        return A.Outlier(
            t.start, self.end_of(), t.value, tuple(fields), remove, param, uselower, mark
        )

    def cmd_accum(self, t: Token) -> A.Command:
        """``accum f [AS out]`` (AWS "accum")."""
        f = self.field_tok("the numeric field to accumulate")
        alias = self.alias()
        self.command_end("AS <name> or '|'")
        return A.Accum(t.start, self.end_of(), t.value, f, alias)

    def cmd_appendcols(self, t: Token) -> A.Command:
        """``appendcols [override=b] [max=n] ( subquery )`` (AWS "appendcols")."""
        opts = self.options(("override", "max"))
        override = self.bool_opt(opts, "override", False)
        max_rows = 10_000
        if "max" in opts:
            m = opts["max"]
            if m.kind != NUMBER or not m.value.isdigit() or not 1 <= int(m.value) <= 100_000:
                raise self.error("max= takes 1 to 100,000 rows", m, expected="a whole number")
            max_rows = int(m.value)
        start = self.expect_op("(")
        sub = self.subquery(start)
        self.expect_op(")")
        self.command_end("'|' after the subquery")
        return A.AppendCols(t.start, self.end_of(), t.value, sub, override, max_rows)

    def cmd_sessionize(self, t: Token) -> A.Command:
        """``sessionize f, … [maxspan d] [AS out]`` (AWS "sessionize")."""
        fields = self.fields_comma("an identity field")
        span = 1_800_000
        alias = "session_id"
        for _ in range(2):
            if self.tok.is_word("maxspan"):
                self.advance()
                d = self.duration("maxspan")
                if d.ms <= 0:
                    raise self.error(
                        "maxspan must be a fixed period (ms to weeks)", self.toks[self.i - 1]
                    )
                span = d.ms
            elif self.tok.is_word("as"):
                alias = self.alias() or alias
        self.command_end("maxspan <period>, AS <name> or '|'")
        return A.Sessionize(t.start, self.end_of(), t.value, tuple(fields), span, alias)

    def cmd_countfrequent(self, t: Token) -> A.Command:
        """``countFrequent f, …`` (AWS "countFrequent", also ``count_frequent``)."""
        fields = self.fields_comma("a field to count")
        self.command_end("',' or '|'")
        return A.CountFrequent(t.start, self.end_of(), t.value, tuple(fields))

    cmd_count_frequent = cmd_countfrequent

    def cmd_source(self, t: Token) -> A.Command:
        """``SOURCE 'name' | name | logGroups(...) [dataSource(...)] [start=… end=…]``."""
        names: list[str] = []
        prefixes: tuple[str, ...] | None = None
        options: list[tuple[str, tuple[str, ...]]] = []
        start = end = None
        while not self.at_command_end():
            tok = self.tok
            if tok.kind == STRING or (
                tok.kind == IDENT and not (self.peek().kind == OP and self.peek().value in "(=")
            ):
                self.advance()
                names.append(tok.value)
            elif tok.kind == IDENT and self.peek().kind == OP and self.peek().value == "(":
                fn = tok.value.lower()
                if fn not in ("loggroups", "datasource"):
                    raise self.error(
                        f"unknown SOURCE selector {tok.value!r}",
                        suggestion=closest(tok.value, ["logGroups", "dataSource"]),
                        expected="logGroups(...) or dataSource(...)",
                    )
                self.advance()
                self.advance()  # (
                for key, values in self.source_args(fn):
                    if key == "nameprefix":
                        prefixes = (prefixes or ()) + values
                    else:
                        options.append((key, values))
                if fn == "loggroups" and prefixes is None:
                    prefixes = ()
            elif (
                tok.is_word("start", "end") and self.peek().kind == OP and self.peek().value == "="
            ):
                self.advance()
                self.advance()
                if self.tok.kind != TIME:
                    raise self.error(
                        f"unexpected {self.describe(self.tok)}",
                        expected="a time like -1d, now or 2026-01-23T00:00:00Z",
                    )
                word = self.advance().value
                if tok.value.lower() == "start":
                    start = word
                else:
                    end = word
            else:
                raise self.error(
                    f"unexpected {self.describe(tok)}",
                    expected="a log group name, logGroups(...), dataSource(...), start= or end=",
                )
        if not names and prefixes is None and not options:
            raise self.error(
                "SOURCE needs log groups", expected="a log group name or logGroups(...)"
            )
        return A.Source(
            t.start,
            self.toks[self.i - 1].end,
            t.value,
            tuple(names),
            prefixes,
            tuple(options),
            start,
            end,
        )

    def source_args(self, fn: str) -> list[tuple[str, tuple[str, ...]]]:
        """The arguments of logGroups(key: [..], …) or dataSource([..]), through the ``)``."""
        out: list[tuple[str, tuple[str, ...]]] = []
        while not self.is_op(")"):
            key = "datasource" if fn == "datasource" else ""
            if self.tok.kind == IDENT and self.peek().kind == OP and self.peek().value == ":":
                key = self.advance().value.lower()
                self.advance()
            if not key:
                raise self.error(
                    f"unexpected {self.describe(self.tok)}",
                    expected="namePrefix:, accountIdentifiers: or class:",
                )
            values: list[str] = []
            if self.is_op("["):
                self.advance()
                while not self.is_op("]"):
                    if self.tok.kind not in (STRING, IDENT, NUMBER):
                        raise self.error(
                            f"unexpected {self.describe(self.tok)}", expected="a string"
                        )
                    values.append(self.advance().value)
                    if not self.is_op(","):
                        break
                    self.advance()
                self.expect_op("]")
            elif self.tok.kind in (STRING, IDENT, NUMBER):
                values.append(self.advance().value)
            else:
                raise self.error(f"unexpected {self.describe(self.tok)}", expected="['…']")
            out.append((key, tuple(values)))
            if not self.is_op(","):
                break
            self.advance()
        self.expect_op(")")
        return out

    def options(self, known: tuple[str, ...]) -> dict[str, Token]:
        """``key=value`` options (in any order) while the next words are known keys."""
        out: dict[str, Token] = {}
        while (
            self.tok.kind == IDENT
            and self.peek().kind == OP
            and self.peek().value == "="
            and self.tok.value.lower() in known
        ):
            key = self.advance().value.lower()
            self.advance()
            if self.tok.kind not in (IDENT, STRING, NUMBER):
                raise self.error(
                    f"unexpected {self.describe(self.tok)}", expected=f"a value for {key}="
                )
            out[key] = self.advance()
        return out

    def cmd_join(self, t: Token) -> A.Command:
        opts = self.options(("type", "left", "right"))
        kind = opts["type"].value.lower() if "type" in opts else "inner"
        if kind not in ("inner", "left"):
            raise self.error(
                f"unknown join type {opts['type'].value!r}", opts["type"], expected="inner or left"
            )
        for need in ("left", "right"):
            if need not in opts:
                raise self.error(
                    f"join needs {need}=<alias>", expected=f"{need}=<alias> before where"
                )
        left, right = opts["left"].value, opts["right"].value
        if not self.tok.is_word("where"):
            raise self.error(
                f"unexpected {self.describe(self.tok)}",
                expected="where <left>.<field>=<right>.<field>",
            )
        self.advance()
        keys: dict[str, A.Field] = {}
        for k in range(2):
            tok = self.tok
            if tok.kind != IDENT or len(tok.parts) < 2 or tok.parts[0] not in (left, right):
                raise self.error(
                    f"unexpected {self.describe(tok)}",
                    expected=f"{left}.<field> or {right}.<field>",
                )
            self.advance()
            keys[tok.parts[0]] = A.Field(tok.start, tok.end, tok.parts[1:])
            if k == 0:
                if not self.is_op("=", "=="):
                    raise self.error(
                        f"unexpected {self.describe(self.tok)}",
                        expected="'=' (join matches equal keys only)",
                    )
                self.advance()
        if len(keys) != 2:
            raise self.error("the join condition needs a field of each side", t)
        open_ = self.expect_op("(")
        if not self.tok.is_word("source"):
            raise self.error(
                f"unexpected {self.describe(self.tok)}", expected="(SOURCE <log group>)"
            )
        self.sub += 1
        try:
            src = self.cmd_source(self.advance())
        finally:
            self.sub -= 1
        if self.is_op("|"):
            raise self.error(
                "subqueries on the right side of join are not supported", expected="')'"
            )
        end = self.expect_op(")").end
        del open_
        assert isinstance(src, A.Source)
        return A.Join(t.start, end, t.value, kind, left, right, keys[left], keys[right], src)

    def cmd_lookup(self, t: Token) -> A.Command:
        table = self.name("the name of a lookup table")
        keys: list[tuple[str, A.Field]] = []
        while True:
            col = self.tok
            if col.kind != IDENT or col.is_word("output"):
                raise self.error(
                    f"unexpected {self.describe(col)}", expected="a field of the lookup table"
                )
            self.advance()
            field = A.Field(col.start, col.end, col.parts)
            if self.tok.is_word("as"):
                self.advance()
                f = self.tok
                if f.kind != IDENT:
                    raise self.error(
                        f"unexpected {self.describe(f)}", expected="a field of the log events"
                    )
                self.advance()
                field = A.Field(f.start, f.end, f.parts)
            keys.append((col.value, field))
            if not self.is_op(","):
                break
            self.advance()
        if not self.tok.is_word("output"):
            raise self.error(
                f"unexpected {self.describe(self.tok)}", expected="OUTPUT and the fields to add"
            )
        self.advance()
        outs = [self.name("a field of the lookup table")]
        while self.is_op(","):
            self.advance()
            outs.append(self.name("a field of the lookup table"))
        return A.Lookup(
            t.start, self.toks[self.i - 1].end, t.value, table, tuple(keys), tuple(outs)
        )

    def field_list(self) -> list[A.Field]:
        out: list[A.Field] = []
        while self.tok.kind == IDENT and not self.tok.is_word("where"):
            tok = self.advance()
            out.append(A.Field(tok.start, tok.end, tok.parts))
            if not self.is_op(","):
                break
            self.advance()
        return out

    def cmd_expand(self, t: Token) -> A.Command:
        tok = self.tok
        if tok.kind != IDENT:
            raise self.error(
                f"unexpected {self.describe(tok)}", expected="a field holding a JSON array"
            )
        self.advance()
        return A.Expand(t.start, tok.end, t.value, A.Field(tok.start, tok.end, tok.parts))

    def cmd_addtotals(self, t: Token) -> A.Command:
        opts = self.options(("fieldname", "row", "col"))
        flags = {}
        for key in ("row", "col"):
            if key in opts:
                v = opts[key].value.lower()
                if v not in ("true", "false"):
                    raise self.error(
                        f"{key}= takes true or false", opts[key], expected="true or false"
                    )
                flags[key] = v == "true"
        fields = self.field_list()
        if not self.at_command_end():
            raise self.error(
                f"unexpected {self.describe(self.tok)}", expected="fields to sum, or '|'"
            )
        return A.AddTotals(
            t.start,
            self.toks[self.i - 1].end,
            t.value,
            opts["fieldname"].value if "fieldname" in opts else "Total",
            flags.get("row", True),
            flags.get("col", False),
            tuple(fields),
        )

    def cmd_diff(self, t: Token) -> A.Command:
        shift = "previous"
        if not self.at_command_end():
            tok = self.tok
            if tok.kind != IDENT or tok.value.lower() not in _DIFF_PERIODS:
                raise self.error(
                    f"unexpected {self.describe(tok)}",
                    suggestion=closest(tok.value, ["previousDay", "previousWeek", "previousMonth"])
                    if tok.kind == IDENT
                    else None,
                    expected="previousDay, previousWeek, previousMonth or '|'",
                )
            shift = _DIFF_PERIODS[self.advance().value.lower()]
        return A.Compare(t.start, self.toks[self.i - 1].end, t.value, shift)

    def cmd_logcompare(self, t: Token) -> A.Command:
        if not self.tok.is_word("timeshift"):
            raise self.error(
                f"unexpected {self.describe(self.tok)}", expected="timeshift <duration>"
            )
        self.advance()
        d = self.duration("timeshift")
        if d.ms <= 0:
            raise self.error(
                "timeshift must be a fixed period (ms to weeks)", self.toks[self.i - 1]
            )
        return A.Compare(t.start, d.end, t.value, "ms", d.ms)

    def cmd_relevantfields(self, t: Token) -> A.Command:
        fields = self.field_list()
        if not self.tok.is_word("where"):
            raise self.error(f"unexpected {self.describe(self.tok)}", expected="where <condition>")
        self.advance()
        if self.at_command_end():
            raise self.error("relevantfields needs a condition", expected="a condition")
        cond = self.expr()
        return A.RelevantFields(t.start, cond.end, t.value, tuple(fields), cond)

    def cmd_anomaly(self, t: Token) -> A.Command:
        return A.Anomaly(t.start, t.end, t.value)

    def cmd_json(self, t: Token) -> A.Command:
        opts = self.options(("field",))
        if "field" not in opts:
            raise self.error(f"unexpected {self.describe(self.tok)}", expected="field=<name>")
        ftok = opts["field"]
        if ftok.kind != IDENT:
            raise self.error("field= takes a field name", ftok, expected="a field name")
        p = self.tok
        if p.kind != STRING:
            raise self.error(f"unexpected {self.describe(p)}", expected='a "key.subkey" path')
        self.advance()
        if not self.tok.is_word("as"):
            raise self.error(f"unexpected {self.describe(self.tok)}", expected="as <name>")
        self.advance()
        alias = self.name("a name after 'as'")
        return A.JsonField(
            t.start,
            self.toks[self.i - 1].end,
            t.value,
            A.Field(ftok.start, ftok.end, ftok.parts),
            p.value,
            alias,
        )

    # ---- pieces ----------------------------------------------------------------------
    def name(self, what: str) -> str:
        t = self.tok
        if t.kind != IDENT:
            raise self.error(f"unexpected {self.describe(t)}", expected=what)
        self.advance()
        return t.value

    def duration(self, what: str) -> A.Literal:
        t = self.tok
        if t.kind != DURATION:
            raise self.error(
                f"unexpected {self.describe(t)}",
                expected=f"a time period for {what}, like 5m or 1h",
            )
        self.advance()
        return _duration_literal(t)

    def items(self, allow_alias: bool) -> list[A.Item]:
        out: list[A.Item] = []
        while True:
            if self.at_command_end() or self.tok.is_word("by"):
                raise self.error(
                    f"unexpected {self.describe(self.tok)}", expected="a field or expression"
                )
            e = self.expr()
            alias = None
            if self.tok.is_word("as"):
                if not allow_alias:
                    raise self.error("'as' is not allowed here", expected="',' or '|'")
                self.advance()
                alias = self.name("a name after 'as'")
            # a field is named as AWS shows it: without backticks (`detail-type` -> detail-type)
            text = (
                e.name
                if isinstance(e, A.Field) and "[" not in self.text[e.start : e.end]
                else self.src(e.start, e.end)
            )
            out.append(A.Item(e, alias, text))
            if not self.is_op(","):
                return out
            self.advance()

    # ---- expressions -----------------------------------------------------------------
    # Loops, not one call per operator: a chain of 1,000 `or`s is one n-ary node, and a
    # parenthesis costs six Python frames, so deep nesting meets MAX_NESTING (a query
    # error) long before Python's recursion limit.
    def expr(self) -> A.Node:
        self.nesting += 1
        try:
            if self.nesting > MAX_NESTING + 1:  # the outermost expression is not nested
                raise self.error(
                    f"expression nested too deeply (more than {MAX_NESTING} levels of "
                    "parentheses, lists and function calls)"
                )
            node = self.logic()
        finally:
            self.nesting -= 1
        if self.nesting == 0:
            _check_depth(self.text, node)
        return node

    def logic(self) -> A.Node:
        """``or`` of ``and`` of (``not``) comparisons, each chain one :class:`A.Logical`."""
        ors: list[A.Node] = []
        ands = [self.not_expr()]
        while True:
            if self.tok.is_word("and"):
                self.advance()
                ands.append(self.not_expr())
                continue
            ors.append(_logical("and", ands))
            if not self.tok.is_word("or"):
                return _logical("or", ors)
            self.advance()
            ands = [self.not_expr()]

    def not_expr(self) -> A.Node:
        nots: list[Token] = []
        while self.tok.is_word("not") or self.is_op("!"):
            nots.append(self.advance())
        node = self.comparison()
        if nots:  # `not not x` is the truth of x: one or two nots, however many are written
            odd = len(nots) % 2 == 1
            node = A.Unary(nots[0].start if odd else nots[-1].start, node.end, "not", node)
            if not odd:
                node = A.Unary(nots[0].start, node.end, "not", node)
        return node

    def comparison(self) -> A.Node:
        left = self.arith()
        t = self.tok
        if t.kind == OP and t.value in _COMPARE:
            self.advance()
            right = self.arith()
            op = "=" if t.value == "==" else t.value
            return A.Binary(left.start, right.end, op, left, right)
        negated = False
        if t.is_word("not") and (self.peek().is_word("like", "in")):
            self.advance()
            negated = True
            t = self.tok
        if t.is_word("like") or (t.kind == OP and t.value == "=~" and not negated):
            self.advance()
            p = self.tok
            if p.kind not in (STRING, REGEX):
                raise self.error(
                    f"unexpected {self.describe(p)}", expected='a "string" or /regex/ after like'
                )
            self.advance()
            pat = A.Literal(p.start, p.end, "str" if p.kind == STRING else "regex", p.value)
            return A.Match(left.start, p.end, left, pat, negated)
        if t.is_word("in"):
            self.advance()
            close = {"[": "]", "(": ")"}
            if not self.is_op("[", "("):
                raise self.error(
                    f"unexpected {self.describe(self.tok)}", expected='a list like ["a", "b"]'
                )
            opener_tok = self.advance()
            opener = opener_tok.value
            if opener == "(" and self.tok.is_word("source"):
                sq = self.subquery(opener_tok)
                end = self.expect_op(")").end
                return A.In(left.start, end, left, (), negated, sq)
            items: list[A.Node] = []
            if not self.is_op(close[opener]):
                while True:
                    items.append(self.arith())
                    if not self.is_op(","):
                        break
                    self.advance()
            end = self.expect_op(close[opener]).end
            return A.In(left.start, end, left, tuple(items), negated)
        return left

    def arith(self, level: int = 1) -> A.Node:
        """``+ -`` (level 1) and ``* / %`` (level 2), left-associative, by precedence climbing."""
        left = self.signed()
        while self.tok.kind == OP and _ARITH.get(self.tok.value, 0) >= level:
            op = self.advance().value
            right = self.arith(_ARITH[op] + 1)
            left = A.Binary(left.start, right.end, op, left, right)
        return left

    def signed(self) -> A.Node:
        """Signs, then ``a ^ b ^ c`` (right-associative; ``-a ^ b`` is ``-(a ^ b)``)."""
        chain: list[tuple[list[Token], A.Node]] = []
        while True:
            signs: list[Token] = []
            while self.is_op("-", "+"):
                signs.append(self.advance())
            chain.append((signs, self.primary()))
            if not self.is_op("^"):
                break
            self.advance()
        signs, node = chain.pop()
        node = _apply_signs(signs, node)
        while chain:
            signs, base = chain.pop()
            node = _apply_signs(signs, A.Binary(base.start, node.end, "^", base, node))
        return node

    def primary(self) -> A.Node:
        t = self.tok
        if t.kind == NUMBER:
            self.advance()
            return A.Literal(t.start, t.end, "num", t.value, t.number)
        if t.kind == STRING:
            self.advance()
            return A.Literal(t.start, t.end, "str", t.value)
        if t.kind == DURATION:
            self.advance()
            return _duration_literal(t)
        if t.kind == REGEX:
            raise self.error(
                "a /regex/ is only allowed after like, =~ or in parse", expected="a value"
            )
        if self.is_op("("):
            self.advance()
            if self.is_op(")"):
                raise self.error("empty parentheses", expected="an expression")
            e = self.expr()
            self.expect_op(")")
            return e
        if self.is_op("["):
            start = self.advance().start
            items: list[A.Node] = []
            if not self.is_op("]"):
                while True:
                    items.append(self.expr())
                    if not self.is_op(","):
                        break
                    self.advance()
            end = self.expect_op("]").end
            return A.ListExpr(start, end, tuple(items))
        if t.kind == IDENT:
            if self.peek().kind == OP and self.peek().value == "(" and not t.quoted:
                return self.call()
            low = t.value.lower()
            if not t.quoted and low in ("true", "false"):
                self.advance()
                return A.Literal(t.start, t.end, "bool", low)
            if not t.quoted and low in _RESERVED:
                raise self.error(f"unexpected keyword {t.value!r}", expected="a field or value")
            self.advance()
            return A.Field(t.start, t.end, t.parts)
        raise self.error(f"unexpected {self.describe(t)}", expected="a field, value or function")

    def call(self) -> A.Node:
        t = self.advance()
        spec = lookup(t.value)
        if spec is None:
            raise self.error(
                f"unknown function {t.value!r}",
                t,
                suggestion=closest(t.value, [s.name for s in FUNCTIONS.values()]),
                expected="a function name",
            )
        self.advance()  # (
        args: list[A.Node] = []
        star = False
        if self.is_op("*") and self.peek().kind == OP and self.peek().value == ")":
            if spec.name != "count":
                raise self.error(f"{spec.name}(*) is not allowed", expected="a field")
            self.advance()
            star = True
        elif not self.is_op(")"):
            while True:
                if self.at_command_end():
                    raise self.error(f"unexpected {self.describe(self.tok)}", expected="')'")
                args.append(self.expr())
                if not self.is_op(","):
                    break
                self.advance()
        end = self.expect_op(")").end
        n = len(args) + star
        if n < spec.min_args or (spec.max_args is not None and n > spec.max_args):
            want = (
                f"{spec.min_args}"
                if spec.min_args == spec.max_args
                else f"{spec.min_args} or more"
                if spec.max_args is None
                else f"{spec.min_args} to {spec.max_args}"
            )
            raise self.error(
                f"{spec.name}() takes {want} arguments, got {n}", t, expected=f"{want} arguments"
            )
        return A.Call(t.start, end, spec.name, tuple(args), star)


def _logical(op: str, operands: list[A.Node]) -> A.Node:
    if len(operands) == 1:
        return operands[0]
    flat: list[A.Node] = []
    for o in operands:  # (a or b) or c is one chain too
        flat.extend(o.operands if isinstance(o, A.Logical) and o.op == op else (o,))
    return A.Logical(flat[0].start, flat[-1].end, op, tuple(flat))


def _apply_signs(signs: list[Token], node: A.Node) -> A.Node:
    minus = [t for t in signs if t.value == "-"]
    if not minus:
        return node
    odd = len(minus) % 2 == 1
    if isinstance(node, A.Literal) and node.kind == "num":
        if not odd:
            return node
        return A.Literal(minus[0].start, node.end, "num", "-" + node.value, -node.number)
    # `- - x` is x as a number: one or two minus signs, however many are written
    node = A.Unary(minus[0].start if odd else minus[-1].start, node.end, "-", node)
    return node if odd else A.Unary(minus[0].start, node.end, "-", node)


def children(node: A.Node) -> tuple[A.Node, ...]:
    """The sub-expressions of an expression node."""
    if isinstance(node, A.Binary):
        return (node.left, node.right)
    if isinstance(node, A.Logical):
        return node.operands
    if isinstance(node, (A.Unary, A.Match)):
        return (node.operand,)
    if isinstance(node, A.In):
        return (node.operand, *node.items)
    if isinstance(node, A.Call):
        return node.args
    if isinstance(node, A.ListExpr):
        return node.items
    return ()


def _check_depth(text: str, node: A.Node) -> None:
    """Raise a query error for an expression more than MAX_DEPTH operations deep (iteratively:
    the planner and DuckDB recurse over the tree, and DuckDB stops at 1,000 levels)."""
    stack = [(node, 1)]
    while stack:
        n, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise QuerySyntaxError(
                f"expression nested too deeply (more than {MAX_DEPTH} operations inside one "
                "another)",
                text,
                n.start,
                expected="a shorter expression (a list of values: x in [...])",
            )
        stack.extend((c, depth + 1) for c in children(n))


def _duration_literal(t: Token) -> A.Literal:
    num, unit = t.parts
    ms = unit_ms(unit) or 0
    if ms < 0:  # calendar units: months
        return A.Literal(t.start, t.end, "duration", t.value, float(num), int(float(num) * ms))
    return A.Literal(t.start, t.end, "duration", t.value, float(num), int(float(num) * ms))


def _named_groups(pattern: str) -> list[str]:
    import re

    return re.findall(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>", pattern)


def _group_count(pattern: str) -> int:
    import re

    # capturing groups: "(" not followed by "?" and not escaped
    return len(re.findall(r"(?<!\\)\((?!\?)", pattern)) + len(_named_groups(pattern))
