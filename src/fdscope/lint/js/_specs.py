"""What a JavaScript call makes: the per-invocation table (FDS2xx) and the leak shapes (FDS1xx).

Names are canonical: the module a name was imported from (``node:`` dropped, sub-paths that
re-export the same API folded: ``fs/promises`` -> ``fs.promises``, ``mysql2/promise`` ->
``mysql2``), then the member path: ``new AWS.S3()`` with ``AWS = require("aws-sdk")`` is
``aws-sdk.S3``; ``new S3Client()`` imported from ``@aws-sdk/client-s3`` is
``@aws-sdk/client-s3.S3Client``. Globals (``setInterval``) keep their bare name.
"""

from __future__ import annotations

# module folds: (import path) -> canonical module
MODULE_ALIASES = {
    "fs/promises": "fs.promises",
    "mysql2/promise": "mysql2",
    "mysql/promise": "mysql",
    "@vendia/serverless-express": "serverless-express",
    "@codegenie/serverless-express": "serverless-express",
    "timers/promises": "timers.promises",
    "@hapi/hapi": "hapi",
    "@grpc/grpc-js": "grpc",
    "undici-types": "undici",
}

# per-invocation construction: canonical name -> (code, how: "new", "call" or "any")
PER_CALL: dict[str, tuple[str, str]] = {
    # FDS202: HTTP agents and pools (a new pool and TLS handshake per invocation)
    "http.Agent": ("FDS202", "new"),
    "https.Agent": ("FDS202", "new"),
    "undici.Agent": ("FDS202", "new"),
    "undici.Pool": ("FDS202", "new"),
    "undici.Client": ("FDS202", "new"),
    "agentkeepalive": ("FDS202", "new"),
    "agentkeepalive.HttpsAgent": ("FDS202", "new"),
    "@smithy/node-http-handler.NodeHttpHandler": ("FDS202", "new"),
    # FDS203: database pools, clients and connections
    "pg.Pool": ("FDS203", "new"),
    "pg.Client": ("FDS203", "new"),
    "pg.default.Pool": ("FDS203", "new"),
    "pg.default.Client": ("FDS203", "new"),
    "@neondatabase/serverless.Pool": ("FDS203", "new"),
    "@neondatabase/serverless.Client": ("FDS203", "new"),
    "mysql.createConnection": ("FDS203", "call"),
    "mysql.createPool": ("FDS203", "call"),
    "mysql.createPoolCluster": ("FDS203", "call"),
    "mysql2.createConnection": ("FDS203", "call"),
    "mysql2.createPool": ("FDS203", "call"),
    "mysql2.createPoolCluster": ("FDS203", "call"),
    "mongodb.MongoClient": ("FDS203", "new"),
    "mongodb.MongoClient.connect": ("FDS203", "call"),
    "ioredis": ("FDS203", "new"),
    "ioredis.Redis": ("FDS203", "new"),
    "ioredis.Cluster": ("FDS203", "new"),
    "ioredis.default": ("FDS203", "new"),
    "redis.createClient": ("FDS203", "call"),
    "redis.createCluster": ("FDS203", "call"),
    "@prisma/client.PrismaClient": ("FDS203", "new"),
    "mongoose.connect": ("FDS203", "call"),
    "mongoose.createConnection": ("FDS203", "call"),
    "knex": ("FDS203", "call"),
    "knex.knex": ("FDS203", "call"),
    "sequelize": ("FDS203", "new"),
    "sequelize.Sequelize": ("FDS203", "new"),
    "postgres": ("FDS203", "call"),
    "oracledb.getConnection": ("FDS203", "call"),
    "oracledb.createPool": ("FDS203", "call"),
    "cassandra-driver.Client": ("FDS203", "new"),
    "tedious.Connection": ("FDS203", "new"),
    # FDS204: gRPC clients and channels
    "grpc.Client": ("FDS204", "new"),
    "grpc.Channel": ("FDS204", "new"),
    # FDS205: servers, apps and their Lambda adapters
    "http.createServer": ("FDS205", "call"),
    "https.createServer": ("FDS205", "call"),
    "http2.createServer": ("FDS205", "call"),
    "http2.createSecureServer": ("FDS205", "call"),
    "net.createServer": ("FDS205", "call"),
    "express": ("FDS205", "call"),
    "koa": ("FDS205", "new"),
    "fastify": ("FDS205", "call"),
    "fastify.fastify": ("FDS205", "call"),
    "hapi.server": ("FDS205", "call"),
    "hapi.Server": ("FDS205", "new"),
    "hono.Hono": ("FDS205", "new"),
    "aws-serverless-express.createServer": ("FDS205", "call"),
    "serverless-express": ("FDS205", "call"),
    "serverless-express.configure": ("FDS205", "call"),
    "serverless-express.default": ("FDS205", "call"),
    "serverless-http": ("FDS205", "call"),
    "@fastify/aws-lambda": ("FDS205", "call"),
}

# servers and apps whose .listen() opens a listening socket (FDS112)
SERVERS = frozenset(
    {
        "http.createServer",
        "https.createServer",
        "http2.createServer",
        "http2.createSecureServer",
        "net.createServer",
        "tls.createServer",
        "express",
        "koa",
        "fastify",
        "fastify.fastify",
    }
)

# leak shapes: canonical name -> kind
LEAKS: dict[str, str] = {
    "fs.openSync": "fd",
    "fs.open": "fd-callback",
    "fs.promises.open": "handle",
    "fs.createWriteStream": "writer",
    "fs.createReadStream": "reader",
    "net.connect": "socket",
    "net.createConnection": "socket",
    "net.Socket": "socket",
    "tls.connect": "socket",
    "dgram.createSocket": "socket",
    "child_process.spawn": "child",
    "child_process.exec": "child",
    "child_process.execFile": "child",
    "child_process.fork": "child",
    "setInterval": "timer",
    "timers.setInterval": "timer",
}

# what each leak kind's finding is and which methods release it
LEAK_CODE = {
    "fd": "FDS103",
    "fd-callback": "FDS103",
    "handle": "FDS108",
    "writer": "FDS108",
    "reader": "FDS109",
    "socket": "FDS108",
    "child": "FDS107",
    "timer": "FDS111",
}
CLOSERS = {
    "handle": frozenset({"close"}),
    "writer": frozenset({"end", "destroy", "close"}),
    "reader": frozenset({"destroy", "close", "pipe", "read", "resume", "setEncoding"}),
    "socket": frozenset({"end", "destroy", "close", "destroySoon", "resetAndDestroy"}),
    "child": frozenset({"kill", "disconnect"}),
}
# functions that take a descriptor without owning it (fs.writeSync(fd, ...))
FD_USERS = frozenset(
    {
        "write",
        "writeSync",
        "read",
        "readSync",
        "fstat",
        "fstatSync",
        "fsync",
        "fsyncSync",
        "fdatasync",
        "fdatasyncSync",
        "ftruncate",
        "ftruncateSync",
        "futimes",
        "futimesSync",
        "fchmod",
        "fchmodSync",
        "fchown",
        "fchownSync",
        "writev",
        "writevSync",
        "readv",
        "readvSync",
        "writeFileSync",
        "writeFile",
        "readFileSync",
        "readFile",
        "appendFileSync",
        "appendFile",
    }
)
FD_CLOSERS = frozenset({"close", "closeSync"})


# aws-sdk v2's classes that are not service clients (no connection pool of their own)
_AWS_V2_NOT_CLIENTS = frozenset(
    {
        "Endpoint",
        "HttpRequest",
        "HttpResponse",
        "Config",
        "Credentials",
        "CredentialProviderChain",
        "SharedIniFileCredentials",
        "EnvironmentCredentials",
        "ECSCredentials",
        "EC2MetadataCredentials",
        "TemporaryCredentials",
        "ChainableTemporaryCredentials",
        "WebIdentityCredentials",
        "CognitoIdentityCredentials",
        "SAMLCredentials",
        "TokenFileWebIdentityCredentials",
        "ProcessCredentials",
        "Service",
        "Request",
        "Response",
        "Token",
    }
)


def per_call(name: str, is_new: bool) -> str | None:
    """The FDS2xx code of a call or ``new`` of a canonical name, or None."""
    hit = PER_CALL.get(name)
    if hit is not None:
        code, how = hit
        if how == "any" or (how == "new") == is_new:
            return code
        return None
    if not is_new:
        return None
    last = name.rsplit(".", 1)[-1]
    if name.startswith("aws-sdk."):
        parts = name.split(".")[1:]
        if len(parts) == 1 and last[:1].isupper() and last not in _AWS_V2_NOT_CLIENTS:
            return "FDS201"  # new AWS.S3()
        if len(parts) == 2 and last == "DocumentClient":
            return "FDS201"  # new AWS.DynamoDB.DocumentClient()
        return None
    if name.startswith("aws-sdk/clients/"):
        return "FDS201"  # import S3 from "aws-sdk/clients/s3"; new S3()
    if name.startswith("@aws-sdk/client-") and last.endswith("Client"):
        return "FDS201"  # new S3Client(), new DynamoDBClient()
    return None


def leak(name: str, is_new: bool) -> str | None:
    """The leak kind of a canonical name, or None."""
    kind = LEAKS.get(name)
    if kind is None:
        return None
    if kind == "socket" and name == "net.Socket":
        return kind if is_new else None
    return None if is_new and kind != "socket" else kind
