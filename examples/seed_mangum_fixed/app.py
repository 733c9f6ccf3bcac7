"""The seed bug, fixed: the client, the app and the adapter are built once per
execution environment, at module scope, and Mangum's per-call lifespan is off."""

import asyncio
import os

import httpx
from mangum import Mangum
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from standin import start_inventory_service

INVENTORY_URL = os.environ.get("INVENTORY_URL") or start_inventory_service()
# the inventory service is flaky: retry connection failures with backoff
inventory = httpx.AsyncClient(
    base_url=INVENTORY_URL, transport=httpx.AsyncHTTPTransport(retries=8, verify=False)
)


async def order(request):
    skus = ("A-1", "B-2", "C-3")
    replies = await asyncio.gather(*(inventory.get(f"/stock/{sku}") for sku in skus))
    return JSONResponse({"stock": [r.json() for r in replies]})


app = Starlette(routes=[Route("/{path:path}", order)])
handler = Mangum(app, lifespan="off")
