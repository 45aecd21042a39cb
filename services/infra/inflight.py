"""A consumer loop that runs every record as its own task and commits in order.

The loop only fetches and spawns, so a slow record never holds up the records behind it:
they run concurrently (up to `max_in_flight`) and the loop keeps fetching. Offsets are
committed per partition up to the longest done prefix (`services.core.offsets`), after the
producer's pending sends are acknowledged, so a crash re-runs at most the unfinished tail.

A record whose handler raises a transient error (Redis or the broker gone for a moment) is
retried with a capped exponential backoff until it succeeds; the process keeps running
meanwhile. Any other error is retried `max_failures` times, then the record goes to the
dead-letter topic with the error as its reason (nothing is dropped silently).

`run()` returns after `stopping` is set and the in-flight records are drained: each gets up to
`drain_timeout_s` to finish, what finished is committed, the rest is cancelled (and runs
again on the partition's next owner).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition
from redis.exceptions import ClusterError, ReadOnlyError, RedisClusterException, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.core.offsets import OffsetTracker
from services.infra.kafka import Bus

__all__ = ["TRANSIENT", "ConcurrentConsumer", "backoff_s", "rewind"]

log = structlog.get_logger(__name__)
Handler = Callable[[ConsumerRecord[Any, Any]], Awaitable[None]]
OnBatch = Callable[[AIOKafkaConsumer, Mapping[Any, Sequence[Any]]], Awaitable[None]]
TRANSIENT: tuple[type[BaseException], ...] = (
    RedisConnectionError,  # includes "LOADING" while a restarted Redis reads its AOF
    RedisTimeoutError,
    ClusterError,
    RedisClusterException,
    TryAgainError,
    ReadOnlyError,  # a replica being promoted
    KafkaError,
    OSError,
    TimeoutError,
)


def backoff_s(failures: int, base_s: float = 0.05, cap_s: float = 2.0) -> float:
    return float(min(base_s * 2 ** max(failures - 1, 0), cap_s))


class ConcurrentConsumer:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        bus: Bus,
        handle: Handler,
        *,
        name: str,
        max_in_flight: int,
        max_batch: int,
        drain_timeout_s: float,
        on_batch: OnBatch | None = None,
        max_failures: int = 5,
    ) -> None:
        self.consumer = consumer
        self.bus = bus
        self.handle = handle
        self.name = name
        self.max_in_flight = max_in_flight
        self.max_batch = max_batch
        self.drain_timeout_s = drain_timeout_s
        self.on_batch = on_batch
        self.max_failures = max_failures
        self.tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self.tasks: set[asyncio.Task[None]] = set()
        self.retries = 0

    async def run(self, stopping: asyncio.Event) -> None:
        try:
            while not stopping.is_set():
                room = self.max_in_flight - len(self.tasks)
                if room <= 0:
                    await asyncio.wait(self.tasks, timeout=0.1, return_when="FIRST_COMPLETED")
                else:
                    batch = await self.consumer.getmany(
                        timeout_ms=100, max_records=min(room, self.max_batch)
                    )
                    if self.on_batch is not None:
                        await self.on_batch(self.consumer, batch)
                    for tp, records in batch.items():
                        for record in records:
                            self._spawn(tp, record)
                await self._commit_safely()
        finally:
            await self.drain()

    async def drain(self) -> None:
        """Let in-flight records finish within the drain timeout, commit, cancel the rest."""
        if self.tasks:
            log.info("draining", service=self.name, in_flight=len(self.tasks))
            _, late = await asyncio.wait(set(self.tasks), timeout=self.drain_timeout_s)
            for task in late:
                task.cancel()
            if late:
                log.warning("drain_timeout", service=self.name, cancelled=len(late))
                await asyncio.gather(*late, return_exceptions=True)
        await self._commit_safely()

    def _spawn(self, tp: TopicPartition, record: ConsumerRecord[Any, Any]) -> None:
        self.tracker.started(tp, record.offset)
        task = asyncio.create_task(self._run_one(tp, record))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run_one(self, tp: TopicPartition, record: ConsumerRecord[Any, Any]) -> None:
        failures = 0
        while True:
            try:
                await self.handle(record)
                break
            except Exception as exc:
                failures += 1
                self.retries += 1
                poison = failures >= self.max_failures and not isinstance(exc, TRANSIENT)
                if poison and await self._dead_letter(record, exc, failures):
                    break
                log.warning(
                    "record_failed_retrying",
                    service=self.name,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    failures=failures,
                    error=f"{type(exc).__name__}: {exc}",
                )
                await asyncio.sleep(backoff_s(failures))
        self.tracker.finished(tp, record.offset)

    async def _dead_letter(
        self, record: ConsumerRecord[Any, Any], exc: Exception, failures: int
    ) -> bool:
        log.error("record_dead_lettered", service=self.name, error=f"{type(exc).__name__}: {exc}")
        reason = f"{self.name} failed {failures} times: {type(exc).__name__}: {exc}"
        try:
            await self.bus.dead_letter(record, reason, "handler_error")
            await self.bus.flush()
        except Exception as failed:  # the broker is away: keep the record, try again later
            log.warning("dead_letter_failed", service=self.name, error=str(failed))
            return False
        return True

    async def _commit_safely(self) -> None:
        try:
            await self.commit()
        except Exception as exc:  # the offsets stay pending and are committed next round
            log.warning("commit_failed", service=self.name, error=f"{type(exc).__name__}: {exc}")

    async def commit(self) -> None:
        """Commit every partition's done prefix once the sends it caused are acknowledged."""
        offsets = self.tracker.committable(peek=True)
        if not offsets:
            return
        await self.bus.flush()
        owned = self.consumer.assignment()
        mine = {tp: offset for tp, offset in offsets.items() if tp in owned}
        if mine:
            await self.consumer.commit(mine)
        self.tracker.committed(offsets)
        self.tracker.forget(tp for tp in offsets if tp not in owned)


def rewind(consumer: AIOKafkaConsumer, batch: Mapping[TopicPartition, Sequence[Any]]) -> None:
    """Fetch a failed batch again: seek each partition back to its first record."""
    owned = consumer.assignment()
    for tp, records in batch.items():
        if records and tp in owned:
            consumer.seek(tp, records[0].offset)
