"""The dispatcher's idle Redis traffic: the unpark loop backs off, HTTP lookups share reads.

Fakes stand in for Redis (pure unit tests); `tests/integration/test_limits.py` runs the
parking lot and the limit caches on a real Redis.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, cast

from workflows.services.dispatcher import Dispatcher
from workflows.services.dispatcher.http_functions import HttpFunctions
from workflows.services.infra.limiter import ParkedStatus
from workflows.services.infra.redis_client import connect_redis_url
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import StateStore

WAIT_S = 10.0


async def until(check: Any, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


async def watch_looks(park_min_ms: int, park_max_ms: int) -> tuple[Dispatcher, list[float]]:
    """A dispatcher whose unpark loop runs against a fake lot that is always empty."""
    settings = Settings(
        park_min_ms=park_min_ms, park_max_ms=park_max_ms, redis_url="redis://127.0.0.1:1/0"
    )
    dispatcher = Dispatcher(settings, connect_redis_url(settings.redis_url))  # Redis unused
    looks: list[float] = []
    loop = asyncio.get_running_loop()

    async def nothing_parked() -> ParkedStatus:
        looks.append(loop.time())
        return ParkedStatus(0, None)

    dispatcher.limiter.next_parked = nothing_parked  # type: ignore[method-assign]
    return dispatcher, looks


async def test_the_unpark_loop_backs_off_when_nothing_is_parked() -> None:
    dispatcher, looks = await watch_looks(10, 80)
    unparking = asyncio.create_task(dispatcher._unpark_loop())
    await until(lambda: len(looks) >= 7, "seven looks")
    dispatcher.stop()
    await asyncio.wait_for(unparking, WAIT_S)
    gaps = [b - a for a, b in itertools.pairwise(looks)]
    assert gaps[0] < gaps[2]  # doubling from park_min_ms...
    assert all(gap < 0.3 for gap in gaps)  # ...up to park_max_ms (slack for a busy machine)
    assert sum(gaps[3:]) >= 3 * 0.08 * 0.9  # at the cap: 80 ms between looks, not 10


async def test_a_park_in_this_process_wakes_the_unpark_loop() -> None:
    dispatcher, looks = await watch_looks(500, 10_000)
    unparking = asyncio.create_task(dispatcher._unpark_loop())
    await until(lambda: len(looks) >= 3, "three looks")  # the next one would be 2 s later
    woken = asyncio.get_running_loop().time()
    dispatcher.limiter.parked_now.set()  # what `Limiter.park` does
    await until(lambda: len(looks) >= 4, "a look right after the park")
    assert looks[3] - woken < 1.0
    dispatcher.stop()
    await asyncio.wait_for(unparking, WAIT_S)


async def test_concurrent_lookups_share_one_read_and_known_names_never_wait() -> None:
    reads: list[int] = []
    release = asyncio.Event()
    declared: dict[str, dict[str, Any]] = {"charge": {"url": "http://x/charge"}}

    class Store:
        async def http_functions(self) -> dict[str, dict[str, Any]]:
            reads.append(1)
            await release.wait()
            return dict(declared)

    functions = HttpFunctions(cast(StateStore, Store()), refresh_s=0.05, miss_refresh_s=0.05)
    first = asyncio.gather(*(functions.get("charge") for _ in range(20)))
    misses = asyncio.gather(*(functions.get("billing.forwarded") for _ in range(20)))
    await until(lambda: bool(reads), "the first read")
    release.set()
    assert await first == [{"url": "http://x/charge"}] * 20
    assert await misses == [None] * 20
    assert len(reads) == 1

    release.clear()  # the next read hangs: a known name still answers from what was read
    await until(lambda: functions._age() >= 0.05, "a stale table")
    assert await asyncio.wait_for(functions.get("charge"), 1) == {"url": "http://x/charge"}
    assert len(reads) == 2  # read again in the background
    declared["late"] = {"url": "http://x/late"}
    late = asyncio.gather(*(functions.get("late") for _ in range(10)))
    release.set()
    assert await late == [{"url": "http://x/late"}] * 10
    assert len(reads) == 2
