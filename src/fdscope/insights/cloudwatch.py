"""The same query on CloudWatch Logs Insights, through boto3 (StartQuery, GetQueryResults).

``execute`` checks the query with the local parser first (one error format for
both backends), starts it, polls until it completes, and returns the rows in the
same :class:`~fdscope.insights.QueryResult` shape as the local engine. A
KeyboardInterrupt while waiting stops the query (StopQuery) and is re-raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from fdscope._aws_errors import aws_errors
from fdscope._extras import extra
from fdscope.errors import QueryError
from fdscope.insights._engine import QueryResult
from fdscope.insights._parser import parse

__all__ = ["CloudWatchQueryError", "execute"]

_DONE = ("Complete", "Failed", "Cancelled", "Timeout", "Unknown")


class CloudWatchQueryError(QueryError):
    """CloudWatch refused, failed or cancelled the query (names the query id when there is one)."""


def _client(client: Any) -> Any:
    if client is not None:
        return client
    with extra("aws", "querying CloudWatch Logs Insights"):
        import boto3

    return boto3.client("logs")


def execute(
    query: str,
    log_groups: Sequence[str] | str,
    *,
    start: int,
    end: int,
    client: Any = None,
    on_progress: Callable[[str, dict[str, Any]], None] | None = None,
    limit: int | None = None,
    poll_seconds: float = 1.0,
    timeout_seconds: float = 900.0,
) -> QueryResult:
    """Run ``query`` on CloudWatch over ``log_groups`` between ``start`` and ``end`` (ms).

    ``on_progress(status, statistics)`` is called after every poll. Raises
    QuerySyntaxError for a query the parser rejects, CloudWatchQueryError when
    CloudWatch fails it or does not finish within ``timeout_seconds``.
    """
    parse(query)  # the same error, with a caret, before any network call
    groups = [log_groups] if isinstance(log_groups, str) else list(log_groups)
    # no region, no credentials, no connection: an error with a hint (fdscope._aws_errors)
    with aws_errors(
        "querying CloudWatch Logs Insights", region_option=True, endpoint_option=True
    ) as guard:
        logs = _client(client)
        return _run(
            logs,
            query,
            groups,
            guard,
            start,
            end,
            on_progress,
            limit,
            poll_seconds,
            timeout_seconds,
        )


def _run(
    logs: Any,
    query: str,
    groups: list[str],
    guard: aws_errors,
    start: int,
    end: int,
    on_progress: Callable[[str, dict[str, Any]], None] | None,
    limit: int | None,
    poll_seconds: float,
    timeout_seconds: float,
) -> QueryResult:
    with extra("aws", "querying CloudWatch Logs Insights"):
        from botocore.exceptions import BotoCoreError, ClientError

    kwargs: dict[str, Any] = {
        "logGroupNames": groups,
        "startTime": int(start) // 1000,
        "endTime": (int(end) + 999) // 1000,
        "queryString": query,
    }
    if limit is not None:
        kwargs["limit"] = int(limit)
    try:
        query_id = logs.start_query(**kwargs)["queryId"]
    except (ClientError, BotoCoreError) as exc:
        guard.check(exc)
        raise CloudWatchQueryError(f"CloudWatch did not start the query: {exc}") from None
    deadline = time.monotonic() + timeout_seconds
    try:
        while True:
            resp = logs.get_query_results(queryId=query_id)
            status = resp.get("status", "Unknown")
            stats = resp.get("statistics", {}) or {}
            if on_progress is not None:
                on_progress(status, stats)
            if status in _DONE:
                break
            if time.monotonic() > deadline:
                _stop(logs, query_id)
                raise CloudWatchQueryError(
                    f"query {query_id} did not finish in {timeout_seconds:.0f} s"
                )
            time.sleep(poll_seconds)
    except KeyboardInterrupt:
        _stop(logs, query_id)
        raise
    except (ClientError, BotoCoreError) as exc:
        guard.check(exc)
        raise CloudWatchQueryError(f"query {query_id}: {exc}") from None
    if status != "Complete":
        raise CloudWatchQueryError(f"query {query_id} ended with status {status}")
    return _result(resp.get("results", []), stats)


def _stop(logs: Any, query_id: str) -> None:
    try:
        logs.stop_query(queryId=query_id)
    except Exception:  # noqa: BLE001 - best effort while interrupting
        pass


def _result(results: list[list[dict[str, str]]], stats: dict[str, Any]) -> QueryResult:
    columns: list[str] = []
    rows: list[dict[str, str | None]] = []
    for record in results:
        row: dict[str, str | None] = {}
        for cell in record:
            name = cell.get("field", "")
            if name == "@ptr":
                continue
            if name not in columns:
                columns.append(name)
            row[name] = cell.get("value")
        rows.append(row)
    for row in rows:
        for c in columns:
            row.setdefault(c, None)
    return QueryResult(columns, [{c: r[c] for c in columns} for r in rows], dict(stats))
