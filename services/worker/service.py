"""A Python worker: runs registered functions for commands on their `wf.fn.<name>` topics.

Each command runs at most once per idempotency key (results cache in Redis, one pipelined
SET NX per command); a duplicate delivery gets the stored result published again. Commands
run as their own tasks and offsets are committed in order, in the background, once their
results are acknowledged by the broker (`workflows.services.infra.inflight`). A function's
`concurrency` limit is held as a Redis lease while it runs; without a free slot the command
is parked for the dispatcher to send again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any

import structlog
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry

from workflows.contracts import StepCommand, StepResult, encode
from workflows.services.functions.registry import FunctionRegistry, default_registry, run_function
from workflows.services.infra import tracing
from workflows.services.infra.inflight import ConcurrentConsumer
from workflows.services.infra.kafka import Bus, ensure_topics, make_consumer
from workflows.services.infra.limiter import Limiter
from workflows.services.infra.metrics import EngineMetrics
from workflows.services.infra.payloads import Payloads
from workflows.services.infra.redis_client import RedisClient, connect_redis
from workflows.services.infra.results_cache import ResultsCache
from workflows.services.infra.settings import Settings

__all__ = ["Worker"]

log = structlog.get_logger(__name__)
GROUP = "wf-worker"  # prefixed with settings.topic_prefix, like the topics


class Worker:
    def __init__(
        self,
        settings: Settings,
        redis: RedisClient | None = None,
        *,
        registry: FunctionRegistry | None = None,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else default_registry
        self._own_redis = redis is None
        self.redis = redis if redis is not None else connect_redis(settings)
        self.results = ResultsCache(
            self.redis,
            settings.key_prefix,
            settings.results_ttl_s,
            wait_replicas=settings.redis_wait_replicas,
            wait_timeout_ms=settings.redis_wait_timeout_ms,
            failover_s=settings.redis_failover_s,
        )
        self.payloads = Payloads(self.redis, settings)  # claim check: large outputs
        self.bus = Bus(settings, "worker")
        self.topics = self.bus.topics
        self.worker_id = settings.worker_id or f"worker-{socket.gethostname()}-{os.getpid()}"
        self._slots = asyncio.Semaphore(settings.step_concurrency)
        self._stopping = asyncio.Event()
        self.handled = 0
        self.metrics = EngineMetrics.of(metrics_registry).service("worker", self.bus)
        self.limiter = Limiter(self.redis, settings, self.worker_id, metrics=self.metrics.engine)
        self._loop: ConcurrentConsumer | None = None

    async def run(self) -> None:
        """Consume the registered functions' topics until `stop()`."""
        names = self.registry.names()
        try:
            if not names:
                log.warning("worker_has_no_functions")
                await self._stopping.wait()
                return
            await self._consume([self.topics.function(name) for name in names])
        finally:
            if self._own_redis:
                with contextlib.suppress(Exception):
                    await self.redis.aclose()

    def stop(self) -> None:
        self._stopping.set()

    async def _consume(self, topics: list[str]) -> None:
        await ensure_topics(self.settings, [*topics, self.topics.step_results, self.topics.dlq])
        await self.bus.start()
        consumer = make_consumer(
            self.settings, topics, f"{self.settings.topic_prefix}{GROUP}", self._on_revoked
        )
        try:
            await consumer.start()
            log.info("worker_started", worker_id=self.worker_id, functions=self.registry.names())
            # each record its own task; failures retried; on stop() in-flight calls finish
            self._loop = ConcurrentConsumer(
                consumer,
                self.bus,
                self.process_one,
                name="worker",
                max_in_flight=self.settings.max_calls_in_flight,
                max_batch=self.settings.max_batch,
                drain_timeout_s=self.settings.drain_timeout_s,
                on_batch=self.metrics.consumed,
                commit_interval_s=self.settings.commit_interval_ms / 1000,
            )
            await self._loop.run(self._stopping)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            self._loop = None
            await self.bus.stop()

    async def _on_revoked(self) -> None:
        if self._loop is not None:
            await self._loop.on_revoked()

    async def process(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        """Run every command of a batch concurrently, then wait for the results to be acked."""
        limit = self.settings.max_message_bytes
        commands: list[StepCommand] = []
        for record in records:
            command = await self.bus.decode_or_dead_letter(record, StepCommand, limit)
            if command is not None:
                commands.append(command)
        await asyncio.gather(*(self._run(command) for command in commands))
        await self.bus.flush()

    async def process_one(self, record: ConsumerRecord[Any, Any]) -> None:
        """Run one command (the consumer loop retries it if this raises)."""
        limit = self.settings.max_message_bytes
        command = await self.bus.decode_or_dead_letter(record, StepCommand, limit)
        if command is not None:
            fresh = self._loop is not None and self._loop.fresh(record)
            await self._run(command, fresh=fresh, trace=tracing.record_headers(record.headers))

    async def _run(
        self, command: StepCommand, *, fresh: bool = False, trace: dict[str, str] | None = None
    ) -> None:
        """Run one command; `fresh`: not delivered before (`ConcurrentConsumer.fresh`);
        `trace`: the command's trace context (a span of the attempt when tracing is on)."""
        async with self.limiter.slot(command) as decision:
            if not decision.acquired:  # parked; the dispatcher sends it again later
                await self.limiter.park(encode(command), command, decision)
                return
            span = None
            if tracing.enabled() and trace:
                span = tracing.attempt_span(
                    trace, command.execution_id, command.step_id, command.attempt, command.function
                )
            async with self._slots:
                result = await self.results.run_once(
                    command, lambda: self._call(command), fresh=fresh
                )
        self.handled += 1
        if span is not None:
            error = result.error.message if result.error is not None else None
            trace = tracing.end_attempt(span, result.ok, error)
        data = encode(result)
        await self.bus.publish(self.topics.step_results, data, result.execution_id, trace)

    async def _call(self, command: StepCommand) -> StepResult:
        """Run the function (inputs with references resolved); store a large output."""
        resolved = await self.payloads.resolve_command(command, self.worker_id)
        if isinstance(resolved, StepResult):  # a referenced input is gone
            return resolved
        result = await run_function(self.registry, resolved, worker_id=self.worker_id)
        return await self.payloads.claim_result(result)
