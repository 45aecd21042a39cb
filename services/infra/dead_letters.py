"""Operator tools for the dead-letter topic: read what is there, re-drive chosen entries.

Reading uses a consumer without a group (assigned partitions, from the beginning up to
the end offsets at the time of the call), so listing never moves anyone's offsets.
Replaying publishes the original bytes, with the original key, to the original topic
and remembers the dead letter's message id in Redis so the same entry is not re-driven
twice by accident (`force=True` overrides).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from workflows.contracts import ContractError, DeadLetter, decode
from workflows.contracts.topics import Topics
from workflows.services.infra.kafka import Bus, assign_whole_topic
from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.settings import Settings

__all__ = ["DeadLetterEntry", "read_dead_letters", "replay_dead_letters"]

REPLAYED_TTL_S = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class DeadLetterEntry:
    partition: int
    offset: int
    letter: DeadLetter | None
    problem: str | None = None

    @property
    def ref(self) -> str:
        """`partition:offset`, how the CLI names an entry."""
        return f"{self.partition}:{self.offset}"


async def read_dead_letters(settings: Settings, limit: int = 1000) -> list[DeadLetterEntry]:
    topic = Topics.with_prefix(settings.topic_prefix).dlq
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps, ends = await assign_whole_topic(consumer, topic)
        if not tps:
            return []
        entries: list[DeadLetterEntry] = []
        while len(entries) < limit and await _behind(consumer, tps, ends):
            batch = await consumer.getmany(*tps, timeout_ms=500, max_records=500)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    entries.append(_entry(record.partition, record.offset, record.value))
        return sorted(entries, key=lambda e: (e.partition, e.offset))[:limit]
    finally:
        await consumer.stop()


async def _behind(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], ends: dict[TopicPartition, int]
) -> bool:
    for tp in tps:
        if await consumer.position(tp) < ends[tp]:
            return True
    return False


def _entry(partition: int, offset: int, value: bytes | None) -> DeadLetterEntry:
    try:
        return DeadLetterEntry(partition, offset, decode(DeadLetter, value or b""))
    except ContractError as exc:
        return DeadLetterEntry(partition, offset, None, f"unreadable dead letter: {exc.reason}")


async def replay_dead_letters(
    settings: Settings, redis: RedisClient, entries: list[DeadLetterEntry], force: bool = False
) -> list[tuple[DeadLetterEntry, str]]:
    """Re-publish each entry's original message; returns (entry, outcome) pairs."""
    bus = Bus(settings, "dlq-replay")
    await bus.start()
    outcomes: list[tuple[DeadLetterEntry, str]] = []
    try:
        for entry in entries:
            letter = entry.letter
            if letter is None:
                outcomes.append((entry, "skipped: unreadable"))
                continue
            marker = Keys(settings.key_prefix).dlq_replayed(letter.message_id)
            if not force and not await redis.set(marker, entry.ref, nx=True, ex=REPLAYED_TTL_S):
                outcomes.append((entry, "skipped: already replayed (use --force)"))
                continue
            await bus.publish(
                letter.source_topic, base64.b64decode(letter.original_b64), letter.key
            )
            outcomes.append((entry, f"replayed to {letter.source_topic}"))
        await bus.flush()
    finally:
        await bus.stop()
    return outcomes
