"""Orchestrator wiring: consume a batch, apply transitions per execution, flush, then commit.

Offsets are committed only after every state change of the batch is saved in Redis and
every message it caused is acknowledged by the broker (acks=all). A crash before that
redelivers the batch: transitions already saved are seen as duplicates, and their outbox
leftovers are published again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka.errors import CommitFailedError
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry

from contracts import (
    ContractError,
    RetryExecution,
    StartExecution,
    StepResult,
    TimerFired,
    decode,
    decode_control,
    encode,
)
from services.core.engine import Transition
from services.core.state import ExecutionState
from services.infra.definitions import DefinitionCache
from services.infra.inflight import rewind
from services.infra.kafka import Bus, ensure_topics, make_consumer
from services.infra.keys import Keys
from services.infra.metrics import EngineMetrics
from services.infra.payloads import Payloads
from services.infra.redis_client import RedisClient
from services.infra.settings import Settings
from services.infra.store import StateStore, now_ms
from services.orchestrator.claims import ClaimCheck
from services.orchestrator.handlers import Rejected, transition_for
from services.orchestrator.outbox import outbox_entries
from services.orchestrator.signals import ENTRY_KINDS, flush_entry, rejected_child

__all__ = ["Orchestrator"]

log = structlog.get_logger(__name__)
GROUP = "wf-orchestrator"
CAS_ATTEMPTS = 8


class Orchestrator:
    def __init__(
        self,
        settings: Settings,
        redis: RedisClient,
        *,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.store = StateStore(
            redis,
            Keys(settings.key_prefix),
            wait_replicas=settings.redis_wait_replicas,
            wait_timeout_ms=settings.redis_wait_timeout_ms,
        )
        self.definitions = DefinitionCache(self.store)
        self.bus = Bus(settings, "orchestrator")
        self.topics = self.bus.topics
        self.claims = ClaimCheck(Payloads(redis, settings), self.topics)  # large payloads
        self._stopping = asyncio.Event()
        self.applied = 0
        self.metrics = EngineMetrics.of(metrics_registry).service("orchestrator", self.bus)

    async def run(self) -> None:
        """Consume until `stop()`; also fires due timers."""
        topics = self.topics
        await ensure_topics(self.settings, [*topics.fixed().values()])
        moved = await self.store.migrate_definition_keys()  # from builds before hash tags
        if moved:
            log.info("definitions_migrated", workflows=moved)
        await self.bus.start()
        consumer = make_consumer(
            self.settings,
            [topics.start, topics.step_results, topics.control],
            f"{self.settings.topic_prefix}{GROUP}",
        )
        await consumer.start()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._timer_loop())
                group.create_task(self._consume(consumer))
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            await self.bus.stop()

    def stop(self) -> None:
        self._stopping.set()

    async def _consume(self, consumer: Any) -> None:
        failures = 0
        while not self._stopping.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=self.settings.max_batch)
            await self.metrics.consumed(consumer, batch)
            records = [r for rs in batch.values() for r in rs]
            if not records:
                continue
            try:
                await self.process(records)
                await consumer.commit()
                failures = 0
            except CommitFailedError as exc:
                # The group rebalanced while the batch was applied: its uncommitted records
                # are read again by whoever owns their partitions now (a duplicate there).
                log.warning("commit_failed_rebalanced", records=len(records), error=str(exc))
                rewind(consumer, batch)
            except Exception:
                # Nothing of this batch is committed: rewind and apply it again (transitions
                # already saved are duplicates by then, their outboxes are re-flushed). Only
                # partitions still assigned are rewound: a rebalance may have moved the rest.
                failures += 1
                log.exception("batch_failed", records=len(records), failures=failures)
                await asyncio.sleep(min(0.05 * 2**failures, 5.0))
                rewind(consumer, batch)

    # -- one batch ------------------------------------------------------------------------
    async def process(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        groups: dict[str, list[tuple[ConsumerRecord[Any, Any], Any]]] = defaultdict(list)
        for record in records:
            try:
                message = self._decode(record)
            except ContractError as exc:
                await self.bus.dead_letter(record, exc.reason, exc.code)
                continue
            groups[message.execution_id].append((record, message))
        counts: dict[str, int] = {}
        timers: list[tuple[str, int]] = []
        index: list[tuple[str, int]] = []
        slots = asyncio.Semaphore(self.settings.max_in_flight)

        async def bounded(eid: str, items: list[tuple[ConsumerRecord[Any, Any], Any]]) -> None:
            async with slots:
                await self._process_execution(eid, items, counts, timers, index)

        await asyncio.gather(*(bounded(eid, items) for eid, items in groups.items()))
        await self.bus.flush()
        await self.store.trim_outboxes(counts, timers, index)

    def _decode(self, record: ConsumerRecord[Any, Any]) -> Any:
        data = record.value if isinstance(record.value, bytes) else b""
        limit = self.settings.max_message_bytes
        if record.topic == self.topics.start:
            return decode(StartExecution, data, max_bytes=limit)
        if record.topic == self.topics.step_results:
            return decode(StepResult, data, max_bytes=limit)
        return decode_control(data, max_bytes=limit)

    async def _process_execution(
        self,
        execution_id: str,
        items: list[tuple[ConsumerRecord[Any, Any], Any]],
        counts: dict[str, int],
        timers: list[tuple[str, int]],
        index: list[tuple[str, int]],
    ) -> None:
        first = True
        for record, message in items:
            for _ in range(CAS_ATTEMPTS):
                rev, doc, outbox = await self.store.load(execution_id, with_outbox=first)
                leftovers = outbox[counts.get(execution_id, 0) :]  # not flushed by this batch yet
                if leftovers:
                    await self._publish(leftovers, timers, index)
                    counts[execution_id] = counts.get(execution_id, 0) + len(leftovers)
                first = False
                try:
                    entries, transition = await self._apply(message, doc)
                except Rejected as exc:
                    await self.bus.dead_letter(record, str(exc), "rejected")
                    await rejected_child(self.bus, message, str(exc))  # fail the parent step
                    break
                if entries is None or transition is None:
                    break
                ttl = self.settings.state_ttl_s if transition.state.terminal else 0
                new_rev = await self.store.save(execution_id, rev, entries[0], entries[1:], ttl)
                if new_rev < 0:
                    # Reload with the outbox: a save whose reply was lost (a Redis failover
                    # retried it) is on the server with the entries it appended; flush them.
                    first = True
                    continue
                self.applied += 1
                self.metrics.engine.observe_transition(transition)
                await self._publish(entries[1:], timers, index)
                counts[execution_id] = counts.get(execution_id, 0) + len(entries) - 1
                break
            else:
                log.error("cas_exhausted", execution_id=execution_id)
                raise RuntimeError(f"could not save execution {execution_id}: too much contention")

    async def _apply(
        self, message: Any, doc: str | None
    ) -> tuple[list[str] | None, Transition | None]:
        """Returns ([state JSON, *outbox entries], transition) or (None, None) for a duplicate."""
        state = ExecutionState.model_validate_json(doc) if doc else None
        previous = None
        if isinstance(message, StartExecution):
            name, version = message.workflow, message.workflow_version
            if message.retry_of is not None and state is None:
                old = await self.store.get_state(message.retry_of)
                previous = ExecutionState.model_validate_json(old) if old else None
                if previous is not None:
                    version = previous.workflow_version
        elif state is not None:
            name, version = state.workflow, state.workflow_version
        else:
            raise Rejected(f"unknown execution '{message.execution_id}'")
        wf = await self.definitions.get(name, version)
        if wf is None:
            raise Rejected(f"unknown workflow '{name}' version {version or 'latest'}")
        known, message = await self.claims.resolve(wf, state, message)  # large payloads
        transition = transition_for(message, wf, state, previous)
        if transition.duplicate:
            return None, None
        refused = await self.claims.externalize(transition, known)
        entries = outbox_entries(transition, self.topics, new=state is None) + refused
        if isinstance(message, RetryExecution):
            entries.append(self._retry_start(message, transition.state))
        return [
            transition.state.model_dump_json(by_alias=True),
            *entries,
        ], transition

    def _retry_start(self, message: RetryExecution, old: ExecutionState) -> str:
        start = StartExecution(
            execution_id=message.new_execution_id,
            workflow=old.workflow,
            workflow_version=old.workflow_version,
            input=message.input or {},
            actor=message.actor,
            retry_of=old.execution_id,
            from_step=message.from_step,
        )
        return json.dumps(
            ["msg", self.topics.start, message.new_execution_id, encode(start).decode()]
        )

    async def _publish(
        self, entries: list[str], timers: list[tuple[str, int]], index: list[tuple[str, int]]
    ) -> None:
        for raw in entries:
            entry = json.loads(raw)
            if entry[0] == "msg":
                await self.bus.publish(entry[1], entry[3].encode(), entry[2])
            elif entry[0] == "timer":
                timers.append((entry[1], int(entry[2])))
            elif entry[0] == "index":
                index.append((entry[1], int(entry[2])))
            elif entry[0] == "kpi":  # idempotent: a re-flushed sample changes nothing
                await self.store.record_outcome(entry[1], entry[2], int(entry[3]))
            elif entry[0] in ENTRY_KINDS:  # waits: correlation index, early-signal buffer
                await flush_entry(self.store.redis, self.bus, self.settings, entry)

    # -- durable timers -------------------------------------------------------------------
    async def _timer_loop(self) -> None:
        interval = self.settings.timer_poll_ms / 1000
        while not self._stopping.is_set():
            try:
                fired = await self.fire_due_timers()
            except Exception:  # keep firing timers whatever one round hit
                log.exception("timer_round_failed")
                fired = 0
            if not fired:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), interval)

    async def fire_due_timers(self) -> int:
        due = await self.store.claim_due_timers(now_ms(), self.settings.timer_lease_ms)
        for member in due:
            execution_id, kind, step_id, attempt = member.split("|")
            fired = TimerFired(
                execution_id=execution_id,
                timer=kind,
                step_id=step_id,
                attempt=max(int(attempt), 1),
                due_at=datetime.now(UTC),
            )
            await self.bus.publish(self.topics.control, encode(fired), execution_id)
        await self.bus.flush()
        await self.store.drop_timers(due)
        return len(due)
