"""Clean: the same per-tenant cache, but there are only 120 tenants: it fills, then plateaus."""

import itertools
import os
import sqlite3
import tempfile

DATA = os.environ.get("DATA_DIR", tempfile.gettempdir())
TENANTS = 120
_traffic = itertools.count()
_dbs = {}


def tenant_db(tenant):
    if tenant not in _dbs:
        _dbs[tenant] = sqlite3.connect(os.path.join(DATA, f"{tenant}.db"))
    return _dbs[tenant]


def handler(event, context):
    tenant = f"tenant-{next(_traffic) % TENANTS}"
    db = tenant_db(tenant)
    db.execute("create table if not exists hits (n integer)")
    return {"tenant": tenant}
