"""The function catalog: every Logs Insights function, its group, arity and result type.

The SQL for each lives in the generator (``_sql.py``); this table is what the
parser checks names and argument counts against, and what "did you mean" uses.
"""

from __future__ import annotations

from dataclasses import dataclass

NUM, STR, TS, BOOL, JSON, ANY = "num", "str", "ts", "bool", "json", "any"


@dataclass(frozen=True)
class FunctionSpec:
    name: str  # canonical spelling (AWS documentation's)
    group: str  # numeric, string, datetime, general, json, ip, aggregate
    min_args: int
    max_args: int | None  # None: any number
    result: str  # NUM, STR, TS, BOOL, JSON or ANY ("same as the argument")

    @property
    def aggregate(self) -> bool:
        return self.group == "aggregate"


_SPECS = [
    # numeric
    FunctionSpec("abs", "numeric", 1, 1, NUM),
    FunctionSpec("ceil", "numeric", 1, 1, NUM),
    FunctionSpec("floor", "numeric", 1, 1, NUM),
    FunctionSpec("greatest", "numeric", 1, None, NUM),
    FunctionSpec("least", "numeric", 1, None, NUM),
    FunctionSpec("log", "numeric", 1, 1, NUM),
    FunctionSpec("sqrt", "numeric", 1, 1, NUM),
    # string
    FunctionSpec("isempty", "string", 1, 1, BOOL),
    FunctionSpec("isblank", "string", 1, 1, BOOL),
    FunctionSpec("concat", "string", 1, None, STR),
    FunctionSpec("ltrim", "string", 1, 2, STR),
    FunctionSpec("rtrim", "string", 1, 2, STR),
    FunctionSpec("trim", "string", 1, 2, STR),
    FunctionSpec("strlen", "string", 1, 1, NUM),
    FunctionSpec("toupper", "string", 1, 1, STR),
    FunctionSpec("tolower", "string", 1, 1, STR),
    FunctionSpec("substr", "string", 2, 3, STR),
    FunctionSpec("replace", "string", 3, 3, STR),
    FunctionSpec("strcontains", "string", 2, 2, NUM),
    # datetime
    FunctionSpec("bin", "datetime", 1, 1, TS),
    FunctionSpec("datefloor", "datetime", 2, 2, TS),
    FunctionSpec("dateceil", "datetime", 2, 2, TS),
    FunctionSpec("fromMillis", "datetime", 1, 1, TS),
    FunctionSpec("toMillis", "datetime", 1, 1, NUM),
    FunctionSpec("now", "datetime", 0, 0, NUM),
    # general
    FunctionSpec("ispresent", "general", 1, 1, BOOL),
    FunctionSpec("coalesce", "general", 1, None, ANY),
    FunctionSpec("if", "general", 2, 3, ANY),
    FunctionSpec("case", "general", 2, None, ANY),
    # JSON
    FunctionSpec("jsonParse", "json", 1, 1, JSON),
    FunctionSpec("jsonStringify", "json", 1, 1, STR),
    # IP address strings
    FunctionSpec("isValidIp", "ip", 1, 1, BOOL),
    FunctionSpec("isValidIpV4", "ip", 1, 1, BOOL),
    FunctionSpec("isValidIpV6", "ip", 1, 1, BOOL),
    FunctionSpec("isIpInSubnet", "ip", 2, 2, BOOL),
    FunctionSpec("isIpv4InSubnet", "ip", 2, 2, BOOL),
    FunctionSpec("isIpv6InSubnet", "ip", 2, 2, BOOL),
    # aggregations (stats only)
    FunctionSpec("avg", "aggregate", 1, 1, NUM),
    FunctionSpec("count", "aggregate", 0, 1, NUM),
    FunctionSpec("count_distinct", "aggregate", 1, 1, NUM),
    FunctionSpec("max", "aggregate", 1, 1, ANY),
    FunctionSpec("min", "aggregate", 1, 1, ANY),
    FunctionSpec("pct", "aggregate", 2, 2, NUM),
    FunctionSpec("percentile", "aggregate", 2, 2, NUM),
    FunctionSpec("stddev", "aggregate", 1, 1, NUM),
    FunctionSpec("sum", "aggregate", 1, 1, NUM),
    FunctionSpec("earliest", "aggregate", 1, 1, ANY),
    FunctionSpec("latest", "aggregate", 1, 1, ANY),
    FunctionSpec("sortsFirst", "aggregate", 1, 1, ANY),
    FunctionSpec("sortsLast", "aggregate", 1, 1, ANY),
]

FUNCTIONS: dict[str, FunctionSpec] = {s.name.lower(): s for s in _SPECS}


def lookup(name: str) -> FunctionSpec | None:
    """The spec of a function name (case-insensitive), or None."""
    return FUNCTIONS.get(name.lower())
