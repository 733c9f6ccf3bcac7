"""Background threads: an executor per invocation runs a log shipper that never finishes;
each shipper keeps its own connection, so threads and sockets pile up."""

import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

if "DB_ADDR" in os.environ:
    _host, _, _port = os.environ["DB_ADDR"].rpartition(":")
    LOGS = (_host, int(_port))
else:  # a stand-in log collector: a listener whose backlog completes the handshake
    _standin = socket.create_server(("127.0.0.1", 0), backlog=4096)
    LOGS = _standin.getsockname()


def ship_logs():
    conn = socket.create_connection(LOGS, timeout=2)
    for _ in range(3600):  # ships for an hour, or until the environment dies
        time.sleep(1)
    conn.close()


def handler(event, context):
    pool = ThreadPoolExecutor(max_workers=1)
    pool.submit(ship_logs)
    return {"ok": True}
