"""Partitions and capacity: topics get `WORKFLOWS_PARTITIONS` partitions, and a third
orchestrator added to a running group of two takes over part of them mid-run without losing
an execution or applying anything twice (checked with the chaos suite's verifier).
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from redis.asyncio import Redis

from tests.chaos.harness import Cluster
from tests.chaos.run import (
    Plan,
    Summary,
    _check_events,
    _effects,
    _register,
    _start_executions,
    _verify,
    _wait_final,
)
from tests.multihost.takeover import longest_pause, owned_partitions, transitions
from workflows.contracts.topics import Topics
from workflows.services.infra.kafka import ensure_topics, make_consumer
from workflows.services.infra.settings import Settings

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]
N = 150
PARTITIONS = 6
REPLICAS = {"trigger": 1, "orchestrator": 3, "dispatcher": 1, "notifier": 1, "worker": 2}


@pytest.mark.timeout(60)
async def test_topics_are_created_with_the_configured_partition_count(
    kafka_bootstrap: str, redis_url: str
) -> None:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        topic_prefix=f"p{uuid.uuid4().hex[:8]}.",
        partitions=5,
    )
    names = list(Topics.with_prefix(settings.topic_prefix).fixed().values())
    await ensure_topics(settings, names)
    await ensure_topics(settings.model_copy(update={"partitions": 2}), names)  # left as is
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    counts = {t["topic"]: len(t["partitions"]) for t in described}
    assert counts == dict.fromkeys(names, 5)


@pytest.mark.timeout(90)
async def test_a_member_gets_the_same_partition_numbers_of_every_topic(
    kafka_bootstrap: str, redis_url: str
) -> None:
    """Range assignment: one execution's start, results and control land on one replica."""
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        topic_prefix=f"r{uuid.uuid4().hex[:8]}.",
        partitions=3,
        session_timeout_ms=6000,
    )
    topics = Topics.with_prefix(settings.topic_prefix)
    names = [topics.start, topics.step_results, topics.control]
    await ensure_topics(settings, names)
    group = f"{settings.topic_prefix}g"
    members = [make_consumer(settings, names, group) for _ in range(2)]
    for member in members:
        await member.start()
    try:

        async def split() -> bool:
            await asyncio.gather(*(m.getmany(timeout_ms=100) for m in members))
            owned = [m.assignment() for m in members]
            return all(owned) and sum(len(o) for o in owned) == 9

        await _until(split, 60, "two members sharing 3 topics x 3 partitions")
        for member in members:
            by_topic = {
                name: {tp.partition for tp in member.assignment() if tp.topic == name}
                for name in names
            }
            assert len({frozenset(parts) for parts in by_topic.values()}) == 1, by_topic
    finally:
        for member in members:
            await member.stop()


def _owned(cluster: Cluster, label: str, topic: str) -> set[int]:
    return owned_partitions(cluster.service(label).tail(10**8), topic, time.time())


async def _until(check: Callable[[], Awaitable[bool]], deadline_s: float, what: str) -> float:
    """Poll `check` until it holds; returns the seconds it took."""
    begin = time.monotonic()
    while not await check():
        assert time.monotonic() - begin < deadline_s, f"{what} within {deadline_s}s"
        await asyncio.sleep(0.2)
    return time.monotonic() - begin


@pytest.mark.timeout(300)
async def test_a_third_orchestrator_added_mid_run_takes_partitions_and_loses_nothing(
    tmp_path: Path,
) -> None:
    tag = f"add{uuid.uuid4().hex[:6]}"
    topic = Topics.with_prefix(f"{tag}.").start
    env = {"WORKFLOWS_SESSION_TIMEOUT_MS": "6000"}
    cluster = Cluster(tmp_path, prefix=tag, partitions=PARTITIONS, replicas=REPLICAS, extra_env=env)
    third = cluster.service("orchestrator-3")
    cluster.services.remove(third)  # started mid-run
    redis = Redis.from_url(cluster.redis_url)
    summary = Summary(appendfsync="everysec", seed=0)
    try:
        await asyncio.to_thread(cluster.start)
        await _register(cluster.base_url)

        async def two_formed() -> bool:
            owned = [_owned(cluster, f"orchestrator-{i}", topic) for i in (1, 2)]
            return all(owned) and owned[0] | owned[1] == set(range(PARTITIONS))

        await _until(two_formed, 90, "two orchestrators sharing the partitions")
        plan = Plan(executions=N, start_window_s=30.0)
        starter = asyncio.create_task(_start_executions(plan, cluster.base_url, tag, print))

        async def a_third_started() -> bool:
            return int(await redis.zcard(f"{tag}:executions")) >= N // 3

        await _until(a_third_started, 60, f"{N // 3} executions started")
        added_at = time.time()
        third.start(wait=False)
        cluster.services.append(third)

        async def third_owns() -> bool:
            return bool(_owned(cluster, "orchestrator-3", topic))

        joined_s = await _until(third_owns, 60, "the third orchestrator being assigned partitions")
        joined_at = added_at + joined_s
        keys, _ = await starter
        ids = sorted({eid for found in keys.values() for eid in found})
        summary.started = len(ids)
        docs = await _wait_final(redis, tag, ids, 90, 240, print)
        mine = _owned(cluster, "orchestrator-3", topic)  # before stopping revokes them
        effects, effect_pids = await _effects(redis, tag)
        _verify(summary, docs, effects, effect_pids, set())
        await _check_events(cluster.bootstrap, tag, {k: v for k, v in docs.items() if v}, summary)
    finally:
        await redis.aclose()
        codes = await asyncio.to_thread(cluster.stop)
    print(summary.table())
    assert summary.started == N
    assert summary.ok, summary.table()
    assert all(code in (0, -15) for code in codes.values()), codes
    # the third one did real work: transitions on its partitions after it joined
    events = transitions([d for d in docs.values() if d], PARTITIONS)
    assert mine and any(when > joined_at and part in mine for when, part, _ in events)
    pause = longest_pause(events, added_at, joined_at + 5)
    before = longest_pause(events, added_at - 10, added_at)  # the usual gaps, for comparison
    print(
        f"rebalance: added -> assigned {joined_s:.1f}s; longest pause without any transition "
        f"{pause.seconds:.1f}s (in the 10 s before: {before.seconds:.1f}s); the third owns "
        f"partitions {sorted(mine)}"
    )
