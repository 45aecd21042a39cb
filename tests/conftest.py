"""Session fixtures: one real Tansu broker and one real redis-server for the whole run.

Each test gets its own topic prefix and Redis key prefix, so tests never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from services.infra.settings import Settings
from workflows.embedded import redis_server, tansu


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with tansu() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
def settings(kafka_bootstrap: str, redis_url: str) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        topic_prefix=f"t{tag}.",
        key_prefix=f"wf{tag}",
        partitions=2,
        timer_poll_ms=10,
    )


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    yield client
    await client.aclose()
