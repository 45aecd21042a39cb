"""The Redis client factory: the URL scheme picks a single server or a cluster (no network)."""

from __future__ import annotations

import pytest
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster

from workflows.services.infra.redis_client import (
    connect_redis,
    connect_redis_url,
    is_cluster_url,
    queue_wait,
)
from workflows.services.infra.settings import Settings


@pytest.mark.parametrize(
    ("url", "cluster"),
    [
        ("redis://127.0.0.1:6379/0", False),
        ("rediss://cache:6380/0", False),
        ("unix:///run/redis.sock", False),
        ("redis+cluster://10.0.0.5:7000", True),
        ("REDISS+CLUSTER://10.0.0.5:7000", True),
    ],
)
def test_the_scheme_says_whether_it_is_a_cluster(url: str, cluster: bool) -> None:
    assert is_cluster_url(url) is cluster


async def test_a_cluster_url_builds_a_cluster_client_that_rides_failovers() -> None:
    client = connect_redis_url("redis+cluster://127.0.0.1:7000", failover_s=3.0)
    assert isinstance(client, RedisCluster)
    assert client.failover_s == 3.0  # type: ignore[union-attr]
    assert client.retry.get_retries() == 12  # the pipeline sleeps 0.25 s per retry
    await client.aclose()


async def test_a_plain_url_builds_one_server_client_bounded_when_pooled() -> None:
    settings = Settings(redis_url="redis://127.0.0.1:6379/0", redis_max_connections=8)
    plain = connect_redis(settings)
    pooled = connect_redis(settings, pooled=True)
    assert isinstance(plain, Redis) and isinstance(pooled, Redis)
    assert isinstance(pooled.connection_pool, BlockingConnectionPool)
    assert pooled.connection_pool.max_connections == 8
    await plain.aclose()
    await pooled.aclose()


async def test_wait_is_queued_behind_the_writes_only_when_asked() -> None:
    client = connect_redis_url("redis://127.0.0.1:6379/0")
    assert isinstance(client, Redis)
    pipe = client.pipeline(transaction=False)
    pipe.set("k", "v")
    assert await queue_wait(client, pipe, ["k"], replicas=0, timeout_ms=100) == 0
    assert await queue_wait(client, pipe, ["k"], replicas=1, timeout_ms=100) == 1
    assert [c[0] for c in pipe.command_stack] == [("SET", "k", "v"), ("WAIT", 1, 100)]
    await pipe.reset()
    await client.aclose()
