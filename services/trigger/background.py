"""Background work of the trigger service, run from its lifespan: the scheduler loop and the
consumer of event topics (when `settings.event_topics` lists any)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from workflows.services.trigger.deps import Context
from workflows.services.trigger.events import EventConsumer, EventRouter
from workflows.services.trigger.scheduler import Scheduler

__all__ = ["TriggerBackground"]

log = structlog.get_logger(__name__)


class TriggerBackground:
    def __init__(self, ctx: Context, drain_s: float = 5.0) -> None:
        self.ctx = ctx
        self.scheduler = Scheduler(ctx)
        self.events = EventRouter(ctx)
        self.consumer = EventConsumer(ctx, self.events)
        self.drain_s = drain_s
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="trigger-background")

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._supervise("scheduler", self.scheduler.run))
            if self.ctx.settings.event_topics:
                group.create_task(self._supervise("event_consumer", self.consumer.run))

    async def _supervise(self, name: str, loop: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        """Run `loop` until stopping; restart it (after a pause) when it crashes."""
        delay = 0.5
        while not self._stopping.is_set():
            try:
                await loop(self._stopping)
            except Exception:
                log.exception("trigger_loop_crashed", loop=name, restart_in_s=delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, 30.0)

    async def stop(self) -> None:
        """Let the loops finish their current tick/batch, then cancel; safe to call twice."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        done, _ = await asyncio.wait({task}, timeout=self.drain_s)
        if not done:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await task
            except Exception:
                log.exception("trigger_background_failed")
