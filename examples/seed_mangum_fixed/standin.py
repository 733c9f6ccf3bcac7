"""A stand-in for the inventory service, so the example runs anywhere.

One daemon thread runs an asyncio HTTP/1.1 keep-alive server on 127.0.0.1;
set INVENTORY_URL to use a real service instead. Its accepted sockets live in
the same process, so each leaked client connection shows as two descriptors.
"""

import asyncio
import threading

_BODY = b'{"sku": "A-1", "stock": 3}'
_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    % (len(_BODY), _BODY)
)


async def _serve(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            writer.write(_RESPONSE)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def start_inventory_service() -> str:
    """Start the stand-in in a daemon thread; return its base URL."""
    ready = threading.Event()
    box = {}

    def run():
        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(asyncio.start_server(_serve, "127.0.0.1", 0))
        box["port"] = server.sockets[0].getsockname()[1]
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, name="inventory-standin", daemon=True).start()
    ready.wait(10)
    return "http://127.0.0.1:%d" % box["port"]
