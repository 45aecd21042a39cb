"""Event triggers in the trigger service: match events to workflows, and consume event topics.

`EventRouter` keeps the triggers of every registered workflow's latest version (refreshed
before each event or batch: one round trip when nothing changed) and starts one execution
per matching workflow, with the id `event_execution_id(event, workflow)` so a redelivered
event starts nothing new. When several triggers of one workflow match, the first one that
passes its filter supplies the input.

`EventConsumer` reads the topics of `settings.event_topics` (topic -> event type, or ""
for the JSON envelope `{"type", "id", "data"}`) in the consumer group
`<topic prefix>wf-trigger-events`; malformed records go to the DLQ with the reason; offsets
are committed after the start commands are acknowledged by the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from workflows.contracts import Actor, StartExecution, StartTrigger, TriggerEvent
from workflows.services.core.namespaces import belongs
from workflows.services.core.triggers import (
    CompiledTrigger,
    Event,
    EventError,
    TriggerError,
    compile_triggers,
    event_execution_id,
    parse_event,
)
from workflows.services.infra.batch_loop import BatchLoop
from workflows.services.infra.kafka import ensure_topics, make_consumer
from workflows.services.trigger.deps import Context
from workflows.services.trigger.outage import storage_refusal
from workflows.services.trigger.starts import queue_start

__all__ = ["EVENTS_GROUP", "EventConsumer", "EventRouter", "Routed"]

log = structlog.get_logger(__name__)
EVENTS_GROUP = "wf-trigger-events"


@dataclass
class Routed:
    """What one event did: executions started, and workflows that matched but did not start."""

    event: Event
    started: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


class EventRouter:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._triggers: dict[str, tuple[int, list[CompiledTrigger]]] = {}
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Load the triggers of workflows registered or changed since the last refresh."""
        store, _, definitions = self.ctx.ready()
        async with self._lock:
            names = await store.definition_names()
            async with store.redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hlen(store.keys.definition(name))
                latest = [int(n) for n in await pipe.execute()]
            for name, version in zip(names, latest, strict=True):
                known = self._triggers.get(name)
                if version == 0 or (known is not None and known[0] == version):
                    continue
                try:
                    workflow = await definitions.get(name, version)
                    triggers = compile_triggers(workflow.definition, version) if workflow else []
                except Exception as exc:  # one unreadable stored definition: no other tenant's
                    log.warning("definition_unreadable", workflow=name, error=str(exc)[:500])
                    triggers = []
                self._triggers[name] = (version, triggers)
            for gone in set(self._triggers) - set(names):
                del self._triggers[gone]

    def matching(self, event_type: str, namespace: str | None = None) -> list[CompiledTrigger]:
        """Triggers matching the type: of every workflow, or of the workflows of `namespace`."""
        return [
            trigger
            for name, triggers in sorted(self._triggers.items())
            if namespace is None or belongs(namespace, name)
            for trigger in triggers[1]
            if trigger.matches(event_type)
        ]

    async def route(self, event: Event, namespace: str | None = None) -> Routed:
        """Queue a start for every matching workflow, or only those of `namespace` (the API's
        caller); call `bus.flush()` afterwards."""
        _, _, definitions = self.ctx.ready()
        routed = Routed(event)
        done: set[str] = set()
        limit = self.ctx.settings.payload_inline_max_bytes
        for trigger in self.matching(event.type, namespace):
            if trigger.workflow in done:
                continue
            try:
                data = trigger.evaluate(event.data)
            except TriggerError as exc:
                log.warning(
                    "trigger_failed", event_type=event.type, event_id=event.id, error=str(exc)
                )
                routed.skipped.append({"workflow": trigger.workflow, "reason": str(exc)})
                continue
            if data is None:
                continue  # the filter said no; another trigger of the workflow may say yes
            done.add(trigger.workflow)
            workflow = await definitions.get(trigger.workflow, trigger.version)
            errors = workflow.input_errors(data) if workflow is not None else ["not registered"]
            if errors:
                reason = "input does not match the input schema: " + "; ".join(errors)
                log.warning("trigger_input_invalid", workflow=trigger.workflow, reason=reason)
                routed.skipped.append({"workflow": trigger.workflow, "reason": reason})
                continue
            execution_id = event_execution_id(event, trigger.workflow)
            start = StartExecution(
                execution_id=execution_id,
                workflow=trigger.workflow,
                workflow_version=trigger.version,
                input=data,
                idempotency_key=f"event:{event.type}:{event.id}",
                actor=Actor(kind="event", id=event.id),
                trigger=StartTrigger(event=TriggerEvent.bounded(event.data, limit, **event.meta())),
            )
            await queue_start(self.ctx, start, trigger.version)
            routed.started.append(
                {
                    "executionId": execution_id,
                    "workflow": trigger.workflow,
                    "version": trigger.version,
                }
            )
        log.info(
            "event_routed",
            event_type=event.type,
            event_id=event.id,
            started=[s["executionId"] for s in routed.started],
        )
        return routed


class EventConsumer:
    def __init__(self, ctx: Context, router: EventRouter) -> None:
        self.ctx = ctx
        self.router = router
        self.consumed = 0

    async def run(self, stopping: asyncio.Event) -> None:
        settings = self.ctx.settings
        topics = sorted(settings.event_topics)
        await ensure_topics(settings, topics)
        consumer = make_consumer(settings, topics, f"{settings.topic_prefix}{EVENTS_GROUP}")
        await consumer.start()
        try:
            loop = BatchLoop(  # a failed batch is read again (rewound) after a back-off
                consumer,
                self.process,
                name="events",
                max_batch=settings.max_batch,
                commit_interval_ms=settings.commit_interval_ms,
            )
            await loop.run(stopping)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def process(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        _, bus, _ = self.ctx.ready()
        await self.router.refresh()
        for record in records:
            value = record.value if isinstance(record.value, bytes) else b""
            mapped = self.ctx.settings.event_topics.get(record.topic, "")
            fallback = f"{record.topic}:{record.partition}:{record.offset}"
            try:
                event = parse_event(value, mapped, fallback, self.ctx.settings.max_message_bytes)
            except EventError as exc:
                await bus.dead_letter(record, exc.reason, exc.code)
                continue
            try:
                await self.router.route(event)
            except Exception as exc:  # this event only: the rest of the batch goes on
                if storage_refusal(exc) is not None or isinstance(exc, KafkaError):
                    raise  # Redis or the broker is away: the batch is read again later
                log.exception("event_failed", event_type=event.type, event_id=event.id)
                await bus.dead_letter(record, f"event could not be routed: {exc}"[:1000], "failed")
                continue
            self.consumed += 1
        await bus.flush()
