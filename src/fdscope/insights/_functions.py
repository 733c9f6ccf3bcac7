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
    FunctionSpec("isempty", "string", 1, 1, NUM),
    FunctionSpec("isblank", "string", 1, 1, NUM),
    FunctionSpec("concat", "string", 1, None, STR),
    FunctionSpec("ltrim", "string", 1, 2, STR),
    FunctionSpec("rtrim", "string", 1, 2, STR),
    FunctionSpec("trim", "string", 1, 2, STR),
    FunctionSpec("strlen", "string", 1, 1, NUM),
    FunctionSpec("toupper", "string", 1, 1, STR),
    FunctionSpec("tolower", "string", 1, 1, STR),
    FunctionSpec("substr", "string", 2, 3, STR),
    FunctionSpec("replace", "string", 3, 3, STR),
    FunctionSpec("strcontains", "string", 2, 3, NUM),
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
    FunctionSpec("case", "general", 2, 21, ANY),  # "up to 10 branches" + default
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
    # added to AWS's functions page (CWL_QuerySyntax-operations-functions) since
    FunctionSpec("round", "numeric", 1, 2, NUM),
    FunctionSpec("haversine", "numeric", 4, 4, NUM),
    FunctionSpec("toNumber", "numeric", 1, 1, NUM),
    FunctionSpec("toInt", "numeric", 1, 1, NUM),
    FunctionSpec("toLong", "numeric", 1, 1, NUM),
    FunctionSpec("toDouble", "numeric", 1, 1, NUM),
    FunctionSpec("parseDate", "datetime", 2, 3, NUM),
    FunctionSpec("formatDate", "datetime", 2, 3, STR),
    FunctionSpec("strftime", "datetime", 2, 3, STR),
    FunctionSpec("isNumeric", "general", 1, 1, BOOL),
    FunctionSpec("messageSize", "general", 1, 1, NUM),
    FunctionSpec("queryStartTime", "general", 0, 0, NUM),
    FunctionSpec("queryEndTime", "general", 0, 0, NUM),
    FunctionSpec("queryTimeRange", "general", 0, 0, NUM),
    FunctionSpec("jsonArraySize", "json", 1, 1, NUM),
    FunctionSpec("jsonArrayContains", "json", 2, 2, BOOL),
    FunctionSpec("ipv4ToNumber", "ip", 1, 1, NUM),
    FunctionSpec("isPrivateIP", "ip", 1, 1, BOOL),
    FunctionSpec("isPublicIP", "ip", 1, 1, BOOL),
    FunctionSpec("isReservedIP", "ip", 1, 1, BOOL),
    FunctionSpec("regexReplace", "string", 3, 3, STR),
    FunctionSpec("startsWith", "string", 2, 2, NUM),
    FunctionSpec("endsWith", "string", 2, 2, NUM),
    FunctionSpec("urlencode", "string", 1, 1, STR),
    FunctionSpec("urldecode", "string", 1, 1, STR),
    FunctionSpec("base64encode", "string", 1, 1, STR),
    FunctionSpec("base64decode", "string", 1, 1, STR),
    FunctionSpec("split", "string", 2, 2, JSON),
    FunctionSpec("hexToAscii", "string", 1, 1, STR),
    FunctionSpec("hexToDec", "string", 1, 1, NUM),
    FunctionSpec("decToHex", "string", 1, 1, STR),
    # hashing (CWL_QuerySyntax-hash-functions)
    FunctionSpec("md5", "hash", 1, 1, STR),
    FunctionSpec("sha256", "hash", 1, 1, STR),
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
    # time-series functions (CWL_QuerySyntax-timeseries-functions), stats only
    FunctionSpec("rate", "aggregate", 2, 2, NUM),
    FunctionSpec("countOverTime", "aggregate", 1, 1, NUM),
    FunctionSpec("sumOverTime", "aggregate", 1, 1, NUM),
    FunctionSpec("histogram", "aggregate", 2, 2, STR),
]

FUNCTIONS: dict[str, FunctionSpec] = {s.name.lower(): s for s in _SPECS}


def lookup(name: str) -> FunctionSpec | None:
    """The spec of a function name (case-insensitive), or None."""
    return FUNCTIONS.get(name.lower())
