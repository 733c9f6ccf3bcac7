"""Fixed: the per-tenant cache evicts (and closes) the least recently used connection."""

import collections
import itertools
import os
import sqlite3
import tempfile

DATA = os.environ.get("DATA_DIR", tempfile.gettempdir())
MAX_OPEN = 32
_traffic = itertools.count()  # stands in for traffic from many tenants
_dbs = collections.OrderedDict()


def tenant_db(tenant):
    if tenant in _dbs:
        _dbs.move_to_end(tenant)
        return _dbs[tenant]
    if len(_dbs) >= MAX_OPEN:
        _, oldest = _dbs.popitem(last=False)
        oldest.close()
    _dbs[tenant] = sqlite3.connect(os.path.join(DATA, f"{tenant}.db"))
    return _dbs[tenant]


def handler(event, context):
    tenant = event.get("tenant") or f"tenant-{next(_traffic)}"
    db = tenant_db(tenant)
    db.execute("create table if not exists hits (n integer)")
    return {"tenant": tenant}
