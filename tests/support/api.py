"""The trigger's app in-process (ASGI) and a raw reader of the engine's topics, for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from aiokafka import AIOKafkaConsumer

from services.infra.redis_client import RedisClient
from services.infra.settings import Settings
from services.trigger import create_app


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
