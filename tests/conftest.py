"""Session fixtures: one real Tansu broker and one real Redis for the whole run.

Redis is one redis-server, or with `WORKFLOWS_TEST_REDIS=cluster` (`make test-cluster`) a
Redis Cluster of 3 masters + 3 replicas (`workflows.embedded_cluster`). Each test gets its
own topic prefix and Redis key prefix, so tests never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from services.infra.redis_client import RedisClient, connect_redis
from services.infra.settings import Settings
from workflows.embedded import redis_server, tansu
from workflows.embedded_cluster import redis_cluster

ON_CLUSTER = os.environ.get("WORKFLOWS_TEST_REDIS", "single") == "cluster"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with tansu() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if ON_CLUSTER:
        with redis_cluster() as cluster:
            yield cluster.url
    else:
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
        auth="off",  # access control has its own tests (tests/integration/test_access_control.py)
    )


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[RedisClient]:
    client = connect_redis(settings)
    yield client
    await client.aclose()
