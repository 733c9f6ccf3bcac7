"""The seed bug, fixed: the client, the app and the adapter are built once per
execution environment, at module scope, and Mangum's per-call lifespan is off."""

import os

import httpx
from mangum import Mangum
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from standin import start_inventory_service

INVENTORY_URL = os.environ.get("INVENTORY_URL") or start_inventory_service()
inventory = httpx.AsyncClient(base_url=INVENTORY_URL, verify=False)


async def stock(request):
    r = await inventory.get("/stock/A-1")
    return JSONResponse(r.json())


app = Starlette(routes=[Route("/orders", stock)])
handler = Mangum(app, lifespan="off")
