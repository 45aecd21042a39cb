"""The step dispatcher: route each step command to where its function runs.

1. in-process: the function is in the dispatcher's registry -> run it here;
2. HTTP: the function is declared in Redis with a URL -> POST the input to it;
3. otherwise: forward the command unchanged to `wf.fn.<function>` for external workers.

Every command runs as its own task (`workflows.services.infra.inflight`), so a slow call never holds
up the others. Offsets are committed per partition up to the longest finished prefix, after
its results and forwards are acknowledged by the broker and its result is in the results
cache, in the background every `commit_interval_ms`; a crash redelivers the rest
(duplicate in-process runs are absorbed by the idempotency results cache, which costs one
pipelined SET NX per command: `workflows.services.infra.results_cache`). Function and
workflow limits (`workflows.services.infra.limiter`, cached) are checked first; a command
without a free concurrency slot waits in its function's priority queue
(`workflows.services.dispatcher.priority`), one refused by a rate limit is parked and published
again by `_unpark_loop` when due.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry

from workflows.contracts import StepCommand, StepResult, decode, encode
from workflows.services.core.for_each import for_each_spec
from workflows.services.core.limits import CircuitBreaker
from workflows.services.core.payload_refs import is_ref
from workflows.services.core.step_cache import cache_spec
from workflows.services.dispatcher.breaker import CircuitBreakers
from workflows.services.dispatcher.for_each import run_map
from workflows.services.dispatcher.http_functions import HttpFunctions, call_http_function
from workflows.services.dispatcher.priority import WaitingDrain, waiting_record
from workflows.services.functions.registry import FunctionRegistry, run_function
from workflows.services.infra import tracing
from workflows.services.infra.handoff import HandedOver, local_record, owned_partition
from workflows.services.infra.inflight import ConcurrentConsumer, backoff_s
from workflows.services.infra.kafka import Bus, ensure_topics, make_consumer
from workflows.services.infra.keys import Keys
from workflows.services.infra.limiter import Limiter
from workflows.services.infra.metrics import EngineMetrics
from workflows.services.infra.payloads import Payloads, failed
from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.results_cache import ResultsCache
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import StateStore

__all__ = ["Dispatcher"]

log = structlog.get_logger(__name__)
GROUP = "wf-dispatcher"  # prefixed with settings.topic_prefix, like the topics
ROUTES = ("in_process", "http", "forwarded")


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        redis: RedisClient,
        *,
        registry: FunctionRegistry | None = None,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry or FunctionRegistry()
        self.store = StateStore(redis, Keys(settings.key_prefix))
        self.results = ResultsCache(
            redis,
            settings.key_prefix,
            settings.results_ttl_s,
            wait_replicas=settings.redis_wait_replicas,
            wait_timeout_ms=settings.redis_wait_timeout_ms,
            failover_s=settings.redis_failover_s,
        )
        self.http_functions = HttpFunctions(self.store, settings.http_functions_refresh_s)
        self.payloads = Payloads(redis, settings)  # claim check: large inputs/outputs
        self.bus = Bus(settings, "dispatcher")
        self.topics = self.bus.topics
        self.worker_id = settings.worker_id or f"dispatcher-{socket.gethostname()}-{os.getpid()}"
        self._slots = asyncio.Semaphore(settings.step_concurrency)
        self._function_topics: set[str] = set()
        self._stopping = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self.counts = {"in_process": 0, "http": 0, "forwarded": 0, "dead_lettered": 0}
        self.metrics = EngineMetrics.of(metrics_registry).service("dispatcher", self.bus)
        self.limiter = Limiter(redis, settings, self.worker_id, metrics=self.metrics.engine)
        self.breakers = CircuitBreakers(redis, settings.key_prefix)
        routed = self.metrics.engine.commands_routed
        self._routed = {route: routed.labels(route) for route in ROUTES}
        self._loop: ConcurrentConsumer | None = None
        self.from_memory: HandedOver[asyncio.Future[bool]] = HandedOver()
        self._local_tasks: set[asyncio.Task[None]] = set()
        self.handed_over = 0  # commands run from memory (`hand_over`)
        self.waiting = WaitingDrain(self.limiter, settings, self.worker_id, self._run_waiting)

    async def run(self) -> None:
        """Consume step commands until `stop()`."""
        await ensure_topics(self.settings, self.topics.fixed().values())
        await self.bus.start()
        consumer = make_consumer(
            self.settings,
            [self.topics.step_commands],
            f"{self.settings.topic_prefix}{GROUP}",
            on_revoked=self._on_revoked,
        )
        self._client = httpx.AsyncClient()
        try:
            await consumer.start()
            # every record runs as its own task: a slow call never holds up the others; on
            # stop() the calls in flight finish (drain_timeout_s) and their offsets commit
            loop = self._loop = ConcurrentConsumer(
                consumer,
                self.bus,
                self.process_one,
                name="dispatcher",
                max_in_flight=self.settings.max_calls_in_flight,
                max_batch=self.settings.max_batch,
                drain_timeout_s=self.settings.drain_timeout_s,
                on_batch=self.metrics.consumed,
                commit_interval_s=self.settings.commit_interval_ms / 1000,
            )
            async with asyncio.TaskGroup() as group:
                group.create_task(self._unpark_loop())
                group.create_task(self.waiting.run(self._stopping))
                await loop.run(self._stopping)
        finally:
            await self._drain_handed_over()
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None
            self._loop = None
            await self.bus.stop()

    def stop(self) -> None:
        self._stopping.set()
        self.limiter.parked_now.set()  # wakes the unpark loop
        self.limiter.waiting_now.set()  # and the priority queues' drain

    async def _on_revoked(self) -> None:
        self.from_memory.clear()
        if self._loop is not None:
            await self._loop.on_revoked()

    # -- one batch ------------------------------------------------------------------------
    async def process(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        """Route every record of a batch, then wait until all its sends are acknowledged."""
        routed: list[tuple[ConsumerRecord[Any, Any], StepCommand, str]] = []
        for record in records:
            command = await self._command(record)
            if command is None:
                continue
            routed.append((record, command, await self._route_of(command)))
        await self._ensure_function_topics(
            c.function for _, c, route in routed if route == "forwarded"
        )
        await asyncio.gather(*(self._handle(r, c, route) for r, c, route in routed))
        await self.bus.flush()

    async def _command(self, record: ConsumerRecord[Any, Any]) -> StepCommand | None:
        """The record's command; None (counted) once one that does not decode is in the DLQ."""
        limit = self.settings.max_message_bytes
        command = await self.bus.decode_or_dead_letter(record, StepCommand, limit)
        if command is None:
            self.counts["dead_lettered"] += 1
        return command

    async def process_one(self, record: ConsumerRecord[Any, Any]) -> None:
        """Route and run one record (the consumer loop retries it if this raises); the Kafka
        copy of a command already run from memory (`hand_over`) only waits for that run."""
        ran = self.from_memory.take(record.value) if record.offset >= 0 else None
        if ran is not None and await asyncio.shield(ran):
            return
        fresh = self._loop is not None and self._loop.fresh(record)
        await self._route_and_handle(record, fresh)

    async def _route_and_handle(self, record: ConsumerRecord[Any, Any], fresh: bool) -> None:
        command = await self._command(record)
        if command is None:
            return
        route = await self._route_of(command)
        if route == "forwarded":
            await self._ensure_function_topics([command.function])
        await self._handle(record, command, route, fresh=fresh)

    # -- in-memory handoff (`workflows.services.infra.handoff`) ---------------------------
    def take_commands_from(self, bus: Bus) -> None:
        """An orchestrator in this process publishes on `bus`: its step commands come here in
        memory too (`hand_over`), without the broker's round trip."""
        bus.local_delivery[self.topics.step_commands] = self.hand_over

    def hand_over(
        self, value: bytes, key: str | None, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        """A step command the co-located orchestrator just published: run now when this
        dispatcher owns its partition and has room (`max_calls_in_flight`); its Kafka copy
        then waits for that run and is dropped, or runs if that run raised. Anything else
        waits for the Kafka copy."""
        loop = self._loop
        if loop is None or key is None or self._stopping.is_set():
            return
        if len(self._local_tasks) >= self.settings.max_calls_in_flight:
            return
        topic = self.topics.step_commands
        partition = owned_partition(loop.consumer, topic, key)
        if partition is None:
            return
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.from_memory.put(value, done)
        record = local_record(topic, partition, key, value, headers)
        task = asyncio.create_task(self._run_handed_over(record, done))
        self._local_tasks.add(task)
        task.add_done_callback(self._local_tasks.discard)

    async def _run_handed_over(
        self, record: ConsumerRecord[Any, Any], done: asyncio.Future[bool]
    ) -> None:
        ok = False
        try:  # first delivery: the orchestrator published it just now
            await self._route_and_handle(record, fresh=True)
            ok = True
            self.handed_over += 1
        except Exception as exc:  # the Kafka copy runs it instead
            log.warning("handed_over_command_failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            if not done.done():
                done.set_result(ok)

    async def _drain_handed_over(self) -> None:
        tasks = set(self._local_tasks)
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.settings.drain_timeout_s)
            for task in late:  # their Kafka copies run on the partition's next owner
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _unpark_loop(self) -> None:
        """Publish parked commands whose wait is over back to the step-command topic.

        One look (`Limiter.next_parked`) per wake-up: when the earliest parked command is
        due, when this process parks one, and with nothing parked after a wait that doubles
        from `park_min_ms` up to `park_max_ms` (commands parked by other processes, e.g. a
        worker, are found within that)."""
        failures = 0
        min_s = self.settings.park_min_ms / 1000
        max_s = max(self.settings.park_max_ms / 1000, min_s)
        idle_s = min_s
        wake = self.limiter.parked_now
        while not self._stopping.is_set():
            wake.clear()
            try:
                status = await self.limiter.next_parked()
                self.metrics.engine.parked_commands.set(status.count)
                if status.due_in_ms is None:  # nothing parked: look less often
                    wait_s, idle_s = idle_s, min(idle_s * 2, max_s)
                elif status.due_in_ms > 0:  # the earliest is due later
                    wait_s, idle_s = min(status.due_in_ms / 1000, max_s), min_s
                else:
                    due = await self._unpark_due()
                    wait_s, idle_s = (0.0 if due else min_s), min_s
                failures = 0
            except Exception as exc:  # Redis or the broker away for a moment: try again
                failures += 1
                log.warning("unpark_failed", failures=failures, error=str(exc))
                wait_s = backoff_s(failures)
            if wait_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), wait_s)

    async def _unpark_due(self) -> int:
        """Publish the due parked commands: claimed first, dropped once acknowledged (unless
        parked again meanwhile by whoever got it back: `Limiter.drop_claimed`)."""
        until, due = await self.limiter.claim_parked(self.settings.timer_lease_ms)
        for raw in due:
            key = decode(StepCommand, raw).execution_id
            await self.bus.publish(self.topics.step_commands, raw, key)
        await self.bus.flush()
        await self.limiter.drop_claimed(until, due)
        return len(due)

    async def _run_waiting(self, raw: bytes) -> None:
        """A command taken from its function's priority queue, its slot leased to us."""
        command = decode(StepCommand, raw)
        record = waiting_record(self.topics.step_commands, raw, command.execution_id)
        await self._handle(record, command, await self._route_of(command))
        await self.bus.flush()

    async def _route_of(self, command: StepCommand) -> str:
        if command.function in self.registry:
            return "in_process"
        if await self.http_functions.get(command.function) is not None:
            return "http"
        return "forwarded"

    async def _handle(
        self,
        record: ConsumerRecord[Any, Any],
        command: StepCommand,
        route: str,
        *,
        fresh: bool = False,
    ) -> None:
        """Route one command; `fresh`: not delivered before (`ConcurrentConsumer.fresh`)."""
        self.counts[route] += 1
        self._routed[route].inc()
        if route == "forwarded" and await self._is_map(command):
            why = (
                f"forEach runs in the dispatcher: '{command.function}' must be an "
                "in-process or HTTP function"
            )
            result = failed(command, "ForEachUnsupported", why, self.worker_id)
            await self._publish_result(result, _own_span(record, command, "ForEachUnsupported"))
            return
        if route == "forwarded" and (cached := cache_spec(command.input)) is not None:
            command = command.model_copy(update={"input": cached[2]})  # no cache for workers
            record = _with_value(record, encode(command))
        if route == "forwarded":  # rate limits here, concurrency in the worker
            decision = await self.limiter.check(command)
            if not decision.acquired:
                await self.limiter.park(_bytes(record), command, decision)
                return
            topic = self.topics.function(command.function)
            data = await self.payloads.forwardable(command, _bytes(record), self.worker_id)
            if isinstance(data, StepResult):  # too large to send inline: the step fails
                await self._publish_result(data, _own_span(record, command, "PayloadTooLarge"))
                return
            trace = tracing.record_headers(record.headers)  # the worker's span joins it
            await self.bus.publish(topic, data, command.execution_id, trace)
            log.debug(
                "step_forwarded",
                execution_id=command.execution_id,
                step_id=command.step_id,
                topic=topic,
            )
            return
        breaker = await self._breaker_of(command.function)
        if breaker is not None:  # an open circuit fails the call at once (the fallback runs)
            admission = await self.breakers.admit(command.function, breaker, _now_ms())
            if not admission.allowed:
                why = (
                    f"the circuit of '{command.function}' is {admission.state.replace('_', ' ')} "
                    f"after repeated failures; next trial in {admission.retry_after_ms} ms"
                )
                result = failed(command, "CircuitOpen", why, self.worker_id)
                await self._publish_result(result, _own_span(record, command, "CircuitOpen"))
                return
        async with self.limiter.slot(command, queue=_bytes(record)) as decision:
            if not decision.acquired:  # never wait for a slot inside the consumer: it waits
                if not decision.queued:  # in its function's priority queue, or is parked
                    await self.limiter.park(_bytes(record), command, decision)
                return
            resolved = await self.payloads.resolve_command(command, self.worker_id)
            span = _attempt_span(record, command) if tracing.enabled() else None
            async with self._slots:
                if isinstance(resolved, StepResult):  # a referenced input is gone
                    result = resolved
                elif (cached := cache_spec(resolved.input)) is not None:
                    result = await self._through_cache(resolved, cached, route, fresh)
                elif route == "in_process":
                    result = await self.results.run_once(
                        resolved, lambda: self._run(resolved), fresh=fresh
                    )
                elif (spec := for_each_spec(resolved.input)) is not None:
                    mapped = await run_map(resolved, spec, self._call_http, self.worker_id)
                    result = await self.payloads.claim_result(mapped)
                else:
                    result = await self.payloads.claim_result(await self._call_http(resolved))
        hit = (result.call or {}).get("cache") == "hit"
        if breaker is not None and not isinstance(resolved, StepResult) and not hit:
            await self.breakers.record(command.function, breaker, result.ok, _now_ms())
        await self._publish_result(result, span)

    async def _run(self, command: StepCommand) -> StepResult:
        """Run in this process; a large output is stored and referenced (claim check)."""
        spec = for_each_spec(command.input)
        if spec is not None:  # a forEach step: every item here, one result
            result = await run_map(command, spec, self._run_item, self.worker_id)
        else:
            result = await run_function(self.registry, command, worker_id=self.worker_id)
        return await self.payloads.claim_result(result)

    async def _run_item(self, command: StepCommand) -> StepResult:
        return await run_function(self.registry, command, worker_id=self.worker_id)

    async def _through_cache(
        self, command: StepCommand, cached: tuple[str, int, Any], route: str, fresh: bool
    ) -> StepResult:
        """steps[].cache: a stored output of the same function and key, else the call (and
        its successful output stored for the ttl)."""
        key, ttl_ms, plain = cached
        digest = hashlib.sha256(key.encode()).hexdigest()
        redis_key = Keys(self.settings.key_prefix).step_cache(command.function, digest)
        counter = self.metrics.engine.step_cache
        raw = await self.store.redis.get(redis_key)
        if raw is not None:
            counter.labels(command.function, "hit").inc()
            now = datetime.now(UTC)
            return StepResult(
                execution_id=command.execution_id,
                command_id=command.command_id,
                step_id=command.step_id,
                attempt=command.attempt,
                ok=True,
                output=json.loads(raw),
                worker_id=self.worker_id,
                started_at=now,
                finished_at=now,
                call={"cache": "hit", "key": key},
            )
        counter.labels(command.function, "miss").inc()
        plain_command = command.model_copy(update={"input": plain})
        if route == "in_process":
            result = await self.results.run_once(
                plain_command, lambda: self._run(plain_command), fresh=fresh
            )
        else:
            result = await self.payloads.claim_result(await self._call_http(plain_command))
        if result.ok and not is_ref(result.output):
            await self.store.redis.set(redis_key, json.dumps(result.output), px=ttl_ms)
        return result.model_copy(
            update={"call": {**(result.call or {}), "cache": "miss", "key": key}}
        )

    async def _breaker_of(self, function: str) -> CircuitBreaker | None:
        limit = await self.limiter.functions.get(function)
        return limit.circuit_breaker if limit is not None else None

    async def _is_map(self, command: StepCommand) -> bool:
        """Whether the command is a forEach step's (its input may be a claim reference)."""
        if for_each_spec(command.input) is not None:
            return True
        if not is_ref(command.input):
            return False
        resolved = await self.payloads.resolve_command(command, self.worker_id)
        return isinstance(resolved, StepCommand) and for_each_spec(resolved.input) is not None

    async def _call_http(self, command: StepCommand) -> StepResult:
        spec = await self.http_functions.get(command.function) or {}
        client = self._client
        if client is None:  # process() used without run(): a client for this call only
            async with httpx.AsyncClient() as own:
                return await call_http_function(
                    own, spec, command, self.settings, worker_id=self.worker_id
                )
        return await call_http_function(
            client, spec, command, self.settings, worker_id=self.worker_id
        )

    async def _publish_result(self, result: StepResult, span: Any = None) -> None:
        trace = None
        if span is not None:  # the attempt's span ends with its result
            error = result.error.message if result.error is not None else None
            trace = tracing.end_attempt(span, result.ok, error)
        data = encode(result)
        await self.bus.publish(self.topics.step_results, data, result.execution_id, trace)

    async def _ensure_function_topics(self, names: Iterable[str]) -> None:
        topics = {self.topics.function(name) for name in names} - self._function_topics
        if topics:
            await ensure_topics(self.settings, topics)
            self._function_topics |= topics


def _attempt_span(record: ConsumerRecord[Any, Any], command: StepCommand) -> Any:
    carrier = tracing.record_headers(record.headers)
    return tracing.attempt_span(
        carrier, command.execution_id, command.step_id, command.attempt, command.function
    )


def _own_span(record: ConsumerRecord[Any, Any], command: StepCommand, why: str) -> Any:
    """With tracing on, the span of an attempt the dispatcher answers itself (no call made:
    an open circuit, ...), `why` its `dispatcher.result` attribute; None with tracing off."""
    if not tracing.enabled():
        return None
    span = _attempt_span(record, command)
    span.set_attribute("dispatcher.result", why)
    return span


def _with_value(record: ConsumerRecord[Any, Any], value: bytes) -> ConsumerRecord[Any, Any]:
    return dataclasses.replace(record, value=value)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _bytes(record: ConsumerRecord[Any, Any]) -> bytes:
    return record.value if isinstance(record.value, bytes) else b""
