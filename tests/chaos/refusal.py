"""Redis refusing writes during the chaos (`--refuse-writes S`, issue 20 item 7).

For S seconds Redis runs with `maxmemory 1` and `noeviction`, so every write command and
every script answers `OOM command not allowed`: to the API that is an outage (503 with
`Retry-After` and the reason, `/readyz` not ready), to the services a Redis error they ride
through. Meanwhile a prober calls `/readyz`, `GET /executions` and `POST /signals` (buffered:
a write) every 100 ms; every answer of the run (the chaos starts too) is tallied by status,
and a 500, or a 503 without `Retry-After`, fails the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from redis.asyncio import Redis

__all__ = ["HttpTally", "refuse_writes"]


@dataclass
class HttpTally:
    statuses: Counter[int] = field(default_factory=Counter)
    unavailable_without_retry_after: int = 0
    readyz_not_ready: int = 0  # /readyz answers 503 while the writes are refused
    examples: list[str] = field(default_factory=list)

    def note(self, response: httpx.Response) -> None:
        self.statuses[response.status_code] += 1
        if response.status_code == 503 and "retry-after" not in response.headers:
            self.unavailable_without_retry_after += 1
        if response.status_code >= 500 and len(self.examples) < 5:
            self.examples.append(
                f"{response.status_code} {response.url.path}: {response.text[:160]}"
            )


async def _probe(base_url: str, tally: HttpTally, stop: asyncio.Event, tag: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        n = 0
        while not stop.is_set():
            n += 1
            for method, path, body in (
                ("GET", "/readyz", None),
                ("GET", "/executions?limit=5", None),
                ("POST", f"/signals/{tag}-probe", {"correlation": f"probe-{n}"}),  # a write
            ):
                try:
                    response = await client.request(method, path, json=body)
                except httpx.HTTPError:
                    continue  # a trigger killed by the chaos: nothing answered
                tally.note(response)
                if path == "/readyz" and response.status_code == 503:
                    tally.readyz_not_ready += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)


async def refuse_writes(
    redis_url: str, base_url: str, seconds: float, tally: HttpTally, log: Any, tag: str
) -> float:
    """Refuse every Redis write for `seconds` while probing the API; the seconds refused."""
    redis = Redis.from_url(redis_url, socket_timeout=10)
    stop = asyncio.Event()
    try:
        policy = (await redis.config_get("maxmemory-policy")).get("maxmemory-policy", "noeviction")
        await redis.config_set("maxmemory-policy", "noeviction")
        await redis.config_set("maxmemory", "1")
        began = time.monotonic()
        log(f"redis refuses writes (maxmemory 1, noeviction) for {seconds:.0f}s")
        prober = asyncio.create_task(_probe(base_url, tally, stop, tag))
        await asyncio.sleep(seconds)  # the fault's length, not a wait for a condition
        await redis.config_set("maxmemory", "0")
        await redis.config_set("maxmemory-policy", policy)
        refused = time.monotonic() - began
        stop.set()
        await prober
        log(f"redis takes writes again after {refused:.1f}s")
        return refused
    finally:
        stop.set()
        await redis.aclose()
