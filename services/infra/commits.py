"""Offset commits off the fetch loop, still only of what is done.

A consumer loop marks a batch done once its state changes are saved and every send it caused
is acknowledged (`mark_done`); `maybe_commit` then commits the marked offsets in the
background, at most every `interval_s` and one commit at a time, so the loop goes on fetching
instead of waiting for the broker. A refused commit (the group rebalanced) rewinds the
partitions still assigned to the first uncommitted record: they are read again and the
duplicates are absorbed as on any redelivery. `drain()` commits what is left (on stop and
when partitions are revoked).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import TopicPartition

__all__ = ["OffsetCommitter"]

log = structlog.get_logger(__name__)


class OffsetCommitter:
    def __init__(self, consumer: Any, interval_s: float) -> None:
        self.consumer = consumer
        self.interval_s = interval_s
        self._done: dict[TopicPartition, int] = {}  # next offset to commit
        self._first: dict[TopicPartition, int] = {}  # first offset not committed yet
        self._task: asyncio.Task[None] | None = None
        self._last = 0.0
        self.commits = 0
        self.refused = 0

    def mark_done(self, batch: Mapping[TopicPartition, Sequence[Any]]) -> None:
        for tp, records in batch.items():
            if records:
                self._first.setdefault(tp, records[0].offset)
                self._done[tp] = records[-1].offset + 1

    @property
    def pending(self) -> bool:
        return bool(self._done)

    def maybe_commit(self, force: bool = False) -> None:
        """Start a background commit of the marked offsets when one is due and none runs."""
        if not self._done or (self._task is not None and not self._task.done()):
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return
        offsets, firsts = dict(self._done), dict(self._first)
        self._done.clear()
        self._first.clear()
        self._last = now
        self._task = asyncio.create_task(self._commit(offsets, firsts))

    async def _commit(
        self, offsets: dict[TopicPartition, int], firsts: dict[TopicPartition, int]
    ) -> None:
        try:
            await self.consumer.commit(offsets)
            self.commits += 1
        except (CommitFailedError, KafkaError) as exc:
            # Not committed: read those records again from the first one not committed
            # (only where the partition is still ours; a new owner starts from the commit).
            self.refused += 1
            log.warning("commit_refused", partitions=len(offsets), error=str(exc))
            assigned = self.consumer.assignment()
            for tp, first in firsts.items():
                if tp in assigned:
                    self._first.pop(tp, None)
                    self._done.pop(tp, None)
                    with contextlib.suppress(Exception):
                        self.consumer.seek(tp, first)

    async def wait(self) -> None:
        """Wait for the commit in flight, if any."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def drain(self) -> None:
        """Commit everything marked done and wait for it."""
        await self.wait()
        self.maybe_commit(force=True)
        await self.wait()
