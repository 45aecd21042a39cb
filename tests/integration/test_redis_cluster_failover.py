"""A Redis Cluster master killed (SIGKILL) during a run: nothing acknowledged is lost.

Each test starts its own cluster (3 masters + 3 replicas, `cluster-node-timeout` 1000 ms), so
it runs in the normal suite too. 100 executions of a three-step workflow run while the
master that holds the timer set (and about a third of the executions) is killed; its
replica takes over. Every execution must complete, each step must have run and been
applied exactly as often as the workflow says (`b` fails its first attempt on purpose, so
its retry goes through a durable timer during the failover).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from redis.exceptions import RedisError

from tests.support.runtime import Engine, running_engine
from workflows.errors import RetryableError
from workflows.functions import FunctionContext, FunctionRegistry
from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import connect_redis_url, queue_wait
from workflows.services.infra.settings import Settings
from workflows.testing.embedded_cluster import RedisClusterHandle, redis_cluster

pytestmark = pytest.mark.integration

EXECUTIONS = 100
WORKFLOW = {
    "name": "failover",
    "steps": [
        {"id": "a", "function": "failoverStep"},
        {"id": "b", "function": "failoverStep"},
        {"id": "c", "function": "failoverStep"},
    ],
    "errorHandling": {"retryStrategy": {"maxAttempts": 3, "backoff": {"initialDelay": 300}}},
}
EXPECTED_CALLS = {"a": 1, "b": 2, "c": 1}
EXPECTED_HISTORY = {
    "a": ["step.started", "step.succeeded"],
    "b": ["step.started", "step.retrying", "step.started", "step.succeeded"],
    "c": ["step.started", "step.succeeded"],
}


@pytest.fixture
def cluster() -> Iterator[RedisClusterHandle]:
    with redis_cluster(node_timeout_ms=1000) as handle:
        yield handle


@pytest.fixture
def cluster_settings(settings: Settings, cluster: RedisClusterHandle) -> Settings:
    update = {"redis_url": cluster.url, "redis_wait_replicas": 1, "redis_wait_timeout_ms": 200}
    return settings.model_copy(update=update)


def counting_registry(calls: Counter[tuple[str, str]]) -> FunctionRegistry:
    registry = FunctionRegistry()

    def step(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        calls[(ctx.execution_id, ctx.step_id)] += 1
        if ctx.step_id == "b" and ctx.attempt == 1:
            raise RetryableError("the first attempt of b fails, so its retry needs a timer")
        return {"step": ctx.step_id}

    registry.register(step, "failoverStep")
    return registry


async def _statuses(engine: Engine, ids: list[str]) -> list[str | None]:
    docs = await engine.store.get_states(ids)
    return [json.loads(doc)["status"] if doc else None for doc in docs]


async def _poll(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: not after {timeout}s")


async def test_a_killed_master_loses_no_execution_and_applies_no_step_twice(
    cluster: RedisClusterHandle, cluster_settings: Settings
) -> None:
    calls: Counter[tuple[str, str]] = Counter()
    keys = Keys(cluster_settings.key_prefix)
    victim = cluster.master_of(keys.timers)
    ids = [uuid.uuid4().hex for _ in range(EXECUTIONS)]
    on_victim = [i for i in ids if cluster.master_of(keys.state(i)).port == victim.port]
    assert on_victim, "no execution hashes to the master that will be killed"

    async with running_engine(cluster_settings, counting_registry(calls)) as engine:
        await engine.register(WORKFLOW)
        first, second = ids[: EXECUTIONS // 2], ids[EXECUTIONS // 2 :]
        for execution_id in first:
            await engine.start("failover", {}, execution_id)

        async def some_done() -> bool:
            return (await _statuses(engine, first)).count("completed") >= 5

        await _poll("first executions completed", some_done, 60)
        in_flight = [s for s in await _statuses(engine, on_victim) if s != "completed"]
        cluster.kill(victim.port)  # SIGKILL: no shutdown, the replica must take over
        for execution_id in second:  # started while the cluster fails over
            await engine.start("failover", {}, execution_id)
        cluster.wait_ok(timeout=30)

        async def all_done() -> bool:
            statuses = await _statuses(engine, ids)
            return all(s in {"completed", "failed"} for s in statuses)

        await _poll("every execution ended", all_done, 120)
        states = [await engine.state(i) for i in ids]

    assert in_flight, "the kill hit no execution in flight on the killed master"
    assert cluster.master_of(keys.timers).port != victim.port  # a replica took over
    for state in states:
        assert state is not None
        assert state.status.value == "completed", (state.execution_id, state.error)
        for step_id, expected in EXPECTED_HISTORY.items():
            trail = [e.type for e in state.history if e.step_id == step_id]
            assert trail == expected, (state.execution_id, step_id, trail)
            runs = calls[(state.execution_id, step_id)]
            assert runs == EXPECTED_CALLS[step_id], (state.execution_id, step_id, runs)


async def test_the_cluster_client_rides_through_a_failover(cluster: RedisClusterHandle) -> None:
    key = "ride:{through}"
    patient = connect_redis_url(cluster.url)  # retries for redis_failover_s (10 s)
    impatient = connect_redis_url(cluster.url, failover_s=0.05)
    try:
        async with patient.pipeline(transaction=False) as pipe:
            pipe.set(key, "before")
            await queue_wait(patient, pipe, [key], replicas=1, timeout_ms=5000)
            assert await pipe.execute() == [True, 1]  # on the master and its replica
        assert await impatient.get(key) == b"before"  # both know the slot map
        victim = cluster.master_of(key)
        cluster.kill(victim.port)
        with pytest.raises(RedisError):
            await impatient.get(key)
        started = time.monotonic()
        assert await patient.get(key) == b"before"  # from the promoted replica
        assert time.monotonic() - started < 10

        async def promoted() -> bool:  # every node learns of the promotion by gossip
            return cluster.master_of(key).port != victim.port

        await _poll("the replica promoted in every node's view", promoted, 10)
    finally:
        await patient.aclose()
        await impatient.aclose()
