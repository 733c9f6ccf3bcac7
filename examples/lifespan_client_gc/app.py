"""Reference cycle that never reaches the limit: Mangum runs the lifespan per call, the
lifespan opens an HTTP client and never closes it after `yield`; the cyclic GC frees
the clients in a saw-tooth well below 1,024."""

import contextlib
import os

import httpx
from mangum import Mangum
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from standin import start_inventory_service

INVENTORY_URL = os.environ.get("INVENTORY_URL") or start_inventory_service()


@contextlib.asynccontextmanager
async def lifespan(app):
    app.state.inventory = httpx.AsyncClient(base_url=INVENTORY_URL, verify=False)
    yield


async def stock(request):
    r = await request.app.state.inventory.get("/stock/A-1")
    return JSONResponse(r.json())


app = Starlette(routes=[Route("/{path:path}", stock)], lifespan=lifespan)
handler = Mangum(app)
