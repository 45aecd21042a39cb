"""The step dispatcher: route each step command to where its function runs.

1. in-process: the function is in the dispatcher's registry -> run it here;
2. HTTP: the function is declared in Redis with a URL -> POST the input to it;
3. otherwise: forward the command unchanged to `wf.fn.<function>` for external workers.

Offsets are committed only after every result and forward of the batch is acknowledged
by the broker; a crash before that redelivers the batch (duplicate in-process runs are
absorbed by the idempotency results cache).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Iterable
from typing import Any

import httpx
import structlog
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from contracts import ContractError, StepCommand, StepResult, decode, encode
from services.dispatcher.http_functions import HttpFunctions, call_http_function
from services.infra.kafka import Bus, ensure_topics, make_consumer
from services.infra.keys import Keys
from services.infra.metrics import EngineMetrics
from services.infra.results_cache import ResultsCache
from services.infra.settings import Settings
from services.infra.store import StateStore
from workflows.functions import FunctionRegistry, run_function

__all__ = ["Dispatcher"]

log = structlog.get_logger(__name__)
GROUP = "wf-dispatcher"  # prefixed with settings.topic_prefix, like the topics


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        registry: FunctionRegistry | None = None,
        *,
        concurrency: int = 64,
        http_refresh_s: float = 5.0,
        worker_id: str | None = None,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry or FunctionRegistry()
        self.store = StateStore(redis, Keys(settings.key_prefix))
        self.results = ResultsCache(redis, settings.key_prefix)
        self.http_functions = HttpFunctions(self.store, http_refresh_s)
        self.bus = Bus(settings, "dispatcher")
        self.topics = self.bus.topics
        self.worker_id = worker_id or f"dispatcher-{socket.gethostname()}-{os.getpid()}"
        self._slots = asyncio.Semaphore(concurrency)
        self._function_topics: set[str] = set()
        self._stopping = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self.counts = {"in_process": 0, "http": 0, "forwarded": 0, "dead_lettered": 0}
        self.metrics = EngineMetrics.of(metrics_registry).service("dispatcher", self.bus)

    async def run(self) -> None:
        """Consume step commands until `stop()`."""
        await ensure_topics(self.settings, self.topics.fixed().values())
        await self.bus.start()
        consumer = make_consumer(
            self.settings, [self.topics.step_commands], f"{self.settings.topic_prefix}{GROUP}"
        )
        self._client = httpx.AsyncClient()
        try:
            await consumer.start()
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
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None
            await self.bus.stop()

    def stop(self) -> None:
        self._stopping.set()

    # -- one batch ------------------------------------------------------------------------
    async def process(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        """Route every record of a batch, then wait until all its sends are acknowledged."""
        routed: list[tuple[ConsumerRecord[Any, Any], StepCommand, str]] = []
        for record in records:
            try:
                command = decode(
                    StepCommand, _bytes(record), max_bytes=self.settings.max_message_bytes
                )
            except ContractError as exc:
                self.counts["dead_lettered"] += 1
                await self.bus.dead_letter(record, exc.reason, exc.code)
                continue
            routed.append((record, command, await self._route_of(command)))
        await self._ensure_function_topics(
            c.function for _, c, route in routed if route == "forwarded"
        )
        await asyncio.gather(*(self._handle(r, c, route) for r, c, route in routed))
        await self.bus.flush()

    async def _route_of(self, command: StepCommand) -> str:
        if command.function in self.registry:
            return "in_process"
        if await self.http_functions.get(command.function) is not None:
            return "http"
        return "forwarded"

    async def _handle(
        self, record: ConsumerRecord[Any, Any], command: StepCommand, route: str
    ) -> None:
        self.counts[route] += 1
        self.metrics.engine.commands_routed.labels(route).inc()
        if route == "forwarded":
            topic = self.topics.function(command.function)
            await self.bus.publish(topic, _bytes(record), command.execution_id)
            log.debug(
                "step_forwarded",
                execution_id=command.execution_id,
                step_id=command.step_id,
                topic=topic,
            )
            return
        async with self._slots:
            if route == "in_process":
                result = await self.results.run_once(
                    command, lambda: run_function(self.registry, command, worker_id=self.worker_id)
                )
            else:
                result = await self._call_http(command)
        await self._publish_result(result)

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

    async def _publish_result(self, result: StepResult) -> None:
        await self.bus.publish(self.topics.step_results, encode(result), result.execution_id)

    async def _ensure_function_topics(self, names: Iterable[str]) -> None:
        topics = {self.topics.function(name) for name in names} - self._function_topics
        if topics:
            await ensure_topics(self.settings, topics)
            self._function_topics |= topics


def _bytes(record: ConsumerRecord[Any, Any]) -> bytes:
    return record.value if isinstance(record.value, bytes) else b""
