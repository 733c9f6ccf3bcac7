"""The CloudWatch Logs Insights query language over local logs, on DuckDB.

Each stage can be called on its own::

    tokens = tokenize(text)      # stage 1: tokens
    query = parse(text)          # stage 2-3: the expression tree (Query)
    p = plan(query)              # stage 4: steps with resolved fields and types
    sql = to_sql(p)              # stage 5: one DuckDB statement
    result = execute(text, ["logs/"], start=..., end=...)   # QueryResult

``fdscope.insights.cloudwatch.execute`` sends the same query to CloudWatch.
Errors: :class:`QuerySyntaxError` (a subclass of ``fdscope.errors.QueryError``)
with line, column, a caret under the spot and the closest known name.
"""

from __future__ import annotations

from fdscope.errors import QueryError
from fdscope.insights._analysis import read_lookup
from fdscope.insights._ast import Query
from fdscope.insights._engine import QueryResult, execute
from fdscope.insights._errors import QuerySyntaxError
from fdscope.insights._lexer import Token, tokenize
from fdscope.insights._parser import parse
from fdscope.insights._plan import Plan, plan
from fdscope.insights._sql import to_sql

__all__ = [
    "Plan",
    "Query",
    "QueryError",
    "QueryResult",
    "QuerySyntaxError",
    "Token",
    "execute",
    "parse",
    "plan",
    "read_lookup",
    "to_sql",
    "tokenize",
]
