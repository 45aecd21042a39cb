"""The consumer loop the orchestrator, the notifier and the event consumer share.

    fetch a batch ──▶ process(records) ──ok──▶ mark done (commits go in the background,
         ▲                  │                   in workflows.services.infra.commits, only of
         │                  │                   what is done)
         │                failed
         └── back off (`backoff_s`) ◀── rewind the batch (partitions still ours)

One retry policy for all three: a batch whose processing raises is not marked done; the
partitions still assigned are sought back to its first record and it is fetched again after
`backoff_s(failures)` (50 ms doubling, at most 2 s), until it passes. Each service decides
what a record of its own may fail on (the DLQ); what reaches this loop is an infrastructure
failure (Redis or the broker away) or a bug, and retrying is the only answer that loses
nothing. An empty fetch commits what is marked and calls `on_idle`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import structlog
from aiokafka.structs import ConsumerRecord, TopicPartition

from workflows.services.infra.commits import OffsetCommitter
from workflows.services.infra.inflight import backoff_s, rewind

__all__ = ["BatchLoop", "Fetch", "Fetched"]

log = structlog.get_logger(__name__)
IDLE_FETCH_MS = 100  # how long an empty fetch waits when nothing is waiting to be committed

Fetched = Mapping[TopicPartition, Sequence[ConsumerRecord[Any, Any]]]
# a fetch: None when nothing was fetched but the loop should go round (e.g. work was done
# meanwhile, as the orchestrator's in-memory handoff does)
Fetch = Callable[[int], Awaitable[Fetched | None]]


class BatchLoop:
    """Run `process` over the consumer's batches until `stopping` is set."""

    def __init__(
        self,
        consumer: Any,
        process: Callable[[list[ConsumerRecord[Any, Any]]], Awaitable[None]],
        *,
        name: str,
        max_batch: int,
        commit_interval_ms: int,
        on_consumed: Callable[[Any, Fetched], Awaitable[None]] | None = None,
        on_failed: Callable[[], None] | None = None,
        on_idle: Callable[[], Awaitable[None]] | None = None,
        fetch: Fetch | None = None,
    ) -> None:
        self.consumer = consumer
        self.process = process
        self.name = name
        self.max_batch = max_batch
        self.commit_interval_ms = commit_interval_ms
        self.committer = OffsetCommitter(consumer, commit_interval_ms / 1000)
        self.on_consumed = on_consumed  # metrics: records and lag per batch
        self.on_failed = on_failed  # before the batch is fetched again (drop caches)
        self.on_idle = on_idle
        self.fetch: Fetch = fetch or self._getmany
        self.failures = 0  # consecutive failed batches
        self.batches_failed = 0

    async def _getmany(self, timeout_ms: int) -> Fetched:
        batch: Fetched = await self.consumer.getmany(
            timeout_ms=timeout_ms, max_records=self.max_batch
        )
        return batch

    async def run(self, stopping: asyncio.Event) -> None:
        committer = self.committer
        try:
            while not stopping.is_set():
                committer.maybe_commit()
                timeout_ms = self.commit_interval_ms if committer.pending else IDLE_FETCH_MS
                batch = await self.fetch(timeout_ms)
                if batch is None:
                    continue
                if self.on_consumed is not None:
                    await self.on_consumed(self.consumer, batch)
                records = [r for rs in batch.values() for r in rs]
                if not records:
                    committer.maybe_commit(force=True)
                    if self.on_idle is not None:
                        await self.on_idle()
                    continue
                await self._one(batch, records)
        finally:
            with contextlib.suppress(Exception):
                await committer.drain()

    async def _one(self, batch: Fetched, records: list[ConsumerRecord[Any, Any]]) -> None:
        try:
            await self.process(records)
        except Exception as exc:
            # Nothing of this batch is marked done: rewind and apply it again (what was
            # already saved is seen as a duplicate then). Only partitions still assigned
            # are rewound: a rebalance may have moved the rest.
            self.failures += 1
            self.batches_failed += 1
            if self.on_failed is not None:
                self.on_failed()
            log.warning(
                "batch_failed",
                consumer=self.name,
                records=len(records),
                failures=self.failures,
                error=f"{type(exc).__name__}: {exc}",
                exc_info=exc,
            )
            await asyncio.sleep(backoff_s(self.failures))
            rewind(self.consumer, batch)
            return
        self.committer.mark_done(batch)
        self.failures = 0
