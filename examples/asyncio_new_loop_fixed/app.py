"""Fixed: asyncio.run() creates the loop and closes it."""

import asyncio


async def fetch_prices():
    await asyncio.sleep(0)
    return {"A-1": 3}


def handler(event, context):
    prices = asyncio.run(fetch_prices())
    return {"prices": prices}
