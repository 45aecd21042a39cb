"""The concurrent consumer loop on the real broker: retries, dead letters, in-order commits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord, TopicPartition
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.integration.test_dispatcher import TopicReader, publish
from workflows.contracts import DeadLetter, Topics, decode
from workflows.services.infra.inflight import ConcurrentConsumer
from workflows.services.infra.kafka import Bus, ensure_topics, make_consumer
from workflows.services.infra.settings import Settings

pytestmark = pytest.mark.integration


async def test_transient_failures_are_retried_and_a_poison_record_is_dead_lettered(
    settings: Settings,
) -> None:
    topics = Topics.with_prefix(settings.topic_prefix)
    source = f"{settings.topic_prefix}inflight"
    await ensure_topics(settings, [source, topics.dlq])
    values = [b"ok-1", b"flaky", b"poison", b"ok-2"]
    await publish(settings, source, *values)
    seen: dict[bytes, int] = {}
    done: set[bytes] = set()

    async def handle(record: ConsumerRecord[Any, Any]) -> None:
        seen[record.value] = seen.get(record.value, 0) + 1
        if record.value == b"poison":
            raise ValueError("cannot handle this")
        if record.value == b"flaky" and seen[record.value] < 3:
            raise RedisConnectionError("Redis is restarting")
        done.add(record.value)

    bus = Bus(settings, "test")
    await bus.start()
    consumer = make_consumer(settings, [source], f"{settings.topic_prefix}inflight-group")
    await consumer.start()
    stopping = asyncio.Event()
    loop = ConcurrentConsumer(
        consumer, bus, handle, name="test", max_in_flight=8, max_batch=10, drain_timeout_s=5
    )
    reader = TopicReader(settings, topics.dlq)
    await reader.consumer.start()
    running = asyncio.create_task(loop.run(stopping))
    try:
        letters = await reader.wait_for(lambda found: len(found) >= 1)
        letter = decode(DeadLetter, letters[0])
        assert letter.original_text == "poison" and letter.error_type == "handler_error"
        assert "test failed 5 times: ValueError: cannot handle this" in letter.reason
        deadline = asyncio.get_running_loop().time() + 30
        while done != {b"ok-1", b"flaky", b"ok-2"} or loop.tracker.in_flight:
            assert asyncio.get_running_loop().time() < deadline, (done, seen)
            await asyncio.sleep(0.02)
        assert seen[b"flaky"] == 3 and seen[b"poison"] == 5
    finally:
        stopping.set()
        await asyncio.wait_for(running, 30)
        committed = 0
        for partition in range(settings.partitions):
            committed += await consumer.committed(TopicPartition(source, partition)) or 0
        await consumer.stop()
        await bus.stop()
        await reader.consumer.stop()
    assert committed == len(values)
