"""Clean: a connection pool that grows and shrinks at random between 0 and 8 connections."""

import random
import socket

_rng = random.Random(7)
POOL_MAX = 8
_pool = []


def handler(event, context):
    if len(_pool) < POOL_MAX and _rng.random() < 0.5:
        _pool.append(socket.socketpair())
    elif _pool and _rng.random() < 0.5:
        a, b = _pool.pop(_rng.randrange(len(_pool)))
        a.close()
        b.close()
    return {"pool": len(_pool)}
