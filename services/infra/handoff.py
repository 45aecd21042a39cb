"""In-memory handoff between services in one process (`workflows run orchestrator dispatcher`
with `WORKFLOWS_LOCAL_HANDOFF=true`).

A record one service publishes is also given at once to the co-located consumer of its
topic (`Bus.local_delivery`), which acts on it without waiting for the broker's round trip.
The Kafka copy still goes out (it is the durable one) and arrives later at the same
consumer, which recognizes it by its bytes (`HandedOver`) and drops it without decoding it
again. Only a consumer that owns the record's partition takes a record from memory: the
Kafka copy is then certain to come to it, not to another replica.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from aiokafka.structs import ConsumerRecord, TopicPartition

from workflows.services.infra.kafka import KEY_PARTITIONER

__all__ = ["HandedOver", "local_record", "owned_partition"]

V = TypeVar("V")
CAPACITY = 8192  # records taken from memory whose Kafka copy has not come yet


def owned_partition(consumer: Any, topic: str, key: str) -> int | None:
    """The partition of `topic` a record keyed `key` goes to, if `consumer` owns it now."""
    if consumer is None:
        return None
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        return None
    ordered = sorted(partitions)
    partition = KEY_PARTITIONER(key.encode(), ordered, ordered)
    if TopicPartition(topic, partition) not in consumer.assignment():
        return None
    return int(partition)


def local_record(
    topic: str,
    partition: int,
    key: str,
    value: bytes,
    headers: Sequence[tuple[str, bytes]],
) -> ConsumerRecord[Any, Any]:
    """A record as the consumer would fetch it, with no offset (-1): nothing is committed
    for it, its Kafka copy is."""
    encoded = key.encode()
    return ConsumerRecord(
        topic, partition, -1, 0, 0, encoded, value, None, len(encoded), len(value), tuple(headers)
    )


class HandedOver(Generic[V]):
    """Records taken from memory, by their bytes, until their Kafka copy comes (bounded:
    past `capacity` the oldest are forgotten, and their copies are handled as duplicates)."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._items: dict[bytes, V] = {}
        self.recognized = 0  # Kafka copies found here (`take`)

    def put(self, value: bytes, item: V) -> None:
        items = self._items
        items[value] = item
        while len(items) > self.capacity:
            del items[next(iter(items))]

    def take(self, value: Any) -> V | None:
        """What was kept for a record with these bytes (forgotten then), or None."""
        if not isinstance(value, bytes):
            return None
        item = self._items.pop(value, None)
        if item is not None:
            self.recognized += 1
        return item

    def clear(self) -> None:
        self._items.clear()
