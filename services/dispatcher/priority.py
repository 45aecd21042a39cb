"""Run the commands waiting for a function's slot, highest priority first.

A command of a function with a `concurrency` limit that finds no free slot waits in Redis in
its function's priority queue (`workflows.services.infra.waiting`; the Kafka record is then done).
`WaitingDrain.run` takes the best ranked one whenever a slot may be free: at once when a
slot of this process frees or a command starts waiting here, else (slots freed by other
replicas) after a wait that doubles from `park_min_ms` to `park_max_ms`. A taken command
arrives with its slot leased to this process; `run` routes and runs it like a consumed
record, and only once its result is acknowledged by the broker is it dropped from Redis.
A process that dies with commands taken stops renewing their claims; they go back to the
queue, with their rank, after one `leaseSeconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiokafka.structs import ConsumerRecord

from workflows.contracts import StepCommand, decode
from workflows.services.core.limits import DEFAULT_LEASE_S
from workflows.services.infra.inflight import backoff_s
from workflows.services.infra.limiter import Limiter
from workflows.services.infra.settings import Settings
from workflows.services.infra.waiting import Taken

__all__ = ["WaitingDrain", "waiting_record"]

log = structlog.get_logger(__name__)
UNLIMITED = 1_000_000  # a function whose limit was removed: its waiting commands all go
MAX_TAKES = 100  # per function and look


class WaitingDrain:
    def __init__(
        self,
        limiter: Limiter,
        settings: Settings,
        worker_id: str,
        run: Callable[[bytes], Awaitable[None]],
    ) -> None:
        self.limiter = limiter
        self.waiting = limiter.waiting
        self.settings = settings
        self.worker_id = worker_id
        self.run_command = run
        self._running: set[asyncio.Task[None]] = set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Take and run waiting commands until `stopping`; then let the running ones finish
        (`drain_timeout_s`; one cut short is taken again by another process later)."""
        min_s = self.settings.park_min_ms / 1000
        max_s = max(self.settings.park_max_ms / 1000, min_s)
        idle_s, failures = min_s, 0
        wake = self.limiter.waiting_now
        try:
            while not stopping.is_set():
                wake.clear()
                try:
                    took = await self.take_all()
                    failures = 0
                    wait_s, idle_s = (0.0, min_s) if took else (idle_s, min(idle_s * 2, max_s))
                except Exception as exc:  # Redis away for a moment: try again
                    failures += 1
                    log.warning("waiting_take_failed", failures=failures, error=str(exc))
                    wait_s = backoff_s(failures)
                if wait_s > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), wait_s)
        finally:
            if self._running:
                _, late = await asyncio.wait(self._running, timeout=self.settings.drain_timeout_s)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)

    async def take_all(self) -> int:
        """Take every waiting command a slot is free for now; returns how many."""
        took = 0
        for function in await self.waiting.functions():
            limit = await self.limiter.functions.get(function)
            concurrency = (limit.concurrency if limit is not None else None) or UNLIMITED
            lease_ms = (limit.lease_seconds if limit is not None else DEFAULT_LEASE_S) * 1000
            for _ in range(MAX_TAKES):
                taken = await self.waiting.take(
                    function, self.worker_id, concurrency, lease_ms, lease_ms
                )
                if taken is None:
                    break
                took += 1
                task = asyncio.create_task(self._run_taken(taken, lease_ms))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
        return took

    async def _run_taken(self, taken: Taken, claim_ms: int) -> None:
        command_id = decode(StepCommand, taken.raw).command_id
        renewing = asyncio.create_task(self._renew(taken.function, command_id, claim_ms))
        try:
            await self.run_command(taken.raw)
            await self.waiting.drop(taken.function, command_id)
        except Exception as exc:  # its claim runs out and it is taken again
            log.warning("waiting_command_failed", command_id=command_id, error=str(exc))
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _renew(self, function: str, command_id: str, claim_ms: int) -> None:
        while True:
            await asyncio.sleep(claim_ms / 3000)
            try:
                await self.waiting.renew(function, command_id, claim_ms)
            except Exception as exc:  # try again at the next beat
                log.warning("waiting_renew_failed", command_id=command_id, error=str(exc))


def waiting_record(topic: str, raw: bytes, key: str) -> ConsumerRecord[Any, Any]:
    """A taken command as the record it came in (it has no offset: nothing to commit)."""
    return ConsumerRecord(
        topic=topic,
        partition=-1,
        offset=-1,
        timestamp=0,
        timestamp_type=0,
        key=key.encode(),
        value=raw,
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=len(raw),
        headers=[],
    )
