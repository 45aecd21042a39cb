"""The concurrent consumer commits off its fetch loop, and only what is done and acknowledged.

A fake consumer and a bus whose acknowledgements the test releases stand in for aiokafka
(pure unit test); `tests/integration/test_dispatcher.py` kills a real dispatcher between
the run and the commit.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from aiokafka.structs import TopicPartition

from workflows.services.infra.inflight import ConcurrentConsumer

TP = TopicPartition("wf.steps.commands", 0)
WAIT_S = 10.0


@dataclass
class Record:
    offset: int
    value: str = ""
    topic: str = TP.topic
    partition: int = TP.partition


class FakeConsumer:
    def __init__(self, highwater: int = 0) -> None:
        self.batches: deque[dict[TopicPartition, list[Record]]] = deque()
        self.fetches = 0
        self.commits: list[dict[TopicPartition, int]] = []
        self.high = highwater

    def feed(self, *offsets: int, value: str = "") -> None:
        self.batches.append({TP: [Record(o, value) for o in offsets]})
        self.high = max(self.high, offsets[-1] + 1)

    async def getmany(
        self, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[Record]]:
        self.fetches += 1
        if self.batches:
            return self.batches.popleft()
        await asyncio.sleep(0.001)  # an empty fetch takes a moment, as on a real broker
        return {}

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def highwater(self, tp: TopicPartition) -> int:
        return self.high

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))


class GatedBus:
    """`flush()` returns once the test says the broker acknowledged the sends."""

    def __init__(self) -> None:
        self.acked = asyncio.Event()
        self.flushes = 0

    async def flush(self) -> None:
        self.flushes += 1
        await self.acked.wait()


async def until(check: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.001)


def consumer_loop(
    consumer: FakeConsumer,
    bus: GatedBus,
    handle: Callable[[Any], Awaitable[None]],
    interval_s: float = 0.01,
) -> ConcurrentConsumer:
    return ConcurrentConsumer(
        cast(Any, consumer),
        cast(Any, bus),
        handle,
        name="test",
        max_in_flight=64,
        max_batch=100,
        drain_timeout_s=5,
        commit_interval_s=interval_s,
    )


async def test_commits_wait_for_the_acks_without_holding_up_the_fetch_loop() -> None:
    consumer, bus = FakeConsumer(), GatedBus()
    handled: list[int] = []

    async def handle(record: Record) -> None:
        handled.append(record.offset)

    loop = consumer_loop(consumer, bus, handle)
    consumer.feed(0, 1, 2, 3, 4)
    stopping = asyncio.Event()
    running = asyncio.create_task(loop.run(stopping))
    await until(lambda: len(handled) == 5 and bus.flushes >= 1, "a commit waiting for acks")
    fetched = consumer.fetches
    consumer.feed(5, 6)  # the fetch loop goes on while the commit waits
    await until(lambda: len(handled) == 7 and consumer.fetches > fetched + 3, "more fetches")
    assert consumer.commits == []  # nothing is committed before the broker acknowledged
    bus.acked.set()
    await until(lambda: consumer.commits[-1:] == [{TP: 7}], "the commit of everything done")
    assert consumer.commits[0] == {TP: 5}  # the first commit: what was done before its flush
    stopping.set()
    await asyncio.wait_for(running, WAIT_S)


async def test_one_commit_carries_the_records_of_many_batches() -> None:
    consumer, bus = FakeConsumer(), GatedBus()
    bus.acked.set()

    async def handle(record: Record) -> None:
        return None

    loop = consumer_loop(consumer, bus, handle, interval_s=0.2)
    for offset in range(10):
        consumer.feed(offset)
    stopping = asyncio.Event()
    running = asyncio.create_task(loop.run(stopping))
    await until(lambda: bool(consumer.commits), "a commit")
    await until(lambda: consumer.fetches > 20, "fetches after the commit")
    assert consumer.commits == [{TP: 10}]
    stopping.set()
    await asyncio.wait_for(running, WAIT_S)
    assert consumer.commits == [{TP: 10}]  # nothing left for the final commit


async def test_a_running_record_holds_back_the_commit_of_the_records_after_it() -> None:
    consumer, bus = FakeConsumer(), GatedBus()
    bus.acked.set()
    release = asyncio.Event()

    async def handle(record: Record) -> None:
        if record.offset == 1:
            await release.wait()

    loop = consumer_loop(consumer, bus, handle)
    consumer.feed(0, 1, 2)
    stopping = asyncio.Event()
    running = asyncio.create_task(loop.run(stopping))
    await until(lambda: consumer.commits == [{TP: 1}], "the done prefix")
    release.set()
    await until(lambda: consumer.commits[-1] == {TP: 3}, "the rest")
    stopping.set()
    await asyncio.wait_for(running, WAIT_S)


async def test_records_before_the_end_offset_at_assignment_and_retries_are_not_fresh() -> None:
    consumer, bus = FakeConsumer(highwater=4), GatedBus()
    bus.acked.set()
    seen: list[tuple[int, bool]] = []

    async def handle(record: Record) -> None:
        seen.append((record.offset, loop.fresh(cast(Any, record))))
        if record.offset == 5 and len([s for s in seen if s[0] == 5]) == 1:
            raise ConnectionError("Redis away for a moment")  # retried: not fresh any more

    loop = consumer_loop(consumer, bus, handle)
    consumer.batches.append({TP: [Record(2), Record(3)]})  # a previous owner may have run them
    stopping = asyncio.Event()
    running = asyncio.create_task(loop.run(stopping))
    await until(lambda: len(seen) == 2, "the first batch")
    consumer.feed(4, 5)
    await until(lambda: len(seen) == 5, "the second batch and a retry")
    stopping.set()
    await asyncio.wait_for(running, WAIT_S)
    assert sorted(seen) == [(2, False), (3, False), (4, True), (5, False), (5, True)]
    assert seen[-1] == (5, False)


async def test_revoke_commits_what_is_done_and_ignores_a_late_finish_of_an_old_delivery() -> None:
    consumer, bus = FakeConsumer(), GatedBus()
    bus.acked.set()
    old_done, new_done = asyncio.Event(), asyncio.Event()

    async def handle(record: Record) -> None:
        if record.offset == 1:
            await (old_done if record.value == "old" else new_done).wait()

    loop = consumer_loop(consumer, bus, handle, interval_s=60)  # only revoke and stop commit
    consumer.feed(0, 1, value="old")
    stopping = asyncio.Event()
    running = asyncio.create_task(loop.run(stopping))
    await until(lambda: loop.tracker.in_flight == 1, "offset 0 done, 1 running")
    await loop.on_revoked()
    assert consumer.commits == [{TP: 1}]
    assert not loop.fresh(cast(Any, Record(5)))  # nothing is fresh until fetched again

    consumer.feed(1, value="new")  # assigned again: the record comes back
    await until(lambda: loop.tracker.in_flight == 1 and len(loop.tasks) == 2, "redelivered")
    old_done.set()  # the first delivery finishes late: it must not count for the new one
    await until(lambda: len(loop.tasks) == 1, "the old delivery finished")
    await loop.commit()
    assert consumer.commits == [{TP: 1}]
    new_done.set()
    stopping.set()
    await asyncio.wait_for(running, WAIT_S)
    assert consumer.commits == [{TP: 1}, {TP: 2}]
