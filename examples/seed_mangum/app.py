"""The seed bug: a Starlette app behind Mangum, built inside the handler.

Mangum runs the app's lifespan on every invocation. The lifespan opens an
HTTP client for the inventory service and starts a background refresher task
on Mangum's event loop, which Lambda reuses across invocations: the pending
task keeps the client, and its pooled connections, alive forever.
"""

import asyncio
import contextlib
import os

import httpx
from mangum import Mangum
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from standin import start_inventory_service

INVENTORY_URL = os.environ.get("INVENTORY_URL") or start_inventory_service()


async def keep_prices_fresh(client):
    while True:
        await client.get("/prices")
        await asyncio.sleep(60)


@contextlib.asynccontextmanager
async def lifespan(app):
    client = httpx.AsyncClient(base_url=INVENTORY_URL, verify=False)
    app.state.inventory = client
    asyncio.create_task(keep_prices_fresh(client))
    yield


async def stock(request):
    r = await request.app.state.inventory.get("/stock/A-1")
    return JSONResponse(r.json())


def handler(event, context):
    app = Starlette(routes=[Route("/orders", stock)], lifespan=lifespan)
    return Mangum(app)(event, context)
