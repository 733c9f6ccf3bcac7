"""Reference cycle that does reach the limit: the app turns the cyclic GC off at import (a
cold-start "speed-up" some apps use), and an event loop per invocation is never closed."""

import asyncio
import gc

gc.disable()


async def fetch_prices():
    await asyncio.sleep(0)
    return {"A-1": 3}


def handler(event, context):
    loop = asyncio.new_event_loop()
    prices = loop.run_until_complete(fetch_prices())
    return {"prices": prices}
