"""An `async def` handler: Lambda's Python runtime calls it, gets a coroutine, and fails
to return it (Runtime.MarshalError) on every invocation."""

import asyncio


async def handler(event, context):
    await asyncio.sleep(0)
    return {"statusCode": 200}
