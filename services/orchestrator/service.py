"""Orchestrator wiring: consume a batch, apply transitions per execution, flush, then commit.

Offsets are committed only after every state change of the batch is saved in Redis and
every message it caused is acknowledged by the broker (acks=all). A crash before that
redelivers the batch: transitions already saved are seen as duplicates, and their outbox
leftovers are published again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError

from workflows.contracts import (
    ContractError,
    RetryExecution,
    StartExecution,
    StepResult,
    TimerFired,
    command_id,
    decode,
    decode_control,
    encode,
)
from workflows.services.core.engine import Transition
from workflows.services.core.failures import MAX_REASON_CHARS, apply_error, fail_execution
from workflows.services.core.payload_refs import changed_steps
from workflows.services.core.state import ExecutionState
from workflows.services.infra import tracing
from workflows.services.infra.attempt_logs import store_result_logs
from workflows.services.infra.batch_loop import BatchLoop, Fetched
from workflows.services.infra.commits import OffsetCommitter
from workflows.services.infra.definitions import DefinitionCache
from workflows.services.infra.handoff import HandedOver, local_record, owned_partition
from workflows.services.infra.kafka import Bus, ensure_topics, make_consumer
from workflows.services.infra.keys import Keys
from workflows.services.infra.metrics import EngineMetrics
from workflows.services.infra.payloads import Payloads
from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.search_index import row_for
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import Save, StateStore, now_ms
from workflows.services.orchestrator.batch import Applied, Batch, CachedState, StateCache
from workflows.services.orchestrator.claims import ClaimCheck
from workflows.services.orchestrator.entries import pack, unpack
from workflows.services.orchestrator.handlers import Rejected, transition_for
from workflows.services.orchestrator.migrations import definition_version
from workflows.services.orchestrator.outbox import outbox_entries
from workflows.services.orchestrator.signals import ENTRY_KINDS, flush_entry, rejected_child
from workflows.services.orchestrator.trace_events import record_transition

__all__ = ["INFRASTRUCTURE_ERRORS", "Orchestrator"]

log = structlog.get_logger(__name__)
GROUP = "wf-orchestrator"
CAS_ATTEMPTS = 8
TIMER_IDLE_S = 1.0  # the longest the timer loop sleeps without looking
PURGE_INTERVAL_S = 30.0  # how often expired executions leave the search index and listing
PURGE_BATCH = 1000  # executions per purge call; at most PURGE_ROUNDS calls per namespace
PURGE_ROUNDS = 10
# errors of what the orchestrator depends on: the batch is applied again once they pass;
# any other exception while applying a record is that record's own (`_report_poison`)
INFRASTRUCTURE_ERRORS = (RedisError, KafkaError, OSError, TimeoutError)


def _what(message: Any) -> str:
    """What a message is, for a reason: "the result of step b attempt 2"."""
    if isinstance(message, StepResult):
        return f"the result of step {message.step_id} attempt {message.attempt}"
    if isinstance(message, StartExecution):
        return "the start command"
    if isinstance(message, TimerFired):
        return f"the {message.timer} timer of step {message.step_id}"
    return f"a {type(message).__name__} message"


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
        self._timers_set = asyncio.Event()  # a timer due before the timer loop's next look
        self._next_look_ms = 0
        self.cache = StateCache()
        self._trims: dict[str, int] = {}  # outbox entries flushed, trimmed in the next trip
        self.applied = 0
        self.poisoned = 0  # records whose application raised (`_report_poison`)
        self.dropped_entries = 0  # outbox entries that could never be published
        self.metrics = EngineMetrics.of(metrics_registry).service("orchestrator", self.bus)
        self.committer: OffsetCommitter | None = None
        self._consumer: Any = None
        self._local: list[ConsumerRecord[Any, Any]] = []  # results handed over in memory
        self._local_ready = asyncio.Event()
        self.handed_over = 0  # results applied from memory (`hand_over`)
        self._local_handoff = False
        self.applied_from_memory: HandedOver[bool] = HandedOver()
        self._fetching: asyncio.Future[Any] | None = None  # a fetch `_fetch` left running
        self._namespaces: set[str] = set()  # of the index rows written: purged (`_purge`)
        self._purged_at = time.monotonic()

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
            on_revoked=self._revoked,
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
        self._timers_set.set()

    async def _trim_now(self) -> None:
        """Trim the outbox entries flushed so far (when idle, stopping or losing partitions)."""
        if self._trims:
            trims, self._trims = self._trims, {}
            try:
                await self.store.trim_outboxes(trims)
            except Exception:  # left in place, they are published again on a cold load
                log.warning("outbox_trim_failed", executions=len(trims))

    async def _revoked(self) -> None:
        """Partitions are going: trim what was flushed, forget cached states, commit."""
        await self._trim_now()
        self.cache.clear()
        self.applied_from_memory.clear()
        if self.committer is not None:
            with contextlib.suppress(Exception):
                await self.committer.drain()

    def take_results_from(self, bus: Bus) -> None:
        """A dispatcher in this process publishes on `bus`: its results come here in memory
        too (`hand_over`), a step hop without a Kafka round trip."""
        bus.local_delivery[self.topics.step_results] = self.hand_over
        self._local_handoff = True

    def hand_over(
        self, value: bytes, key: str | None, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        """A step result a dispatcher in this process just published (`Bus.local_delivery`):
        applied from memory, without waiting for its Kafka copy, when this orchestrator owns
        the execution's partition of the results topic; the Kafka copy is then dropped
        unread (`HandedOver`). Anything else waits for the Kafka copy: a handed-over record
        carries no offset, so nothing is committed for it."""
        if key is None or self._stopping.is_set():
            return
        topic = self.topics.step_results
        partition = owned_partition(self._consumer, topic, key)
        if partition is not None:
            self._local.append(local_record(topic, partition, key, value, headers))
            self._local_ready.set()

    async def _fetch(self, timeout_ms: int) -> Fetched | None:
        """With a co-located dispatcher (`take_results_from`): the next batch, or None once
        results it handed over in memory came first and were applied. The fetch still
        running is kept for the next call."""
        if self._fetching is None:
            self._fetching = asyncio.ensure_future(
                self._consumer.getmany(timeout_ms=timeout_ms, max_records=self.settings.max_batch)
            )
        if not self._local:
            self._local_ready.clear()
            wake = asyncio.ensure_future(self._local_ready.wait())
            await asyncio.wait({self._fetching, wake}, return_when=asyncio.FIRST_COMPLETED)
            wake.cancel()
        if self._fetching.done():
            fetched, self._fetching = self._fetching, None
            batch: Fetched = fetched.result()
            return batch
        await self._apply_handed_over()
        return None

    async def _apply_handed_over(self) -> None:
        records, self._local = self._local, []
        try:
            await self.process(records)
            self.handed_over += len(records)
            for record in records:  # saved: their Kafka copies change nothing
                self.applied_from_memory.put(record.value, True)
        except Exception:  # the Kafka copies apply them instead
            self.cache.clear()
            log.warning("handed_over_results_failed", records=len(records), exc_info=True)

    async def _consume(self, consumer: Any) -> None:
        """Fetch, apply, mark done (`workflows.services.infra.batch_loop`, the loop every
        consumer of the engine runs): offsets are committed in the background, only of batches whose
        saves and sends are confirmed; a failed batch drops the cached states and is applied
        again (transitions already saved are duplicates by then, their outboxes re-flushed
        from a fresh load)."""
        loop = BatchLoop(
            consumer,
            self.process,
            name="orchestrator",
            max_batch=self.settings.max_batch,
            commit_interval_ms=self.settings.commit_interval_ms,
            on_consumed=self.metrics.consumed,
            on_failed=self.cache.clear,
            on_idle=self._trim_now,
            fetch=self._fetch if self._local_handoff else None,
        )
        self.committer = loop.committer
        self._consumer = consumer
        try:
            await loop.run(self._stopping)
        finally:
            self._consumer = None
            if self._fetching is not None:
                self._fetching.cancel()
                self._fetching = None
            await self._trim_now()

    # -- one batch ------------------------------------------------------------------------
    async def process(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        """Apply a batch: every execution's records in order, in memory, from its cached (or
        loaded) state; all saves in one pipeline; then publish and flush once (the trim goes in
        the next batch's save pipeline)."""
        groups: dict[str, list[tuple[ConsumerRecord[Any, Any], Any]]] = defaultdict(list)
        for record in records:
            if record.offset >= 0 and self.applied_from_memory.take(record.value):
                continue  # the Kafka copy of a result applied from memory
            try:
                message = self._decode(record)
            except ContractError as exc:
                await self.bus.dead_letter(record, exc.reason, exc.code)
                continue
            except Exception as exc:  # e.g. RecursionError: still this record's fault only
                await self.bus.dead_letter(record, f"{type(exc).__name__}: {exc}", "undecodable")
                continue
            groups[message.execution_id].append((record, message))
        if not groups:  # duplicates from memory, dead letters: nothing to apply
            await self.bus.flush()
            return
        batch = Batch()
        pending = dict(groups)
        slots = asyncio.Semaphore(self.settings.max_in_flight)

        async def bounded(
            eid: str, items: list[tuple[ConsumerRecord[Any, Any], Any]]
        ) -> Applied | None:
            async with slots:
                return await self._apply_execution(eid, items, batch)

        # Executions whose first record is a start: new, as a rule. They are not loaded; if one
        # exists after all (a start delivered again), its save is fenced and the next round
        # loads it like any fenced execution.
        fresh = {e for e, items in groups.items() if isinstance(items[0][1], StartExecution)}
        for _ in range(CAS_ATTEMPTS):
            await self._warm(list(pending), batch, fresh)
            outcomes = await asyncio.gather(*(bounded(e, i) for e, i in pending.items()))
            for eid, outcome in zip(pending, outcomes, strict=True):
                if outcome is None and eid in fresh:  # taken as new, nothing to save: unknown
                    self.cache.drop(eid)
            fresh = set()
            applied = [a for a in outcomes if a is not None]
            rows = [row_for(a.state, self.definitions) for a in applied]
            self._namespaces.update(row.namespace for row in rows if row is not None)
            bodies = [row.body() if row is not None else None for row in rows]
            saves = [
                Save(
                    a.execution_id,
                    a.rev,
                    a.doc or "",
                    a.entries,
                    self.settings.state_ttl_s if a.state is not None and a.state.terminal else 0,
                    # a row as last written needs no write (it is rev-guarded, so an older
                    # revision beside an unchanged row is what a skipped write leaves)
                    None if body is not None and body == self.cache.row_of(a.execution_id) else row,
                )
                for a, row, body in zip(applied, rows, bodies, strict=True)
            ]
            trims, self._trims = self._trims, {}
            revisions = await self.store.save_many(saves, trims)
            fenced = {}
            for done, new_rev, body in zip(applied, revisions, bodies, strict=True):
                eid = done.execution_id
                if new_rev < 0:
                    # Another writer saved first (or a save whose reply was lost was retried):
                    # reload with the outbox, flush what it holds, apply the records again.
                    self.cache.drop(eid)
                    fenced[eid] = pending[eid]
                    continue
                terminal = done.state is not None and done.state.terminal
                if terminal:  # nothing more will come for it, as a rule: no need to keep it
                    self.cache.drop(eid)
                else:
                    self.cache.put(eid, CachedState(new_rev, done.doc, done.state, body))
                for transition in done.transitions:
                    self.applied += 1
                    self.metrics.engine.observe_transition(transition)
                await self._publish(done.entries, batch)
                batch.count(eid, len(done.entries))
            if not fenced:
                break
            pending = fenced
        else:
            log.error("cas_exhausted", executions=sorted(pending))
            raise RuntimeError(f"could not save executions {sorted(pending)}: too much contention")
        # Timers, listing and KPI samples describe states already saved: written while the
        # messages are acknowledged. The trim waits for the acks, and goes in the next
        # batch's first round trip (or when idle).
        if batch.timers or batch.index or batch.outcomes:
            written = asyncio.create_task(
                self.store.write_flushed(batch.timers, batch.index, batch.outcomes)
            )
            try:
                await self.bus.flush()
            finally:
                await asyncio.wait([written])
                failed = written.exception()  # retrieved even when the flush raised first
            if failed is not None:
                raise failed  # the batch is applied again
        else:  # most serial hops: nothing beside the sends, no task to start
            await self.bus.flush()
        for eid, count in batch.flushed.items():
            self._trims[eid] = self._trims.get(eid, 0) + count
        if batch.timers and min(due for _, due in batch.timers) < self._next_look_ms:
            self._timers_set.set()  # due before the timer loop would look again

    async def _warm(
        self, execution_ids: list[str], batch: Batch, fresh: set[str] | frozenset[str] = frozenset()
    ) -> None:
        """Load the executions the cache lacks (one pipeline) and flush their outbox leftovers:
        entries saved by an earlier owner or run whose publish was not confirmed. Those in
        `fresh` are taken as new (revision 0, no document) without a load: the save's
        compare-and-set fences one that exists."""
        cold = []
        for eid in execution_ids:
            if eid in self.cache:
                continue
            if eid in fresh and eid not in self._trims:
                self.cache.put(eid, CachedState(0, None))
            else:
                cold.append(eid)
        trims = {eid: self._trims.pop(eid) for eid in cold if eid in self._trims}
        for eid, (rev, doc, outbox) in (await self.store.load_many(cold, trims)).items():
            self.cache.put(eid, CachedState(rev, doc))
            leftovers = outbox[batch.flushed.get(eid, 0) :]  # not flushed by this batch yet
            if leftovers:
                await self._publish(leftovers, batch)
                batch.count(eid, len(leftovers))

    async def _apply_execution(
        self,
        execution_id: str,
        items: list[tuple[ConsumerRecord[Any, Any], Any]],
        batch: Batch,
    ) -> Applied | None:
        """Apply one execution's records in order; what to save, or None if nothing changed.

        The state is changed in place and dumped once, at the end. A record that leaves it
        half-changed (it raised, was rejected, or was a duplicate whose references were
        resolved in memory) starts the pass again from the document, without that record:
        nothing of a pass leaves the process before the save, so the transitions of the
        records before it are simply made again. (Keeping a document after every record
        instead cost a dump per result: 99 dumps of a 100-step state for a fan-in of 100.)
        """
        cached = self.cache.get(execution_id)
        assert cached is not None  # warmed by `_warm`
        poisoned: dict[int, dict[str, Any]] = {}  # id(record) -> the error its apply raised
        skipped: set[int] = set()  # duplicates that touched the state in memory
        state = self.cache.take_state(execution_id)
        while True:
            try:
                if state is None and cached.doc:
                    state = ExecutionState.model_validate_json(cached.doc)
            except ValueError as exc:  # a stored document no build can read: keep its records
                for record, _ in items:
                    if id(record) not in batch.refused:
                        batch.refused.add(id(record))
                        await self.bus.dead_letter(
                            record, f"stored state unreadable: {exc}", "poison"
                        )
                return None
            done = Applied(execution_id, cached.rev)
            state, complete = await self._apply_pass(state, items, batch, done, poisoned, skipped)
            if complete:
                break
            state = None  # start again from the document
        if not done.transitions or state is None:
            return None
        done.state = state
        done.doc = state.model_dump_json(by_alias=True)
        return done

    async def _apply_pass(
        self,
        state: ExecutionState | None,
        items: list[tuple[ConsumerRecord[Any, Any], Any]],
        batch: Batch,
        done: Applied,
        poisoned: dict[int, dict[str, Any]],
        skipped: set[int],
    ) -> tuple[ExecutionState | None, bool]:
        """One pass over the records from `state`: (the state, False) when a record left it
        half-changed and the pass must start again from the document."""
        for record, message in items:
            key = id(record)
            if key in poisoned:  # fails its execution, from the state before it
                entries, transition = await self._fail_poisoned(message, state, poisoned[key])
                if transition is not None:
                    state = transition.state
                    done.entries.extend(entries)
                    done.transitions.append(transition)
                continue
            if key in batch.refused or key in skipped:
                continue
            try:
                entries_or_none, applied, touched = await self._apply(message, state, record)
            except Rejected as exc:
                batch.refused.add(key)
                await self.bus.dead_letter(record, str(exc), "rejected")
                await rejected_child(self.bus, message, str(exc))  # fail the parent step
                return state, False
            except INFRASTRUCTURE_ERRORS:
                raise  # Redis or the broker: the whole batch is applied again
            except Exception as exc:  # this record only: the rest of the batch goes on
                batch.refused.add(key)
                poisoned[key] = await self._report_poison(record, message, exc)
                return state, False
            if applied is None:
                if touched:  # references resolved in memory: start again from the document
                    skipped.add(key)
                    return state, False
                continue
            state = applied.state
            done.entries.extend(entries_or_none or [])
            done.transitions.append(applied)
        return state, True

    async def _report_poison(
        self, record: ConsumerRecord[Any, Any], message: Any, exc: Exception
    ) -> dict[str, Any]:
        """Applying `message` raised: log it, keep the record in the dead-letter topic, and
        return the execution's error."""
        what = _what(message)
        log.error(
            "record_poisoned",
            execution_id=message.execution_id,
            what=what,
            error=f"{type(exc).__name__}: {str(exc)[:MAX_REASON_CHARS]}",
            exc_info=exc,
        )
        self.poisoned += 1  # counted on the DLQ metric too (the record is dead-lettered)
        error = apply_error(what, exc)
        await self.bus.dead_letter(record, error["message"], "poison")
        return error

    async def _fail_poisoned(
        self, message: Any, state: ExecutionState | None, error: dict[str, Any]
    ) -> tuple[list[str], Transition | None]:
        """Fail the execution of a poisoned record from `state`, the state before it."""
        if state is None or state.terminal:
            return [], None
        wf = await self.definitions.get(state.workflow, state.workflow_version)
        schema = wf.definition.input if wf is not None else None
        transition = fail_execution(state, datetime.now(UTC), error, schema)
        return outbox_entries(transition, self.topics, new=False), transition

    def _decode(self, record: ConsumerRecord[Any, Any]) -> Any:
        """The record's message; ContractError for one that is not a valid, signed (with
        signing on) message, or a result that does not answer the command of its attempt."""
        data = record.value if isinstance(record.value, bytes) else b""
        unsigned = self.bus.signer.problem(data, record.headers)
        if unsigned is not None:
            raise ContractError(unsigned, code="bad_signature")
        limit = self.settings.max_message_bytes
        if record.topic == self.topics.start:
            return decode(StartExecution, data, max_bytes=limit)
        if record.topic == self.topics.step_results:
            result = decode(StepResult, data, max_bytes=limit)
            expected = command_id(result.execution_id, result.step_id, result.attempt)
            if result.command_id != expected:
                raise ContractError(
                    f"commandId '{result.command_id[:200]}' is not the command of step "
                    f"'{result.step_id[:200]}' attempt {result.attempt} ('{expected[:300]}')",
                    field="commandId",
                    code="wrong_command",
                )
            return result
        return decode_control(data, max_bytes=limit)

    async def _apply(
        self, message: Any, state: ExecutionState | None, record: Any = None
    ) -> tuple[list[str] | None, Transition | None, bool]:
        """(outbox entries, transition, whether `state` was touched in memory), with
        (None, None, touched) for a duplicate."""
        if not tracing.enabled():
            return await self._apply_message(message, state, record)
        carrier = tracing.record_headers(getattr(record, "headers", None))
        parent = state.trace_context if state is not None and state.trace_context else carrier
        name = f"orchestrate {type(message).__name__}"
        with tracing.span(name, parent, {"execution.id": message.execution_id}) as span:
            applied = await self._apply_message(message, state, record)
            if applied[1] is not None:  # retry waits, timers, fallbacks, ...: span events
                record_transition(span, applied[1])
            return applied

    async def _apply_message(
        self, message: Any, state: ExecutionState | None, record: Any
    ) -> tuple[list[str] | None, Transition | None, bool]:
        previous = None
        if isinstance(message, StartExecution):
            name, version = message.workflow, message.workflow_version
            if message.retry_of is not None and state is None:
                old = await self.store.get_state(message.retry_of)
                previous = ExecutionState.model_validate_json(old) if old else None
                if previous is not None:
                    version = previous.workflow_version
        elif state is not None:
            name, version = state.workflow, definition_version(message, state)  # migrations
        else:
            raise Rejected(f"unknown execution '{message.execution_id}'")
        wf = await self.definitions.get(name, version)
        if wf is None:
            raise Rejected(f"unknown workflow '{name}' version {version or 'latest'}")
        await store_result_logs(self.store.logs, wf, state, message)  # attempt logs
        known, message = await self.claims.resolve(wf, state, message)  # large payloads
        transition = transition_for(message, wf, state, previous)
        if transition.duplicate:
            return None, None, bool(known)
        if state is None and record is not None:  # the start's trace: every step joins it
            carrier = tracing.record_headers(record.headers)
            if carrier:
                transition.state.trace_context = carrier
        changed = (  # a result changes a few steps of a state whose others were checked before
            changed_steps(transition, message.step_id)
            if isinstance(message, StepResult) and state is not None
            else None
        )
        refused = await self.claims.externalize(transition, known, changed)
        entries = outbox_entries(transition, self.topics, new=state is None) + refused
        if isinstance(message, RetryExecution):
            entries.append(self._retry_start(message, transition.state))
        return entries, transition, True

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
        return pack(["msg", self.topics.start, message.new_execution_id, encode(start).decode()])

    async def _publish(self, entries: list[str], batch: Batch) -> None:
        for raw in entries:
            try:
                await self._publish_entry(raw, batch)
            except INFRASTRUCTURE_ERRORS as exc:
                if not isinstance(exc, MessageSizeTooLargeError):
                    raise  # published again when the batch is applied again
                self._drop_entry(raw, exc)  # never fits: would fail every redelivery
            except Exception as exc:  # an entry no retry can publish: dropped, loudly
                self._drop_entry(raw, exc)

    def _drop_entry(self, raw: str, exc: Exception) -> None:
        log.error("outbox_entry_dropped", entry=raw[:300], error=f"{type(exc).__name__}: {exc}")
        self.dropped_entries += 1

    async def _publish_entry(self, raw: str, batch: Batch) -> None:
        entry = unpack(raw)
        if entry[0] == "msg":  # [msg, topic, key, value, trace context?]
            trace = entry[4] if len(entry) > 4 else None
            await self.bus.publish(entry[1], entry[3].encode(), entry[2], trace)
        elif entry[0] == "timer":
            batch.timers.append((entry[1], int(entry[2])))
        elif entry[0] == "index":
            batch.index.append((entry[1], int(entry[2])))
        elif entry[0] == "kpi":  # idempotent: a re-flushed sample changes nothing
            batch.outcomes.append((entry[1], entry[2], int(entry[3])))
        elif entry[0] in ENTRY_KINDS:  # waits: correlation index, early-signal buffer
            await flush_entry(self.store.redis, self.bus, self.settings, entry)

    # -- durable timers -------------------------------------------------------------------
    async def _timer_loop(self) -> None:
        """Fire due timers; between rounds sleep until the earliest timer is due (at most
        `TIMER_IDLE_S`, so timers set by other replicas are seen), or until this replica
        sets one that is due sooner."""
        poll_s = self.settings.timer_poll_ms / 1000
        while not self._stopping.is_set():
            self._timers_set.clear()
            self._next_look_ms = 0  # while firing, any new timer wakes the next round
            wait_s = poll_s
            try:
                if not await self.fire_due_timers():
                    earliest = await self.store.next_timer_ms()
                    idle_s = max(TIMER_IDLE_S, poll_s)
                    wait_s = idle_s if earliest is None else (earliest - now_ms()) / 1000
                    wait_s = min(max(wait_s, poll_s), idle_s)
                else:
                    wait_s = 0
            except Exception:  # keep firing timers whatever one round hit
                log.exception("timer_round_failed")
            await self._purge()  # after the timers, and a failed purge does not stop them
            if wait_s > 0:
                self._next_look_ms = now_ms() + int(wait_s * 1000)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._timers_set.wait(), wait_s)

    async def _purge(self) -> None:
        """Every PURGE_INTERVAL_S: forget the executions whose state expired (search index rows,
        the listing) in the namespaces this orchestrator indexes, so Redis stays flat without
        waiting for someone to search."""
        if time.monotonic() - self._purged_at < PURGE_INTERVAL_S:
            return
        self._purged_at = time.monotonic()
        try:
            for namespace in sorted(self._namespaces):
                for _ in range(PURGE_ROUNDS):  # more than a batch: a backlog since the last look
                    if await self.store.purge_expired(namespace, PURGE_BATCH) < PURGE_BATCH:
                        break
        except Exception as exc:  # Redis away: the next round tries again
            log.warning("purge_failed", error=f"{type(exc).__name__}: {exc}")

    async def fire_due_timers(self) -> int:
        due = await self.store.claim_due_timers(now_ms(), self.settings.timer_lease_ms)
        for member in due:
            try:  # the execution id may hold the separator: the other three never do
                execution_id, kind, step_id, attempt = member.rsplit("|", 3)
                fired = TimerFired(
                    execution_id=execution_id,
                    timer=kind,
                    step_id=step_id,
                    attempt=max(int(attempt), 1) if attempt.isascii() else 1,
                    due_at=datetime.now(UTC),
                )
            except ValueError as exc:  # a member no build writes: dropped, not fired forever
                log.error("timer_unreadable", member=member[:300], error=str(exc))
                continue
            await self.bus.publish(self.topics.control, encode(fired), execution_id)
        await self.bus.flush()
        await self.store.drop_timers(due)
        return len(due)
