"""The shared consumer loop: a failed batch is rewound and applied again, then committed."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.structs import ConsumerRecord, TopicPartition

from workflows.services.infra.batch_loop import BatchLoop

TP = TopicPartition("t", 0)


def _record(offset: int) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord("t", 0, offset, 0, 0, b"k", b"v", None, 1, 1, ())


class FakeConsumer:
    """Serves records from a log by position; records seeks and commits."""

    def __init__(self, count: int) -> None:
        self.log = [_record(i) for i in range(count)]
        self.position = 0
        self.seeks: list[int] = []
        self.commits: list[dict[TopicPartition, int]] = []

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, Any]:
        await asyncio.sleep(0)
        batch = self.log[self.position : self.position + max_records]
        self.position += len(batch)
        return {TP: batch} if batch else {}

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append(offset)
        self.position = offset

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))


async def test_a_failed_batch_is_rewound_retried_and_only_then_committed() -> None:
    consumer, stopping = FakeConsumer(6), asyncio.Event()
    seen: list[list[int]] = []
    failed: list[bool] = []

    async def process(records: list[ConsumerRecord[Any, Any]]) -> None:
        seen.append([r.offset for r in records])
        if len(seen) == 2:  # the second batch fails once (Redis away)
            raise ConnectionError("redis away")
        if len(seen) == 4:
            stopping.set()

    loop = BatchLoop(
        consumer,
        process,
        name="test",
        max_batch=2,
        commit_interval_ms=0,
        on_failed=lambda: failed.append(True),
    )
    await asyncio.wait_for(loop.run(stopping), 10)
    assert seen == [[0, 1], [2, 3], [2, 3], [4, 5]]
    assert consumer.seeks == [2] and failed == [True] and loop.batches_failed == 1
    assert loop.failures == 0  # reset by the batch that passed
    committed = [c[TP] for c in consumer.commits]
    assert committed and committed[-1] == 6  # drained on stop: everything done
    assert all(c != 3 for c in committed)  # the failed batch was never committed as done


async def test_an_empty_fetch_commits_and_calls_on_idle() -> None:
    consumer, stopping = FakeConsumer(1), asyncio.Event()
    idle: list[int] = []

    async def on_idle() -> None:
        idle.append(len(consumer.commits))
        stopping.set()

    async def process(records: list[ConsumerRecord[Any, Any]]) -> None:
        return None

    loop = BatchLoop(
        consumer, process, name="test", max_batch=10, commit_interval_ms=60_000, on_idle=on_idle
    )
    await asyncio.wait_for(loop.run(stopping), 10)
    assert idle and consumer.commits[-1] == {TP: 1}
