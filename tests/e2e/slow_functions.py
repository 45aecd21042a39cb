"""A slow function for the graceful-shutdown e2e test: it records its start and its end.

`HINCRBY {prefix}:slow calls 1` when it starts, `HSET {prefix}:slow finished <n>` just before
it returns, so the test can tell that the call ran once and finished before the process exited.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from redis.asyncio import Redis

from workflows.functions import function

_prefix = os.environ["WORKFLOWS_KEY_PREFIX"]
SECONDS = float(os.environ.get("SLOW_FUNCTION_SECONDS", "3"))


@function("slowStep")
async def slow_step(data: dict[str, Any]) -> dict[str, Any]:
    async with Redis.from_url(os.environ["WORKFLOWS_REDIS_URL"]) as client:
        calls = await client.hincrby(f"{_prefix}:slow", "calls", 1)
        await asyncio.sleep(SECONDS)  # the slow work itself
        await client.hset(f"{_prefix}:slow", "finished", str(calls))
    return {"slept": SECONDS, **data}
