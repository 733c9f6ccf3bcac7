"""The rule table: one small class per rule, with a code, a message, a fix hint and a doc line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    """One lint rule. ``message`` is a template filled with the finding's ``{call}``/``{name}``."""

    code: str
    name: str
    family: str  # "leak" (every function body), "per-invocation" (handlers), "file"
    message: str
    hint: str
    doc: str
    # the languages with a shape of this rule (fdscope.lint.js maps JavaScript's to the same codes)
    languages: tuple[str, ...] = ("python", "javascript")


_RULES = (
    Rule(
        "FDS001",
        "syntax-error",
        "file",
        "file does not parse with Python {name}: {call}",
        "check the file with the Python version it targets; the rest of the project is still checked",
        "A file the running Python cannot parse is reported, never skipped silently.",
    ),
    Rule(
        "FDS002",
        "file-not-checked",
        "file",
        "file not checked: {call}",
        "split the file, or check it with a tool without a size limit; the rest of the project "
        "is still checked",
        "A file over the size limit (2 MB: lint's time and memory grow with it, about 6 s and "
        "250 MB per MB) or that is not a regular file (a FIFO) is reported, never skipped "
        "silently nor run out of memory.",
    ),
    Rule(
        "FDS101",
        "retained-resource",
        "leak",
        "{call} created per call is kept in {name}; every call adds one open descriptor",
        "create it once at module scope and reuse it, or close it before dropping it; "
        "a cache needs a bound and must close what it evicts",
        "A resource made inside a function and stored into module state, a global container, "
        "a cache without eviction, or a closure that outlives the call (atexit, a global list).",
    ),
    Rule(
        "FDS102",
        "handler-added-per-call",
        "leak",
        "{call} inside a function adds one more handler (and its stream) on every call",
        "configure logging once at module scope, or guard with `if not logger.handlers:`",
        "`logger.addHandler(...)` in a function that runs more than once: handlers pile up, "
        "each holding its file or socket.",
        ("python",),
    ),
    Rule(
        "FDS103",
        "bare-descriptor",
        "leak",
        "{call} returns a bare descriptor that is never closed",
        "close it with os.close(fd) in a `finally:`, or wrap it at once with os.fdopen(fd)",
        "`tempfile.mkstemp`, `os.open`, `os.pipe`, `os.dup`, `os.openpty`, `os.memfd_create`, "
        "`os.eventfd`: integers nothing ever finalizes (`mmap.mmap(fd, ...)` duplicates the "
        "descriptor: the original still needs `os.close`).",
    ),
    Rule(
        "FDS104",
        "sqlite-with",
        "leak",
        "`with {call}` commits, it does not close the connection",
        "use `with contextlib.closing(sqlite3.connect(...)) as conn:` or call conn.close()",
        "`with sqlite3.connect(...)` (or `psycopg2.connect(...)`), or `with conn:` on such a "
        "connection that is never closed, ends a transaction; the connection (its file or "
        "socket) stays open until the garbage collector finds it.",
        ("python",),
    ),
    Rule(
        "FDS105",
        "event-loop-not-closed",
        "leak",
        "{call} is never closed; its selector and self-pipe wait for the garbage collector",
        "use asyncio.run(...), or close the loop in a `finally:`",
        "`asyncio.new_event_loop()` without `loop.close()`: each loop holds an epoll descriptor "
        "and a socket pair, freed only by the cyclic collector.",
        ("python",),
    ),
    Rule(
        "FDS106",
        "background-worker-per-call",
        "leak",
        "{call} started per call is never stopped; its threads keep their resources open",
        "start it once at module scope, or use `with` / call shutdown()/stop()/join() before returning",
        "Thread pools, process pools, watchdog observers and daemon threads started in a function "
        "and never shut down, stopped or joined.",
        ("python",),
    ),
    Rule(
        "FDS107",
        "popen-not-waited",
        "leak",
        "{call} with pipes is never waited for; its pipes and the child stay open",
        "use `with subprocess.Popen(...) as proc:` or proc.communicate(), or subprocess.run(...)",
        "`subprocess.Popen(..., stdout=PIPE)` with no `wait()`/`communicate()`: pipes stay open "
        "and the child becomes a zombie.",
    ),
    Rule(
        "FDS108",
        "not-closed",
        "leak",
        "{call} {name}",
        "use `with ...:` (or contextlib.closing / ExitStack), or close it in a `finally:`",
        "`open()`, sockets (also the connection of `srv.accept()` on a socket made in the "
        "module, and the writer of `asyncio.open_connection`), selectors, `tempfile` objects "
        "and HTTP clients (requests, httpx, aiohttp, urllib3) outside a `with` block with no "
        "`close()` sure to run.",
    ),
    Rule(
        "FDS109",
        "stream-unread",
        "leak",
        "{call} {name}",
        "read it fully (`.read()`, `.content`) or close it, ideally with `with`",
        "A streamed HTTP response (`stream=True`, `httpx.stream`) or a boto3 `StreamingBody` "
        "kept without reading or closing holds its connection out of the pool.",
    ),
    Rule(
        "FDS110",
        "lifespan-not-closed",
        "leak",
        "{call} opened in lifespan {name} is never closed after `yield`",
        "close it after the `yield` (await client.aclose()), or use `async with` around the yield",
        "An ASGI lifespan (or async context manager) that opens a client before `yield` and "
        "does not close it afterwards.",
        ("python",),
    ),
    Rule(
        "FDS111",
        "timer-per-call",
        "leak",
        "{call} started per call is never cleared; it fires forever and keeps what its "
        "callback uses (sockets, clients) open",
        "start it once at module scope, or keep its id and clearInterval(id) before returning",
        "JavaScript: `setInterval(...)` in a function whose id is dropped or never passed to "
        "`clearInterval` (Python has no counterpart).",
        ("javascript",),
    ),
    Rule(
        "FDS112",
        "server-listening-per-call",
        "leak",
        "{call} listens per call and is never closed; its listening socket and every "
        "connection it accepts stay open",
        "create the server and listen once at module scope, or server.close() when the call ends",
        "JavaScript: `.listen()` on a server or app made in the same function "
        "(`http.createServer`, `net.createServer`, `express()`, `new Koa()`) with no "
        "`close()` and not handed on (Python has no counterpart).",
        ("javascript",),
    ),
    Rule(
        "FDS201",
        "aws-client-per-invocation",
        "per-invocation",
        "{call} built per invocation{name}",
        "create the client/resource/session once at module scope and reuse it",
        "boto3/botocore clients, resources and sessions built inside a handler "
        "(about 12-18 ms per client, 190 ms per Session, on every invocation).",
    ),
    Rule(
        "FDS202",
        "http-client-per-invocation",
        "per-invocation",
        "{call} built per invocation{name}",
        "create the HTTP client/session once at module scope so connections are reused",
        "HTTP clients and sessions (requests, httpx, aiohttp, urllib3) built inside a handler: "
        "a new connection pool and TLS handshake on every invocation.",
    ),
    Rule(
        "FDS203",
        "db-connection-per-invocation",
        "per-invocation",
        "{call} built per invocation{name}",
        "connect once at module scope (lazily, with a reconnect on error) and reuse it",
        "Database connections and engines (psycopg, psycopg2, pymysql, mysql-connector, "
        "SQLAlchemy create_engine, redis, pymongo) created inside a handler; "
        "`redis.Redis(connection_pool=POOL)` over a shared pool is not.",
    ),
    Rule(
        "FDS204",
        "grpc-channel-per-invocation",
        "per-invocation",
        "{call} built per invocation{name}",
        "create the channel once at module scope and reuse it",
        "gRPC channels created inside a handler.",
    ),
    Rule(
        "FDS205",
        "app-per-invocation",
        "per-invocation",
        "{call} built per invocation{name}",
        "build the app and its Lambda adapter once at module scope; the handler only calls it",
        "Web apps and their Lambda adapters (Flask, FastAPI, Starlette, Mangum, apig-wsgi) "
        "constructed inside a handler.",
    ),
)

RULES: dict[str, Rule] = {rule.code: rule for rule in _RULES}
