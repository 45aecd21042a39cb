"""The scheduler loop of the trigger service: fire due schedules, exactly once across replicas.

Every replica ticks every `scheduler_poll_ms`: it reads the schedules whose next fire time
has come (`{p}:{sched}:due`), works out the occurrences to fire with the schedule's
catch-up policy (`workflows.services.core.schedules.due_occurrences`) and for each, oldest first:
claims `sched-{scheduleId}-{fireTime}` (SET NX), publishes StartExecution
(actor `schedule`, the schedule's notifications) and waits for the broker's ack, marks the
claim published, and only then advances the schedule's `next` (compare-and-set).
See `workflows.services.infra.schedule_store` for why no occurrence fires twice or goes missing
when a replica dies at any point.

Clocks: what is due is decided against the reference clock (Redis `TIME`, one clock for
every replica), never against this host's. When the two differ by more than
`MAX_CLOCK_SKEW_S` the replica fires nothing (a clock that far off is broken, and the
replicas whose clocks are right fire in its place) and logs `scheduler_clock_skew`; the
skew is the gauge `workflows_scheduler_clock_skew_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import structlog

from workflows.contracts import Actor, StartExecution, StartTrigger
from workflows.services.core.schedules import due_occurrences, occurrence_id
from workflows.services.infra.schedule_store import ScheduleStore
from workflows.services.trigger.deps import Context
from workflows.services.trigger.schedule_schemas import ScheduleRecord, notification_lists
from workflows.services.trigger.starts import queue_start

__all__ = ["MAX_CLOCK_SKEW_S", "Scheduler", "from_ms", "to_ms"]

log = structlog.get_logger(__name__)
MAX_CLOCK_SKEW_S = 5.0


def to_ms(value: datetime | None) -> int | None:
    return None if value is None else round(value.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


class Scheduler:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.token = uuid4().hex  # this replica, in the claims it holds
        self.fired = 0

    def store(self) -> ScheduleStore:
        store, _, _ = self.ctx.ready()
        return ScheduleStore(store.redis, self.ctx.settings.key_prefix)

    async def run(self, stopping: asyncio.Event) -> None:
        """Tick until `stopping` is set; a failing tick is logged and retried next period."""
        period = self.ctx.settings.scheduler_poll_ms / 1000
        while not stopping.is_set():
            try:
                await self.tick()
            except Exception:  # Redis or the broker away for a moment: try again next tick
                log.exception("scheduler_tick_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), period)

    async def reference_now(self) -> datetime | None:
        """Redis' clock, or None (fire nothing) when this host's differs by more than
        `MAX_CLOCK_SKEW_S`."""
        store, _, _ = self.ctx.ready()
        before = datetime.now(UTC)
        seconds, micros = await store.redis.time()
        after = datetime.now(UTC)
        reference = datetime.fromtimestamp(int(seconds) + int(micros) / 1e6, UTC)
        local = before + (after - before) / 2  # the middle of the round trip
        skew = (local - reference).total_seconds()
        self.ctx.clock_skew.set(skew)
        if abs(skew) > MAX_CLOCK_SKEW_S:
            log.error("scheduler_clock_skew", skew_s=round(skew, 3), bound_s=MAX_CLOCK_SKEW_S)
            return None
        return reference

    async def tick(self, now: datetime | None = None) -> int:
        """Fire what is due at `now` (default: the reference clock); the number of
        executions this replica started."""
        if now is None:
            now = await self.reference_now()
            if now is None:
                return 0
        store = self.store()
        started = 0
        for schedule_id in await store.due(to_ms(now) or 0):
            try:
                started += await self.fire(store, schedule_id, now)
            except ValueError as exc:  # one bad stored schedule (pydantic's errors too): park it
                log.error("schedule_unreadable", schedule_id=schedule_id, error=str(exc))
                await store.park(schedule_id)
        self.fired += started
        return started

    async def fire(self, store: ScheduleStore, schedule_id: str, now: datetime) -> int:
        runtime = await store.get(schedule_id)
        if runtime is None or runtime.paused or runtime.next_ms is None:
            return 0
        record = ScheduleRecord.model_validate(runtime.doc)
        spec = record.spec()
        grace = timedelta(seconds=self.ctx.settings.schedule_grace_s)
        due = due_occurrences(spec, from_ms(runtime.next_ms), now, record.catch_up, grace)
        expected: int | None = runtime.next_ms
        skipped = due.skipped
        if skipped:
            log.warning("schedule_missed", schedule_id=schedule_id, skipped=skipped)
        if not due.fire:
            if to_ms(due.next) != expected:
                await store.advance(schedule_id, expected, to_ms(due.next), skipped=skipped)
            return 0
        started = 0
        for fire_time in due.fire:
            execution_id = occurrence_id(schedule_id, fire_time)
            claim = await store.claim(execution_id, self.token)
            if claim == "busy":
                return started  # another replica is firing it right now
            if claim == "claimed":
                try:
                    await self._publish(record, execution_id, fire_time)
                except BaseException:
                    await store.release(execution_id, self.token)
                    raise
                await store.mark_published(execution_id)
                started += 1
            after = to_ms(spec.next_after(fire_time))
            moved = await store.advance(
                schedule_id,
                expected,
                after,
                fired=1,
                skipped=skipped,
                last_fire_time=fire_time.isoformat(),
                last_execution_id=execution_id,
            )
            if not moved:
                return started  # deleted, or another replica advanced it
            expected, skipped = after, 0
        return started

    async def _publish(
        self, record: ScheduleRecord, execution_id: str, fire_time: datetime
    ) -> None:
        _, bus, definitions = self.ctx.ready()
        workflow = await definitions.get(record.workflow)
        version = workflow.version if workflow is not None else None
        if workflow is None:
            log.error("scheduled_workflow_missing", schedule_id=record.id, workflow=record.workflow)
        start = StartExecution(
            execution_id=execution_id,
            workflow=record.workflow,
            workflow_version=version,
            input=record.input,
            actor=Actor(kind="schedule", id=record.id),
            trigger=StartTrigger(schedule=record.occurrence(fire_time)),
            notifications=notification_lists(record.notifications),
        )
        await queue_start(self.ctx, start, version)
        await bus.flush()
        log.info(
            "schedule_fired",
            schedule_id=record.id,
            execution_id=execution_id,
            fire_time=fire_time.isoformat(),
        )
