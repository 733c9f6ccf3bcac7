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
    # the inventory service is flaky: retry connection failures with backoff
    transport = httpx.AsyncHTTPTransport(retries=8, verify=False)
    client = httpx.AsyncClient(base_url=INVENTORY_URL, transport=transport)
    app.state.inventory = client
    asyncio.create_task(keep_prices_fresh(client))
    yield


async def order(request):
    skus = ("A-1", "B-2", "C-3")
    replies = await asyncio.gather(*(request.app.state.inventory.get(f"/stock/{sku}") for sku in skus))
    return JSONResponse({"stock": [r.json() for r in replies]})


def handler(event, context):
    app = Starlette(routes=[Route("/{path:path}", order)], lifespan=lifespan)
    return Mangum(app)(event, context)
