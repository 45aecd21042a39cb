"""The orchestrator's consume loop survives a rebalance that lands mid-batch.

Seen in the add-a-third-orchestrator test: the commit after a batch failed with
CommitFailedError (the group had rebalanced), and rewinding with `seek_to_committed` on a
partition no longer assigned raised IllegalStateError, which ended the process. A fake
consumer stands in for aiokafka here (pure unit test); the e2e test covers the real one.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from aiokafka.errors import CommitFailedError
from aiokafka.structs import TopicPartition
from redis.asyncio import Redis

from workflows.services.infra.settings import Settings
from workflows.services.orchestrator import Orchestrator

Record = namedtuple("Record", "offset")
KEPT, MOVED = TopicPartition("wf.steps.results", 0), TopicPartition("wf.steps.results", 1)


class RebalancedConsumer:
    """One batch from two partitions; the commit fails because one of them moved away."""

    def __init__(self, orchestrator: Orchestrator) -> None:
        self.orchestrator = orchestrator
        self.fetches = 0
        self.seeks: list[tuple[TopicPartition, int]] = []

    async def getmany(self, **_: Any) -> dict[TopicPartition, list[Record]]:
        self.fetches += 1
        if self.fetches == 1:
            return {KEPT: [Record(5), Record(6)], MOVED: [Record(9)]}
        self.orchestrator.stop()
        return {}

    async def commit(self, offsets: object = None) -> None:
        raise CommitFailedError("the group has already rebalanced")

    def assignment(self) -> set[TopicPartition]:
        return {KEPT}

    def highwater(self, _: TopicPartition) -> None:
        return None

    def seek(self, tp: TopicPartition, offset: int) -> None:
        if tp not in self.assignment():
            raise AssertionError(f"seek on {tp}, which is not assigned")
        self.seeks.append((tp, offset))

    async def seek_to_committed(self, *tps: TopicPartition) -> None:
        raise AssertionError("seek_to_committed raises on partitions no longer assigned")


async def test_a_commit_refused_after_a_rebalance_rewinds_only_what_is_still_assigned() -> None:
    orchestrator = Orchestrator(Settings(), Redis())  # no connection is made by this test
    applied: list[int] = []

    async def process(records: list[Record]) -> None:
        applied.extend(r.offset for r in records)

    orchestrator.process = process  # type: ignore[method-assign,assignment]
    consumer = RebalancedConsumer(orchestrator)
    try:
        await orchestrator._consume(consumer)  # returns when stopped, does not raise
    finally:
        await orchestrator.bus.producer.stop()  # never started: closes it without I/O
    assert applied == [5, 6, 9]
    assert consumer.seeks == [(KEPT, 5)]  # read again from the batch's first record
    assert consumer.fetches == 2
