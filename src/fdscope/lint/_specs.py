"""What the checker knows about calls: which make descriptors, how they are closed, what they cost."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Spec:
    """A call that creates a resource.

    ``rule``: the leak rule when the result is not managed (None: only the per-invocation
    family applies); ``closers``: methods that release it; ``per_call``: the per-invocation rule;
    ``cycle``: dropped unclosed it waits for the cyclic garbage collector (so even a chained,
    discarded use leaks); ``started``: a worker that only holds resources once ``.start()``-ed;
    ``fds``: which elements of a returned tuple are descriptors (bare descriptors, pairs).
    """

    label: str
    rule: str | None
    closers: frozenset[str] = frozenset({"close"})
    per_call: str | None = None
    cycle: bool = False
    started: bool = False
    fds: tuple[int, ...] = ()


_CLOSE = frozenset({"close"})
_ACLOSE = frozenset({"close", "aclose"})
_POOL = frozenset({"shutdown", "close", "terminate", "join"})


def _table() -> dict[str, Spec]:
    t: dict[str, Spec] = {}

    def add(names: str, **kw: object) -> None:
        for name in names.split():
            t[name] = Spec(label=name, **kw)  # type: ignore[arg-type]

    # bare integer descriptors (FDS103); ``fds`` says which tuple members are descriptors
    add("os.open os.dup os.memfd_create os.eventfd os.pidfd_open os.posix_openpt", rule="FDS103")
    add("os.pipe os.pipe2 os.openpty pty.openpty", rule="FDS103", fds=(0, 1))
    add("tempfile.mkstemp", rule="FDS103", fds=(0,))
    # event loops (FDS105)
    add("asyncio.new_event_loop", rule="FDS105", cycle=True)
    # workers (FDS106)
    add(
        "concurrent.futures.ThreadPoolExecutor concurrent.futures.ProcessPoolExecutor "
        "concurrent.futures.thread.ThreadPoolExecutor concurrent.futures.process.ProcessPoolExecutor "
        "multiprocessing.Pool multiprocessing.pool.Pool multiprocessing.pool.ThreadPool "
        "multiprocessing.dummy.Pool",
        rule="FDS106",
        closers=_POOL,
    )
    add(
        "watchdog.observers.Observer watchdog.observers.polling.PollingObserver "
        "watchdog.observers.inotify.InotifyObserver",
        rule="FDS106",
        closers=frozenset({"stop"}),
        started=True,
    )
    add(
        "threading.Thread threading.Timer",
        rule="FDS106",
        closers=frozenset({"join", "cancel"}),
        started=True,
    )
    # processes (FDS107)
    add("subprocess.Popen", rule="FDS107", closers=frozenset({"wait", "communicate"}))
    # files, sockets, selectors, temp files (FDS108)
    add(
        "open io.open codecs.open gzip.open bz2.open lzma.open tarfile.open zipfile.ZipFile "
        "gzip.GzipFile bz2.BZ2File lzma.LZMAFile "
        "socket.socket socket.create_connection socket.create_server socket.fromfd "
        "tempfile.TemporaryFile tempfile.NamedTemporaryFile tempfile.SpooledTemporaryFile "
        "selectors.DefaultSelector selectors.EpollSelector selectors.PollSelector "
        "selectors.SelectSelector select.epoll select.kqueue select.devpoll "
        "sqlite3.connect shelve.open dbm.open mmap.mmap",
        rule="FDS108",
    )
    add("socket.socketpair", rule="FDS108", fds=(0, 1))
    # (reader, writer): the writer owns the transport and its socket
    add("asyncio.open_connection asyncio.open_unix_connection", rule="FDS108", fds=(1,))
    add("tempfile.TemporaryDirectory", rule=None, closers=frozenset({"cleanup"}))
    # HTTP clients: cost per invocation (FDS202) and descriptors when never closed (FDS108)
    add(
        "requests.Session requests.session requests.sessions.Session",
        rule="FDS108",
        per_call="FDS202",
    )
    add(
        "urllib3.PoolManager urllib3.HTTPConnectionPool urllib3.HTTPSConnectionPool "
        "urllib3.connection_from_url urllib3.ProxyManager",
        rule="FDS108",
        per_call="FDS202",
    )
    add(
        "httpx.Client httpx.AsyncClient aiohttp.ClientSession",
        rule="FDS108",
        closers=_ACLOSE,
        per_call="FDS202",
        cycle=True,
    )
    add("http.client.HTTPConnection http.client.HTTPSConnection", rule=None, per_call="FDS202")
    # AWS (FDS201)
    add(
        "boto3.client boto3.resource boto3.Session boto3.session.Session "
        "botocore.session.get_session botocore.session.Session aioboto3.Session "
        "aiobotocore.session.get_session",
        rule=None,
        per_call="FDS201",
    )
    # databases (FDS203; a connection never closed is FDS108 too)
    add(
        "psycopg2.connect psycopg.connect psycopg.Connection.connect pymysql.connect "
        "pymysql.connections.Connection MySQLdb.connect mysql.connector.connect "
        "pg8000.connect pg8000.native.Connection pymssql.connect cx_Oracle.connect "
        "oracledb.connect",
        rule="FDS108",
        per_call="FDS203",
    )
    add(
        "sqlalchemy.create_engine sqlalchemy.ext.asyncio.create_async_engine "
        "redis.Redis redis.StrictRedis redis.from_url redis.Redis.from_url "
        "redis.asyncio.Redis redis.asyncio.from_url redis.cluster.RedisCluster "
        "pymongo.MongoClient motor.motor_asyncio.AsyncIOMotorClient asyncpg.create_pool "
        "psycopg_pool.ConnectionPool psycopg2.pool.SimpleConnectionPool "
        "psycopg2.pool.ThreadedConnectionPool elasticsearch.Elasticsearch opensearchpy.OpenSearch",
        rule=None,
        per_call="FDS203",
    )
    add("asyncpg.connect", rule="FDS108", per_call="FDS203")
    # gRPC (FDS204)
    add(
        "grpc.insecure_channel grpc.secure_channel grpc.aio.insecure_channel grpc.aio.secure_channel",
        rule="FDS108",
        per_call="FDS204",
    )
    # web apps and adapters (FDS205)
    add(
        "flask.Flask fastapi.FastAPI starlette.applications.Starlette mangum.Mangum "
        "apig_wsgi.make_lambda_handler chalice.Chalice quart.Quart sanic.Sanic "
        "aws_lambda_powertools.event_handler.APIGatewayRestResolver "
        "aws_lambda_powertools.event_handler.APIGatewayHttpResolver "
        "aws_lambda_powertools.event_handler.ALBResolver "
        "aws_lambda_powertools.event_handler.LambdaFunctionUrlResolver",
        rule=None,
        per_call="FDS205",
    )
    return t


SPECS: dict[str, Spec] = _table()

# a method call with a string literal service name: ``session.client("s3")``
AWS_METHOD = Spec("client", rule=None, per_call="FDS201")
# ``conn, addr = srv.accept()`` on a socket: the connection is a new descriptor
ACCEPT = Spec("accept", rule="FDS108", fds=(0,))
# ``requests.get(..., stream=True)`` and friends; ``x.get_object(...)`` (boto3 StreamingBody)
STREAM = Spec("stream", rule="FDS109")
STREAM_READERS = frozenset(
    {
        "content",
        "text",
        "json",
        "iter_content",
        "iter_lines",
        "raw",
        "read",
        "iter_bytes",
        "iter_text",
        "iter_raw",
        "aread",
        "aiter_bytes",
        "aiter_lines",
        "aiter_text",
        "aiter_raw",
        "close",
        "aclose",
        "release",
        "readlines",
        "iter_chunks",
        "readline",
    }
)
HTTP_VERBS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "request", "send", "urlopen"}
)

# callees that take ownership (the argument is then managed by what they return)
MANAGERS = frozenset({"contextlib.closing", "closing"})
MANAGER_METHODS = frozenset(
    {
        "enter_context",
        "enter_async_context",
        "callback",
        "push",
        "push_async_callback",
        "addCleanup",
        "addfinalizer",
        "add_done_callback",
        "addAsyncCleanup",
    }
)
# callees that use an argument without keeping it (a local passed to these is still ours)
NON_OWNING = frozenset(
    """print len repr str bytes bool int isinstance hasattr getattr setattr id type iter next
    asyncio.set_event_loop os.write os.read os.fstat os.lseek os.fsync os.ftruncate os.fchmod
    os.fchown os.set_inheritable os.set_blocking os.get_inheritable os.get_blocking os.readv
    os.writev os.sendfile os.pread os.pwrite os.isatty os.ttyname os.fdatasync os.posix_fallocate
    os.dup2 os.login_tty mmap.mmap fcntl.fcntl fcntl.flock fcntl.ioctl fcntl.lockf select.select
    json.dump json.load pickle.dump pickle.load marshal.dump marshal.load yaml.safe_load
    yaml.load yaml.dump yaml.safe_dump csv.reader csv.writer csv.DictReader csv.DictWriter
    shutil.copyfileobj logging.debug logging.info logging.warning logging.error
    logging.exception""".split()  # noqa: SIM905
)
# callees that hand a bare descriptor over to an object that closes it (not mmap.mmap: it
# duplicates the descriptor, and the original still has to be closed)
FD_TAKERS = frozenset(
    {
        "os.close",
        "os.closerange",
        "os.fdopen",
        "open",
        "io.open",
        "io.FileIO",
        "socket.socket",
        "socket.fromfd",
        "asyncio.open_connection",
    }
)
# mutators that keep what they are given: ``CACHE.append(x)`` on a module-level container
KEEPERS = frozenset({"append", "add", "insert", "extend", "appendleft", "put", "put_nowait"})
EVICTORS = frozenset({"pop", "popitem", "clear", "remove", "discard", "popleft", "get_nowait"})
CACHE_DECORATORS = frozenset(
    {
        "functools.cache",
        "functools.lru_cache",
        "functools.cached_property",
        "cache",
        "lru_cache",
        "cached_property",
        "cachetools.cached",
        "cached",
    }
)
ROUTE_DECORATORS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "route", "api_route", "resolve"}
)
