"""The in-memory bus (workflows.services.infra.memory_bus): keyed records land where the real
producer puts them, dead letters carry their reason, and the shared consumer loop over it rewinds a
failed batch and commits only after it passed."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.structs import ConsumerRecord

from workflows.contracts import StartExecution
from workflows.services.infra.batch_loop import BatchLoop
from workflows.services.infra.kafka import KEY_PARTITIONER
from workflows.services.infra.memory_bus import InMemoryBroker, InMemoryBus
from workflows.services.infra.settings import Settings


async def test_keyed_records_go_to_the_key_partitioners_partition() -> None:
    broker = InMemoryBroker(partitions=4)
    bus = InMemoryBus(broker, Settings(), "test")
    for n in range(20):
        await bus.publish("t", b"v", f"e{n}")
    await bus.flush()
    for record in broker.records("t"):
        assert record.partition == KEY_PARTITIONER(record.key, [0, 1, 2, 3], [0, 1, 2, 3])
    assert len(broker.records("t")) == 20


async def test_a_record_that_does_not_decode_goes_to_the_dlq_with_its_reason() -> None:
    broker = InMemoryBroker()
    bus = InMemoryBus(broker, Settings(), "test")
    await bus.publish("t", b"{not json", "e1")
    consumer = bus.consumer(["t"], "g")
    await consumer.start()
    batch = await consumer.getmany(timeout_ms=0)
    (record,) = [r for rs in batch.values() for r in rs]
    assert await bus.decode_or_dead_letter(record, StartExecution, 1000) is None
    await bus.flush()
    (letter,) = broker.records(bus.topics.dlq)
    assert b"not json" in letter.value and letter.key == b"e1"


async def test_a_failed_batch_is_fetched_again_and_committed_only_after_it_passed() -> None:
    broker = InMemoryBroker()
    bus = InMemoryBus(broker, Settings(), "test")
    for n in range(4):
        await bus.publish("t", str(n).encode(), "e")
    consumer = bus.consumer(["t"], "g")
    await consumer.start()
    stopping, seen = asyncio.Event(), []
    committed_when_failing: list[dict[Any, int]] = []

    async def process(records: list[ConsumerRecord[Any, Any]]) -> None:
        seen.append([r.offset for r in records])
        if len(seen) == 2:
            committed_when_failing.append(dict(broker.committed["g"]))
            raise ConnectionError("redis away")
        if len(seen) == 3:
            stopping.set()

    loop = BatchLoop(consumer, process, name="t", max_batch=2, commit_interval_ms=0)
    await asyncio.wait_for(loop.run(stopping), 10)
    assert seen == [[0, 1], [2, 3], [2, 3]]
    assert all(v <= 2 for c in committed_when_failing for v in c.values())
    assert list(broker.committed["g"].values()) == [4]
    second = bus.consumer(["t"], "g")  # a new member resumes from the commit
    await second.start()
    assert await second.getmany(timeout_ms=0) == {}
