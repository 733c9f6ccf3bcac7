"""Log sources into DuckDB: the ``events`` view the plan's first step reads.

JSON lines of CloudWatch events (``events.jsonl`` of a run directory, ``fdscope
logs pull`` output, any ``.jsonl``/``.ndjson`` whose lines are event objects)
are read by DuckDB itself, in parallel, column by column, only when the query
runs. Every other format goes through :func:`fdscope.logs.read_events` (the one
reader of FORMATS.md section 1) into a table first. Either way the view has
``ts, msg, stream, grp, ingest, src``, in source and line order (``src``: the name of a
``--source NAME=PATH`` input, "" for the positional ones). File order is the view's
insertion order; the plan numbers rows (``row_number() OVER ()``) only where a sort needs it.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fdscope.errors import LogReadError
from fdscope.insights._sql import sql_string
from fdscope.logs import ReadStats, is_event_object

# the times the Python reader accepts (years 1 to 9999): outside them, a line is counted
MAX_MS = 253_402_300_799_999
MIN_MS = -62_135_596_800_000

_JSONL = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
_SEQ_SHIFT = 1 << 36  # events_py.seq = source part * 2^36 + line number


# what a fast-read line that is not an event raises inside DuckDB: the engine then reads
# every file in Python, which skips and counts such lines (ReadStats.malformed)
NOT_AN_EVENT = "fdscope: a line of a JSON-lines file is not a CloudWatch event"
_FAST_REJECTS = (
    NOT_AN_EVENT,
    "Malformed JSON in file",
    "JSON transform error",
    # a line over DuckDB's object size, a cut or corrupt .gz: the Python reader reads every
    # line it can and counts the rest (lines of any size; what a truncated file holds)
    "maximum_object_size",
    "gzip",
    "GZIP",
)


def fast_rejected(message: str) -> bool:
    """Whether a DuckDB error says a fast-read file holds a line that is not an event."""
    return any(m in message for m in _FAST_REJECTS)


@dataclass
class Loaded:
    """What was loaded: the files DuckDB reads directly, the count read in Python, and what
    the Python reader skipped (``read_stats.malformed``)."""

    fast_files: list[str] = field(default_factory=list)
    python_events: int = 0
    parts: list[str] = field(default_factory=list)
    read_stats: ReadStats = field(default_factory=ReadStats)


def _first_line(path: Path) -> bytes:
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            for raw in f:
                if raw.strip():
                    return raw
    except (OSError, EOFError):
        return b""
    return b""


def fast_eligible(path: Path) -> bool:
    """True for JSON lines of CloudWatch event objects (the first line one), read by DuckDB directly."""
    if not path.name.endswith(_JSONL):
        return False
    first = _first_line(path).strip()
    if not first.startswith(b"{"):
        return False
    try:
        d = json.loads(first)
    except (ValueError, RecursionError):
        return False
    # the reader's own test: an application's JSON line with a timestamp and a message
    # but other keys too is a log line whose fields stay discoverable, not an event
    return is_event_object(d)


def _stream_name(path: Path, root: Path | None) -> str:
    # the same default stream name fdscope.logs gives a file that names no streams
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if name.isdigit() or (name.split(".")[0].isdigit() and path.parent.name):
        return path.parent.name
    if root is not None and root != path:
        try:
            rel = path.parent.relative_to(root).as_posix()
        except ValueError:
            rel = "."
        return name if rel == "." else f"{rel}/{name}"
    return name


def _is_run_dir(path: Path) -> bool:
    return (path / "run.json").is_file() and (path / "events.jsonl").is_file()


def _dir_files(root: Path) -> list[Path] | None:
    """Every log file under ``root`` if all are fast-readable, else None (read in Python)."""
    if _is_run_dir(root):
        p = root / "events.jsonl"
        return [p] if fast_eligible(p) else None
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        if here != root and _is_run_dir(here):
            return None
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = here / name
            if not fast_eligible(p):
                return None
            out.append(p)
    return out


def _fast_select(path: Path, root: Path | None, name: str, group: str, where: str) -> str:
    stream = sql_string(_stream_name(path, root))
    grp = sql_string(group)
    src = (
        f"read_json({sql_string(str(path))}, format='newline_delimited', ignore_errors=false, "
        "columns={'timestamp': 'DOUBLE', 'message': 'VARCHAR', 'logStreamName': 'VARCHAR', "
        "'logStream': 'VARCHAR', 'logGroupName': 'VARCHAR', 'logGroup': 'VARCHAR', 'ingestionTime': 'DOUBLE'})"
    )
    return (
        f"SELECT * FROM (SELECT CAST(trunc(timestamp) AS BIGINT) AS ts, message AS msg, "
        f"coalesce(nullif(logStreamName, ''), nullif(logStream, ''), {stream}) AS stream, "
        f"coalesce(nullif(logGroupName, ''), nullif(logGroup, ''), {grp}) AS grp, "
        "CASE WHEN abs(ingestionTime) <= 1e16 THEN CAST(trunc(ingestionTime) AS BIGINT) END AS ingest, "
        f"{sql_string(name)} AS src FROM {src} "
        "WHERE CASE WHEN timestamp IS NOT NULL AND message IS NOT NULL "
        f"AND timestamp BETWEEN {MIN_MS} AND {MAX_MS} "
        f"THEN TRUE ELSE error({sql_string(NOT_AN_EVENT)}) END){where}"
    )


def load(
    con: Any,
    sources: list[str | os.PathLike[str]],
    *,
    start: int | None,
    end: int | None,
    log_group: str | None,
    fast: bool = True,
    named: dict[str, list[str | os.PathLike[str]]] | None = None,
) -> Loaded:
    """Create the ``events`` view over ``sources`` on ``con``; raises LogReadError for a missing source.

    ``named``: inputs given as ``--source NAME=PATH`` (their events have ``src`` NAME
    and, when the file names no log group, ``@log`` NAME). ``fast=False`` reads every
    file in Python (after a fast-read file turned out to hold lines that are not
    events: see :func:`fast_rejected`).
    """
    from fdscope.logs import read_events

    conds = []
    if start is not None:
        conds.append(f"ts >= {int(start)}")
    if end is not None:
        conds.append(f"ts <= {int(end)}")
    where = (" WHERE " + " AND ".join(conds)) if conds else ""
    info = Loaded()
    selects: list[str] = []
    part = 0
    inputs: list[tuple[str, str, str | os.PathLike[str]]] = [
        ("", log_group or "", s) for s in sources
    ]
    for name, paths in (named or {}).items():
        inputs += [(name, name, p) for p in paths]
    with _PyEvents(con) as py:
        for name, group, src in inputs:
            path = Path(src)
            if not path.exists():
                raise LogReadError(f"no such log source: {path}")
            fast_files: list[tuple[Path, Path | None]] | None
            if not fast:
                fast_files = None
            elif path.is_dir():
                files = _dir_files(path)
                fast_files = None if files is None else [(f, path) for f in files]
            else:
                fast_files = [(path, None)] if fast_eligible(path) else None
            if fast_files is not None:
                for f, root in fast_files:
                    selects.append(_fast_select(f, root, name, group, where))
                    info.fast_files.append(str(f.resolve()))
                continue
            part += 1
            base = part * _SEQ_SHIFT
            for i, ev in enumerate(read_events(path, log_group=group, stats=info.read_stats)):
                if (start is not None and ev.timestamp < start) or (
                    end is not None and ev.timestamp > end
                ):
                    continue
                py.add(ev, base + i + 1)
            # this input's events, at its place in the union (file order is insertion order)
            selects.append(
                f"SELECT ts, msg, stream, grp, ingest, {sql_string(name)} AS src FROM events_py "
                f"WHERE seq > {base} AND seq < {base + _SEQ_SHIFT}"
            )
        info.python_events = py.count
    if not selects:
        selects.append("SELECT ts, msg, stream, grp, ingest, '' AS src FROM events_py")
    con.execute("CREATE TEMP VIEW events AS " + " UNION ALL ".join(selects))
    return info


class _PyEvents:
    """Events read in Python, handed to DuckDB's ``events_py`` table in column chunks.

    Each chunk is one line of a private JSON-lines file: an object of six arrays, which
    ``json.dumps`` writes at C speed and DuckDB unnests in parallel. That is about four
    times faster than one JSON object per event, and memory stays one chunk deep.
    """

    CHUNK = 20_000
    NAMES = ("ts", "msg", "stream", "grp", "ingest", "seq")

    def __init__(self, con: Any) -> None:
        self.con = con
        self.count = 0
        self._cols: tuple[list[Any], ...] = tuple([] for _ in self.NAMES)
        self._file: Any = None
        self._path = ""
        self._longest = 0

    def __enter__(self) -> _PyEvents:
        return self

    def add(self, ev: Any, seq: int) -> None:
        ts, msg, stream, grp, ingest, seqs = self._cols
        ts.append(ev.timestamp)
        msg.append(ev.message)
        stream.append(ev.logStream)
        grp.append(ev.logGroup)
        ingest.append(ev.ingestionTime)
        seqs.append(seq)
        self.count += 1
        if len(ts) >= self.CHUNK:
            self._flush()

    def _flush(self) -> None:
        import tempfile

        if not self._cols[0]:
            return
        if self._file is None:
            fd, self._path = tempfile.mkstemp(prefix="fdscope-events-", suffix=".jsonl")
            # a lone surrogate (from a JSON escape in a log) is not UTF-8: it becomes "?"
            self._file = os.fdopen(fd, "w", encoding="utf-8", errors="replace")
        line = json.dumps(dict(zip(self.NAMES, self._cols, strict=True)), ensure_ascii=False)
        self._file.write(line)
        self._file.write("\n")
        self._longest = max(self._longest, 4 * len(line))  # UTF-8: at most 4 bytes a character
        for col in self._cols:
            col.clear()

    def __exit__(self, *exc: object) -> None:
        try:
            self._flush()
            self.con.execute(
                "CREATE TEMP TABLE events_py (ts BIGINT, msg VARCHAR, stream VARCHAR, grp VARCHAR,"
                " ingest BIGINT, seq BIGINT)"
            )
            if self._file is None or exc[0] is not None:
                return
            self._file.close()
            self.con.execute(
                "INSERT INTO events_py SELECT unnest(ts), unnest(msg), unnest(stream), unnest(grp),"
                " unnest(ingest), unnest(seq) FROM read_json("
                f"{sql_string(self._path)}, format='newline_delimited', "
                f"maximum_object_size={self._longest + 1024}, columns={{'ts': 'BIGINT[]', "
                "'msg': 'VARCHAR[]', 'stream': 'VARCHAR[]', 'grp': 'VARCHAR[]', "
                "'ingest': 'BIGINT[]', 'seq': 'BIGINT[]'})"
            )
        finally:
            if self._file is not None:
                self._file.close()
                os.unlink(self._path)
