"""A Python worker: runs registered functions for commands on their `wf.fn.<name>` topics.

Each command runs at most once per idempotency key (results cache in Redis); a duplicate
delivery gets the stored result published again. Offsets are committed after the batch's
results are acknowledged by the broker.
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
from redis.asyncio import Redis

from contracts import ContractError, StepCommand, decode, encode
from services.infra.kafka import Bus, ensure_topics, make_consumer
from services.infra.metrics import EngineMetrics
from services.infra.results_cache import ResultsCache
from services.infra.settings import Settings
from workflows.functions import FunctionRegistry, default_registry, run_function

__all__ = ["Worker"]

log = structlog.get_logger(__name__)
GROUP = "wf-worker"  # prefixed with settings.topic_prefix, like the topics


class Worker:
    def __init__(
        self,
        settings: Settings,
        registry: FunctionRegistry | None = None,
        redis: Redis | None = None,
        *,
        concurrency: int = 64,
        worker_id: str | None = None,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else default_registry
        self._own_redis = redis is None
        self.redis = redis if redis is not None else Redis.from_url(settings.redis_url)
        self.results = ResultsCache(self.redis, settings.key_prefix)
        self.bus = Bus(settings, "worker")
        self.topics = self.bus.topics
        self.worker_id = worker_id or f"worker-{socket.gethostname()}-{os.getpid()}"
        self._slots = asyncio.Semaphore(concurrency)
        self._stopping = asyncio.Event()
        self.handled = 0
        self.metrics = EngineMetrics.of(metrics_registry).service("worker", self.bus)

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
        consumer = make_consumer(self.settings, topics, f"{self.settings.topic_prefix}{GROUP}")
        try:
            await consumer.start()
            log.info("worker_started", worker_id=self.worker_id, functions=self.registry.names())
            while not self._stopping.is_set():
                batch = await consumer.getmany(timeout_ms=100, max_records=self.settings.max_batch)
                await self.metrics.consumed(consumer, batch)
                records = [r for rs in batch.values() for r in rs]
                if records:
                    await self.process(records)
                    await consumer.commit()
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            await self.bus.stop()

    async def process(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        """Run every command of a batch concurrently, then wait for the results to be acked."""
        commands: list[StepCommand] = []
        for record in records:
            data = record.value if isinstance(record.value, bytes) else b""
            try:
                commands.append(
                    decode(StepCommand, data, max_bytes=self.settings.max_message_bytes)
                )
            except ContractError as exc:
                await self.bus.dead_letter(record, exc.reason, exc.code)
        await asyncio.gather(*(self._run(command) for command in commands))
        await self.bus.flush()

    async def _run(self, command: StepCommand) -> None:
        async with self._slots:
            result = await self.results.run_once(
                command, lambda: run_function(self.registry, command, worker_id=self.worker_id)
            )
        self.handled += 1
        await self.bus.publish(self.topics.step_results, encode(result), result.execution_id)
