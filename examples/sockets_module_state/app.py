"""Retention: every invocation opens a database connection and keeps it in module state."""

import os
import socket

if "DB_ADDR" in os.environ:
    _host, _, _port = os.environ["DB_ADDR"].rpartition(":")
    DB = (_host, int(_port))
else:  # a stand-in database: a listener whose backlog completes the handshake
    _standin = socket.create_server(("127.0.0.1", 0), backlog=4096)
    DB = _standin.getsockname()

CONNECTIONS = []


def handler(event, context):
    conn = socket.create_connection(DB, timeout=2)
    CONNECTIONS.append(conn)
    conn.sendall(b"PING\r\n")
    return {"statusCode": 200, "body": "ok"}
