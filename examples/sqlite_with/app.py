"""Reference cycle: `with sqlite3.connect(...)` commits but does not close the connection."""

import os
import sqlite3
import tempfile

DB_PATH = os.path.join(tempfile.gettempdir(), "orders.db")


def handler(event, context):
    with sqlite3.connect(DB_PATH) as conn:
        conn.execute("create table if not exists orders (id integer)")
        conn.execute("insert into orders values (1)")
    return {"ok": True}
