"""Retention: a per-tenant database cache with no eviction; every new tenant costs a descriptor."""

import itertools
import os
import sqlite3
import tempfile

DATA = os.environ.get("DATA_DIR", tempfile.gettempdir())
_traffic = itertools.count()  # stands in for traffic from many tenants
_dbs = {}


def tenant_db(tenant):
    if tenant not in _dbs:
        _dbs[tenant] = sqlite3.connect(os.path.join(DATA, f"{tenant}.db"))
    return _dbs[tenant]


def handler(event, context):
    tenant = event.get("tenant") or f"tenant-{next(_traffic)}"
    db = tenant_db(tenant)
    db.execute("create table if not exists hits (n integer)")
    return {"tenant": tenant}
