"""The trigger's app in-process (ASGI) and a raw reader of the engine's topics, for tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from aiokafka import AIOKafkaConsumer

from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.settings import Settings
from workflows.services.trigger import create_app


@asynccontextmanager
async def app_client(settings: Settings, redis: RedisClient) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the trigger's app, its lifespan started (no port, no process)."""
    app = create_app(settings, redis)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@asynccontextmanager
async def topic_reader(settings: Settings, *topics: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer of `topics` from their first record, in no group, committing nothing."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def records_about(
    settings: Settings, topic: str, execution_id: str, until: str, seconds: float = 10
) -> list[bytes]:
    """Raw values of `topic` that mention `execution_id`, read until one holds `until`."""
    async with topic_reader(settings, topic) as consumer:
        found: list[bytes] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not any(until.encode() in r for r in found):
            batch = await consumer.getmany(timeout_ms=200)
            found += [r.value for rs in batch.values() for r in rs if r.value is not None]
            found = [r for r in found if execution_id.encode() in r]
    return found
