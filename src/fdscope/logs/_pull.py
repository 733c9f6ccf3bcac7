"""``fdscope logs pull``: FilterLogEvents with pagination into a JSON-lines file the readers read back."""

from __future__ import annotations

import errno
import gzip
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fdscope._aws_errors import aws_errors
from fdscope._extras import extra
from fdscope.errors import LogReadError
from fdscope.logs._model import LogEvent


@dataclass(frozen=True)
class PullResult:
    """Where the events went and how many: ``path`` is JSON lines of :class:`LogEvent` dicts."""

    log_group: str
    path: Path
    events: int
    pages: int
    streams: int
    start: int | None
    end: int | None


def _slug(log_group: str) -> str:
    """A file name for a log group: ``/aws/lambda/fn`` -> ``aws_lambda_fn``."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", log_group.strip("/")).strip("_.")
    return s or "log-group"


def pull_events(
    log_group: str,
    out_dir: str | os.PathLike[str],
    *,
    start: int | None = None,
    end: int | None = None,
    filter_pattern: str | None = None,
    stream_prefix: str | None = None,
    client: Any = None,
    compress: bool = False,
    page_size: int | None = None,
    on_page: Callable[[int, int], None] | None = None,
    replace: bool = True,
) -> PullResult:
    """Download ``log_group``'s events between ``start`` and ``end`` (ms, inclusive start).

    Pages through FilterLogEvents until no ``nextToken`` is left and writes
    ``out_dir/<group>.jsonl`` (``.jsonl.gz`` with ``compress``), one event per
    line in the model of :class:`LogEvent`, which :func:`read_events` and the
    query engine read back. ``on_page(pages, events)`` is called after each page.
    With ``replace=False`` an existing file is not replaced: FileExistsError before
    any call. Raises LogReadError when CloudWatch refuses or cannot be reached; boto3 is
    imported only here, and only when no ``client`` is given.
    """
    target = Path(out_dir) / (_slug(log_group) + (".jsonl.gz" if compress else ".jsonl"))
    if not replace and (target.exists() or target.is_symlink()):
        raise FileExistsError(errno.EEXIST, "exists", str(target))
    # no region, no credentials, no connection: an error with a hint (fdscope._aws_errors)
    guard = aws_errors("downloading CloudWatch Logs", region_option=True, endpoint_option=True)
    if client is None:
        with extra("aws", "downloading CloudWatch Logs"):
            import boto3

        with guard:  # no region: an error with a hint
            client = boto3.client("logs")
    with extra("aws", "downloading CloudWatch Logs"):
        from botocore.exceptions import BotoCoreError, ClientError

    kwargs: dict[str, Any] = {"logGroupName": log_group}
    if start is not None:
        kwargs["startTime"] = int(start)
    if end is not None:
        kwargs["endTime"] = int(end)
    if filter_pattern:
        kwargs["filterPattern"] = filter_pattern
    if stream_prefix:
        kwargs["logStreamNamePrefix"] = stream_prefix
    if page_size:
        kwargs["limit"] = int(page_size)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / (_slug(log_group) + (".jsonl.gz" if compress else ".jsonl"))
    tmp = path.with_name(path.name + ".part")
    events = pages = 0
    streams: set[str] = set()
    try:
        opener: Any = gzip.open if compress else open
        with opener(tmp, "wt", encoding="utf-8") as f:
            token: str | None = None
            while True:
                if token:
                    kwargs["nextToken"] = token
                page = client.filter_log_events(**kwargs)
                pages += 1
                for e in page.get("events", ()):
                    ev = LogEvent(
                        int(e["timestamp"]),
                        e.get("message", ""),
                        e.get("logStreamName", ""),
                        log_group,
                        e.get("ingestionTime"),
                    )
                    streams.add(ev.logStream)
                    f.write(json.dumps(ev.to_dict(), ensure_ascii=False) + "\n")
                    events += 1
                if on_page is not None:
                    on_page(pages, events)
                nxt = page.get("nextToken")
                if not nxt or nxt == token:
                    break
                token = nxt
        os.replace(tmp, path)
    except (ClientError, BotoCoreError) as exc:
        tmp.unlink(missing_ok=True)
        guard.check(exc)
        raise LogReadError(f"cannot pull {log_group}: {exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return PullResult(log_group, path, events, pages, len(streams), start, end)
