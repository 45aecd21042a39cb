"""An in-memory Kafka for tests (as FastStream's TestKafkaBroker): `InMemoryBus` is a `Bus`
whose sends go to an `InMemoryBroker` instead of a broker, and `InMemoryConsumer` is the part
of aiokafka's consumer the services use (getmany, assignment, seek, commit, position).

Topics have `partitions` partitions and keyed records go where the real producer puts them
(`KEY_PARTITIONER`, murmur2 as Java's); a consumer group keeps committed offsets, and each
consumer its positions, so a rewound batch (`seek`) is fetched again, as on a real broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiokafka.structs import ConsumerRecord, TopicPartition

from workflows.services.infra.kafka import KEY_PARTITIONER, Bus
from workflows.services.infra.settings import Settings

__all__ = ["InMemoryBroker", "InMemoryBus", "InMemoryConsumer"]

Headers = Sequence[tuple[str, bytes]]


class InMemoryBroker:
    """Topic -> partitions -> records; group -> committed offsets."""

    def __init__(self, partitions: int = 1) -> None:
        self.partitions = partitions
        self.logs: dict[str, list[list[ConsumerRecord[Any, Any]]]] = {}
        self.committed: dict[str, dict[TopicPartition, int]] = {}
        self.appended = asyncio.Event()

    def create_topic(self, topic: str) -> None:
        self.logs.setdefault(topic, [[] for _ in range(self.partitions)])

    def append(
        self, topic: str, value: bytes, key: bytes | None, headers: Headers | None
    ) -> ConsumerRecord[Any, Any]:
        self.create_topic(topic)
        parts = self.logs[topic]
        numbers = list(range(len(parts)))
        partition = KEY_PARTITIONER(key, numbers, numbers)
        log = parts[partition]
        record: ConsumerRecord[Any, Any] = ConsumerRecord(
            topic,
            partition,
            len(log),
            0,
            0,
            key,
            value,
            None,
            len(key or b""),
            len(value),
            tuple(headers or ()),
        )
        log.append(record)
        self.appended.set()
        return record

    def records(self, topic: str) -> list[ConsumerRecord[Any, Any]]:
        """Every record of `topic`, partition by partition."""
        return [r for part in self.logs.get(topic, []) for r in part]


class InMemoryProducer:
    """AIOKafkaProducer's start/stop/send: a send is acknowledged at once."""

    def __init__(self, broker: InMemoryBroker) -> None:
        self.broker = broker
        self.fail_next: BaseException | None = None  # the next send's future raises it

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Headers | None = None
    ) -> asyncio.Future[ConsumerRecord[Any, Any]]:
        future: asyncio.Future[ConsumerRecord[Any, Any]] = (
            asyncio.get_running_loop().create_future()
        )
        if self.fail_next is not None:
            future.set_exception(self.fail_next)
            self.fail_next = None
        else:
            future.set_result(self.broker.append(topic, value, key, headers))
        return future


class InMemoryBus(Bus):
    """A `Bus` (signing, dead letters, flush, local delivery as the real one) over a broker
    in memory."""

    def __init__(self, broker: InMemoryBroker, settings: Settings, service: str) -> None:
        super().__init__(settings, service)
        self.broker = broker
        self.memory_producer = InMemoryProducer(broker)
        self.producer = self.memory_producer

    def consumer(self, topics: Iterable[str], group_id: str) -> InMemoryConsumer:
        return InMemoryConsumer(self.broker, topics, group_id)


class InMemoryConsumer:
    """A group member that owns every partition of its topics, from the group's commit."""

    def __init__(self, broker: InMemoryBroker, topics: Iterable[str], group_id: str) -> None:
        self.broker = broker
        self.group_id = group_id
        self.topics = list(topics)
        self.positions: dict[TopicPartition, int] = {}
        self.commits: list[dict[TopicPartition, int]] = []

    async def start(self) -> None:
        committed = self.broker.committed.setdefault(self.group_id, {})
        for topic in self.topics:
            self.broker.create_topic(topic)
            for p in range(len(self.broker.logs[topic])):
                tp = TopicPartition(topic, p)
                self.positions[tp] = committed.get(tp, 0)

    async def stop(self) -> None:
        return None

    def assignment(self) -> set[TopicPartition]:
        return set(self.positions)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        parts = self.broker.logs.get(topic)
        return set(range(len(parts))) if parts else None

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.broker.logs[tp.topic][tp.partition])

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))
        self.broker.committed.setdefault(self.group_id, {}).update(offsets)

    async def getmany(
        self, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        batch = self._take(max_records)
        if not batch and timeout_ms > 0:
            self.broker.appended.clear()
            try:
                await asyncio.wait_for(self.broker.appended.wait(), timeout_ms / 1000)
            except TimeoutError:
                return {}
            batch = self._take(max_records)
        await asyncio.sleep(0)
        return batch

    def _take(
        self, max_records: int | None
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        room = max_records if max_records is not None else 1 << 30
        batch: dict[TopicPartition, list[ConsumerRecord[Any, Any]]] = {}
        for tp in sorted(self.positions):
            if room <= 0:
                break
            log = self.broker.logs[tp.topic][tp.partition]
            start = self.positions[tp]
            taken = log[start : start + room]
            if taken:
                batch[tp] = taken
                self.positions[tp] = start + len(taken)
                room -= len(taken)
        return batch
