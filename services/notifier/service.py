"""The notifier: tells people and systems when executions start, finish, fail.

Consumes lifecycle events; for execution.started/completed/failed/cancelled/timed_out it
logs a structured line and POSTs a signed webhook to `settings.webhook_urls` plus the
execution's own `notifications` recipients. Deliveries run in the background (bounded),
so a slow receiver never holds up the stream; a failed delivery is logged and counted.
Each event is notified once (`{p}:notified:<message id>` in Redis, 24 h).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import structlog
from aiokafka.structs import ConsumerRecord
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

from workflows.contracts import LifecycleEvent
from workflows.services.infra import tracing
from workflows.services.infra.batch_loop import BatchLoop
from workflows.services.infra.kafka import Bus, ensure_topics, make_consumer
from workflows.services.infra.keys import IDEMPOTENCY_TTL_S, Keys
from workflows.services.infra.metrics import EngineMetrics
from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import StateStore
from workflows.services.notifier.channels import (
    NOTIFIED_EVENTS,
    WebhookChannel,
    recipients,
    webhook_payload,
)
from workflows.services.notifier.email import EmailChannel, merge_notifications

__all__ = ["Notifier"]

log = structlog.get_logger(__name__)
GROUP = "wf-notifier"  # prefixed with settings.topic_prefix, like the topics


class Notifier:
    def __init__(
        self,
        settings: Settings,
        redis: RedisClient,
        *,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.store = StateStore(redis, Keys(settings.key_prefix))
        self.bus = Bus(settings, "notifier")
        self.topics = self.bus.topics
        self.webhook_secret = settings.webhook_secret
        self._attempts = settings.notify_attempts
        self._backoff_s = settings.notify_backoff_s
        self._timeout_s = settings.notify_timeout_s
        self._slots = asyncio.Semaphore(settings.notify_concurrency)
        self._max_pending = settings.notify_max_pending
        self._drain_s = settings.notify_drain_s
        self._pending: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._webhooks: WebhookChannel | None = None
        self._email = (
            EmailChannel(
                settings,
                redis,
                attempts=self._attempts,
                backoff_s=self._backoff_s,
                timeout_s=self._timeout_s,
            )
            if settings.smtp_host
            else None
        )
        self.delivered = 0
        self.failed = 0
        self.metrics = EngineMetrics.of(metrics_registry).service("notifier", self.bus)

    async def run(self) -> None:
        """Consume lifecycle events until `stop()`, then let running deliveries finish briefly."""
        await ensure_topics(self.settings, [self.topics.events, self.topics.dlq])
        await self.bus.start()
        consumer = make_consumer(
            self.settings, [self.topics.events], f"{self.settings.topic_prefix}{GROUP}"
        )
        client = httpx.AsyncClient()
        self._webhooks = WebhookChannel(
            client,
            self.webhook_secret,
            attempts=self._attempts,
            backoff_s=self._backoff_s,
            timeout_s=self._timeout_s,
        )
        if not self.webhook_secret:
            log.warning("webhook_secret_not_set", hint="webhooks are sent unsigned")
        try:
            await consumer.start()
            loop = BatchLoop(  # Redis or the broker away: rewind, back off, keep running
                consumer,
                self.process,
                name="notifier",
                max_batch=self.settings.max_batch,
                commit_interval_ms=self.settings.commit_interval_ms,
                on_consumed=self.metrics.consumed,
            )
            await loop.run(self._stopping)
        finally:
            await self._drain()
            with contextlib.suppress(Exception):
                await consumer.stop()
            await client.aclose()
            await self.bus.stop()

    def stop(self) -> None:
        self._stopping.set()

    async def process(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        """Decode the batch (bad -> DLQ) and start the notifications it calls for."""
        limit = self.settings.max_message_bytes
        for record in records:
            event = await self.bus.decode_or_dead_letter(record, LifecycleEvent, limit)
            if event is not None and event.type in NOTIFIED_EVENTS:
                await self._notify(event)
        await self.bus.flush()

    async def _notify(self, event: LifecycleEvent) -> None:
        key = Keys(self.settings.key_prefix).notified(event.message_id)
        notifications, units, trace = await self._notifications(event.execution_id)
        if not await self.redis.set(key, "1", nx=True, ex=IDEMPOTENCY_TTL_S):
            return  # a redelivered event: already notified
        log.info(
            "execution_event",
            event_type=event.type,
            execution_id=event.execution_id,
            workflow=event.workflow,
            status=event.status,
            duration_ms=event.data.get("durationMs"),
            error=event.data.get("error"),
        )
        self.metrics.engine.notifications.labels("log", "delivered").inc()
        urls, emails = recipients(event.type, notifications, self.settings.webhook_urls)
        for address in emails if self._email is not None else []:
            await self._spawn(self._send_email(event, address, units, trace))
        if emails and self._email is None:
            log.info(
                "email channel not configured", execution_id=event.execution_id, recipients=emails
            )
        payload = webhook_payload(event, self.settings.dashboard_url, units)
        for url in urls:
            while len(self._pending) >= self._max_pending:
                await asyncio.wait(self._pending, return_when=asyncio.FIRST_COMPLETED)
            task = asyncio.create_task(self._deliver(url, payload, trace))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _spawn(self, delivery: Coroutine[Any, Any, None]) -> None:
        while len(self._pending) >= self._max_pending:
            await asyncio.wait(self._pending, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(delivery)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send_email(
        self,
        event: LifecycleEvent,
        address: str,
        units: dict[str, str | None],
        trace: dict[str, str] | None = None,
    ) -> None:
        assert self._email is not None
        with send_span("email", trace, event.execution_id) as span:
            try:
                async with self._slots:
                    ok = await self._email.deliver(event, address, units)
            except Exception:
                log.exception("email_crashed", execution_id=event.execution_id)
                ok = False
            if span is not None and not ok:
                tracing.mark_failed(span, "e-mail not delivered")
        if ok:
            self.delivered += 1
        else:
            self.failed += 1

    async def _defined(self, state: dict[str, Any]) -> dict[str, Any]:
        """The definition version the execution runs (empty when unknown)."""
        name, version = state.get("workflow"), state.get("workflowVersion")
        if not isinstance(name, str) or not isinstance(version, int):
            return {}
        found = await self.store.get_definition(name, version)
        definition = json.loads(found[1]) if found else {}
        return definition if isinstance(definition, dict) else {}

    async def _notifications(
        self, execution_id: str
    ) -> tuple[dict[str, list[str]] | None, dict[str, str | None], dict[str, str] | None]:
        """The execution's recipients (its own and its definition's), its KPIs' units and its
        trace context (the sends' spans join the execution's trace)."""
        try:
            doc = await self.store.get_state(execution_id)
            state = json.loads(doc) if doc else {}
        except Exception:  # no recipients of its own beats no notification at all
            log.exception("execution_state_unreadable", execution_id=execution_id)
            return None, {}, None
        if not isinstance(state, dict):
            return None, {}, None
        trace = state.get("traceContext")
        try:
            defined = await self._defined(state)
        except Exception:  # the execution's own recipients still get told
            log.exception("definition_unreadable", execution_id=execution_id)
            defined = {}
        units = {
            str(m["name"]): m.get("unit")
            for m in defined.get("metrics") or []
            if isinstance(m, dict) and "name" in m
        }
        merged = merge_notifications(defined.get("notifications"), state.get("notifications"))
        return merged, units, trace if isinstance(trace, dict) else None

    async def _deliver(
        self, url: str, payload: dict[str, Any], trace: dict[str, str] | None = None
    ) -> None:
        assert self._webhooks is not None
        with send_span("webhook", trace, str(payload.get("executionId"))) as span:
            try:
                async with self._slots:
                    ok = await self._webhooks.deliver(url, payload)
            except Exception:
                log.exception("webhook_crashed", url=url, execution_id=payload.get("executionId"))
                ok = False
            if span is not None and not ok:
                tracing.mark_failed(span, "webhook not delivered")
        self.metrics.engine.notifications.labels("webhook", "delivered" if ok else "failed").inc()
        if ok:
            self.delivered += 1
        else:
            self.failed += 1

    async def _drain(self) -> None:
        if not self._pending:
            return
        _, late = await asyncio.wait(set(self._pending), timeout=self._drain_s)
        for task in late:
            task.cancel()
        if late:
            log.warning("webhooks_abandoned", count=len(late))
            await asyncio.gather(*late, return_exceptions=True)


@contextmanager
def send_span(channel: str, trace: dict[str, str] | None, execution_id: str) -> Iterator[Any]:
    """With tracing on, the span `notify <channel>` of one send (all its tries), in the
    execution's trace `trace`; None with tracing off or an execution without a trace."""
    if not tracing.enabled() or not trace:
        yield None
        return
    attributes = {"execution.id": execution_id, "notify.channel": channel}
    with tracing.span(f"notify {channel}", trace, attributes, SpanKind.CLIENT) as span:
        yield span
