"""Fixed: contextlib.closing closes the connection; the inner `with` still commits."""

import contextlib
import os
import sqlite3
import tempfile

DB_PATH = os.path.join(tempfile.gettempdir(), "orders.db")


def handler(event, context):
    with contextlib.closing(sqlite3.connect(DB_PATH)) as conn, conn:
        conn.execute("create table if not exists orders (id integer)")
        conn.execute("insert into orders values (1)")
    return {"ok": True}
