"""A consumer loop that runs every record as its own task and commits in order.

The loop only fetches and spawns, so a slow record never holds up the records behind it:
they run concurrently (up to `max_in_flight`) and the loop keeps fetching. Offsets are
committed per partition up to the longest done prefix (`workflows.services.core.offsets`), after the
producer's pending sends are acknowledged, so a crash re-runs at most the unfinished tail.
Commits run off the fetch loop (`_commit_loop`): `commit_interval_s` after records finish,
one at a time, so a commit carries every record finished meanwhile; `on_revoked` (give it
to `make_consumer`) and the end of `run()` commit what is done.

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
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition
from redis.exceptions import ClusterError, ReadOnlyError, RedisClusterException, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from workflows.services.core.offsets import OffsetTracker
from workflows.services.infra.kafka import Bus

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
        commit_interval_s: float = 0.05,
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
        self.commit_interval_s = commit_interval_s
        self.tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self.tasks: set[asyncio.Task[None]] = set()
        self.retries = 0
        self.commits = 0
        # per partition, since it was assigned: the first offset no earlier owner can have
        # handled (see `fresh`), and an epoch that tells its records from older deliveries
        self._marks: dict[TopicPartition, int] = {}
        self._epochs: dict[TopicPartition, int] = {}
        self._retrying: set[tuple[TopicPartition, int]] = set()
        self._finished = asyncio.Event()  # a record finished: a commit is due soon
        self._commit_lock = asyncio.Lock()

    async def run(self, stopping: asyncio.Event) -> None:
        committer = asyncio.create_task(self._commit_loop())
        try:
            while not stopping.is_set():
                room = self.max_in_flight - len(self.tasks)
                if room <= 0:
                    await asyncio.wait(self.tasks, timeout=0.1, return_when="FIRST_COMPLETED")
                    continue
                batch = await self.consumer.getmany(
                    timeout_ms=100, max_records=min(room, self.max_batch)
                )
                if self.on_batch is not None:
                    await self.on_batch(self.consumer, batch)
                for tp, records in batch.items():
                    if records and tp not in self._marks:
                        self._mark(tp, records[-1].offset)
                    for record in records:
                        self._spawn(tp, record)
        finally:
            committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await committer
            await self.drain()

    def fresh(self, record: ConsumerRecord[Any, Any]) -> bool:
        """True when no consumer can have handled `record` before: it was fetched after this
        consumer took its partition, at or past the partition's end offset at that time
        (a record before it may have been handled by the previous owner, which did not commit
        it), and it is not being retried. A fresh record's idempotency key needs no lookup
        before its work (`workflows.services.infra.results_cache`); when unsure, the answer is
        False."""
        tp = TopicPartition(record.topic, record.partition)
        mark = self._marks.get(tp)
        return (
            mark is not None and record.offset >= mark and (tp, record.offset) not in self._retrying
        )

    async def on_revoked(self) -> None:
        """The group rebalances (every partition goes): commit what is done, forget the rest.

        The records still running are not waited for: their partitions' next owner gets
        them again, and their late finish is not counted here (the epoch changed)."""
        await self._commit_safely()
        for tp in {*self._marks, *self._epochs}:
            self._epochs[tp] = self._epochs.get(tp, 0) + 1
        self._marks.clear()
        self.tracker.forget(list(self._epochs))

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

    def _mark(self, tp: TopicPartition, last_fetched: int) -> None:
        """The first batch since `tp` was assigned: records before the end offset are unsure."""
        try:
            highwater = self.consumer.highwater(tp)
        except Exception:  # not known (not assigned any more): everything fetched is unsure
            highwater = None
        self._marks[tp] = max(highwater or 0, last_fetched + 1)

    def _spawn(self, tp: TopicPartition, record: ConsumerRecord[Any, Any]) -> None:
        self.tracker.started(tp, record.offset)
        task = asyncio.create_task(self._run_one(tp, record, self._epochs.get(tp, 0)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run_one(
        self, tp: TopicPartition, record: ConsumerRecord[Any, Any], epoch: int
    ) -> None:
        failures = 0
        try:
            while True:
                try:
                    await self.handle(record)
                    break
                except Exception as exc:
                    failures += 1
                    self.retries += 1
                    self._retrying.add((tp, record.offset))
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
        finally:
            if failures:
                self._retrying.discard((tp, record.offset))
        if self._epochs.get(tp, 0) == epoch:  # else delivered again since: not ours to count
            self.tracker.finished(tp, record.offset)
            self._finished.set()

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

    async def _commit_loop(self) -> None:
        """Off the fetch loop: once records finish, commit them `commit_interval_s` later (the
        records finishing meanwhile go in the same commit); idle, it does not wake up."""
        while True:
            await self._finished.wait()
            self._finished.clear()
            await asyncio.sleep(self.commit_interval_s)
            if not await self._commit_safely():
                self._finished.set()  # still pending: try again after the interval

    async def _commit_safely(self) -> bool:
        try:
            await self.commit()
        except Exception as exc:  # the offsets stay pending and are committed next round
            log.warning("commit_failed", service=self.name, error=f"{type(exc).__name__}: {exc}")
            return False
        return True

    async def commit(self) -> None:
        """Commit every partition's done prefix once the sends it caused are acknowledged."""
        async with self._commit_lock:
            offsets = self.tracker.committable(peek=True)
            if not offsets:
                return
            await self.bus.flush()  # every send queued by the records done so far
            owned = self.consumer.assignment()
            mine = {tp: offset for tp, offset in offsets.items() if tp in owned}
            if mine:
                await self.consumer.commit(mine)
                self.commits += 1
            self.tracker.committed(offsets)
            self.tracker.forget(tp for tp in offsets if tp not in owned)


def rewind(consumer: AIOKafkaConsumer, batch: Mapping[TopicPartition, Sequence[Any]]) -> None:
    """Fetch a failed batch again: seek each partition back to its first record."""
    owned = consumer.assignment()
    for tp, records in batch.items():
        if records and tp in owned:
            consumer.seek(tp, records[0].offset)
