"""Reference cycle: a new event loop per invocation, never closed; only the cyclic GC frees it."""

import asyncio


async def fetch_prices():
    await asyncio.sleep(0)
    return {"A-1": 3}


def handler(event, context):
    loop = asyncio.new_event_loop()
    prices = loop.run_until_complete(fetch_prices())
    return {"prices": prices}
