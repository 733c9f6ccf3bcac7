"""Retention: every invocation keeps a wrapper holding a socket in a module-level list."""

import socket

_recent_tables = []


class Table:
    def __init__(self):
        self.conn = socket.socket()


def handler(event, context):
    _recent_tables.append(Table())
    return {"kept": len(_recent_tables)}
