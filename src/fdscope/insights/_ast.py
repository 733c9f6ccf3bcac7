"""Stage 3: the expression tree. Frozen dataclasses; ``start``/``end`` point into the query."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Node:
    start: int
    end: int


# ---- expressions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Field(Node):
    """A field reference; ``parts`` are the dotted segments (backticks removed)."""

    parts: tuple[str, ...]

    @property
    def name(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Literal(Node):
    """``kind``: str, num, regex, duration, bool. ``ms`` for durations (negative: months)."""

    kind: str
    value: str
    number: float = 0.0
    ms: int = 0


@dataclass(frozen=True)
class ListExpr(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Call(Node):
    """A function call; ``name`` as written, ``star`` for count(*)."""

    name: str
    args: tuple[Node, ...]
    star: bool = False


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "-" or "not"
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str  # + - * / % ^ = != < <= > >=
    left: Node
    right: Node


@dataclass(frozen=True)
class Logical(Node):
    """``and`` / ``or`` over two or more operands: a chain is one node, not a deep tree."""

    op: str  # "and" or "or"
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Match(Node):
    """``like`` / ``=~``: a string literal means substring, a regex literal a search."""

    operand: Node
    pattern: Literal
    negated: bool = False


@dataclass(frozen=True)
class In(Node):
    """``x in [..]``, or ``x in (SOURCE … | …)``: ``subquery`` is then the inner query."""

    operand: Node
    items: tuple[Node, ...]
    negated: bool = False
    subquery: Query | None = None


# ---- commands ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """An expression with an optional ``as`` alias; ``text`` is its source text."""

    expr: Node
    alias: str | None
    text: str

    @property
    def name(self) -> str:
        return self.alias or self.text


@dataclass(frozen=True)
class Command(Node):
    keyword: str  # as written


@dataclass(frozen=True)
class Fields(Command):
    items: tuple[Item, ...]
    display: bool = False  # the ``display`` command


@dataclass(frozen=True)
class Filter(Command):
    condition: Node
    index: bool = False  # ``filterIndex``: the same filter, locally


@dataclass(frozen=True)
class Stats(Command):
    items: tuple[Item, ...]
    by: tuple[Item, ...] = ()
    offset: Literal | None = None


@dataclass(frozen=True)
class SortKey:
    expr: Node
    descending: bool | None  # None: not written (the dialect's default applies)
    text: str


@dataclass(frozen=True)
class Sort(Command):
    keys: tuple[SortKey, ...]


@dataclass(frozen=True)
class Limit(Command):
    count: int
    any: bool = False  # ``limit any N``: any N matching events, no order promised


@dataclass(frozen=True)
class Parse(Command):
    source: Node
    pattern: Literal | None  # kind "str" (glob with *) or "regex"; None for logfmt and csv
    names: tuple[str, ...]
    mode: str = "glob"  # glob, regex, logfmt, csv
    multi: bool = False  # regex ``multi``: one row per match


@dataclass(frozen=True)
class Dedup(Command):
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Unnest(Command):
    source: Node
    alias: str


@dataclass(frozen=True)
class Unmask(Command):
    source: Node | None


@dataclass(frozen=True)
class Pattern(Command):
    source: Node


@dataclass(frozen=True)
class JsonField(Command):
    """``json field=name "key.subkey" as alias``."""

    source: Node
    path: str
    alias: str


@dataclass(frozen=True)
class Source(Command):
    """``SOURCE`` with log groups (``logGroups(...)``, names) and an optional time range."""

    names: tuple[str, ...] = ()  # SOURCE 'name' / SOURCE name
    prefixes: tuple[str, ...] | None = None  # logGroups(namePrefix: [...]); () for all
    options: tuple[tuple[str, tuple[str, ...]], ...] = ()  # other logGroups/dataSource keys
    since: str | None = None  # the raw word after start=
    until: str | None = None  # the raw word after end=


@dataclass(frozen=True)
class Join(Command):
    kind: str  # inner or left
    left: str
    right: str
    left_key: Field
    right_key: Field
    source: Source


@dataclass(frozen=True)
class Lookup(Command):
    table: str
    keys: tuple[tuple[str, Field], ...]  # (column of the table, field of the events)
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class Expand(Command):
    field: Field


@dataclass(frozen=True)
class AddTotals(Command):
    fieldname: str = "Total"
    row: bool = True
    col: bool = False
    fields: tuple[Field, ...] = ()


@dataclass(frozen=True)
class Compare(Command):
    """``diff [previousDay|previousWeek|previousMonth]`` and ``logcompare timeshift <d>``."""

    shift: str  # "previous" (the preceding window), "day", "week", "month", or "ms"
    shift_ms: int = 0


@dataclass(frozen=True)
class RelevantFields(Command):
    fields: tuple[Field, ...]
    condition: Node


@dataclass(frozen=True)
class Anomaly(Command):
    pass


@dataclass(frozen=True)
class Autoregress(Command):
    """``autoregress f [AS alias] [p=N[-M]]``: lagged copies of ``f`` (the rows before)."""

    field: Field
    alias: str | None
    first: int = 1
    last: int = 1


@dataclass(frozen=True)
class FillDown(Command):
    """``filldown [f …]``: names or ``*`` patterns; () for every shown field."""

    patterns: tuple[str, ...] = ()


@dataclass(frozen=True)
class FillMissing(Command):
    """``fillmissing [with value for f, …]`` after ``stats … by bin()``."""

    fills: tuple[tuple[Literal, Field], ...] = ()


@dataclass(frozen=True)
class CidrLookup(Command):
    """``cidrlookup table ip [AS cidrColumn] OUTPUT|OUTPUTNEW col [AS f], …``."""

    table: str
    ip: Field
    cidr_column: str | None
    new_only: bool  # OUTPUTNEW: fill only absent fields
    outputs: tuple[tuple[str, str], ...]  # (column of the table, field of the events)


@dataclass(frozen=True)
class Outlier(Command):
    """``outlier [action=remove|transform] [param=n] [uselower=b] [mark=b] f …``."""

    fields: tuple[Field, ...]
    remove: bool = False
    param: float = 2.5
    uselower: bool = False
    mark: bool = False


@dataclass(frozen=True)
class Accum(Command):
    """``accum f [AS out]``: the running sum of ``f``."""

    field: Field
    alias: str | None


@dataclass(frozen=True)
class AppendCols(Command):
    """``appendcols [override=b] [max=n] ( subquery )``: columns joined by row position."""

    subquery: Query
    override: bool = False
    max_rows: int = 10_000


@dataclass(frozen=True)
class Sessionize(Command):
    """``sessionize f, … [maxspan d] [AS out]``."""

    fields: tuple[Field, ...]
    maxspan_ms: int = 1_800_000
    alias: str = "session_id"


@dataclass(frozen=True)
class CountFrequent(Command):
    """``countFrequent f, …`` (also ``count_frequent``): ``_approxcount`` per combination."""

    fields: tuple[Field, ...]


@dataclass(frozen=True)
class CloudOnly(Command):
    """A command fdscope parses but does not run locally: kept verbatim."""

    text: str


@dataclass(frozen=True)
class Query:
    """A parsed query: its commands in order and the text they came from."""

    text: str
    commands: tuple[Command, ...] = field(default_factory=tuple)
