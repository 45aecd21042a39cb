"""Readiness of the services of one process, for the `/readyz` of its metrics server.

A process is ready when Redis answers a PING and every consuming service of the process
(orchestrator, dispatcher, notifier, worker) has started its Kafka consumer: its topics
exist, its producer is started, its consumer is started and has fetched once. Having
partitions assigned is reported (`partitions`) but not required: a replica beyond the
partition count has none and is still healthy, and requiring them would stall every
rollout that scales past the partition count. Liveness (`/healthz`) is the process
answering at all. The trigger serves its own `/healthz` and `/readyz` on its API port.

`readiness()` is the pure decision; `HealthProbe` gathers the facts on the event loop and
can be asked from the metrics server's thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workflows.services.infra.metrics import ServiceMetrics
from workflows.services.infra.redis_client import RedisClient

__all__ = ["HealthProbe", "Readiness", "readiness"]


@dataclass(frozen=True)
class Readiness:
    """What `/readyz` answers: 200 with every check true, else 503 naming the failing ones."""

    checks: Mapping[str, bool]
    partitions: Mapping[str, int] = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and all(self.checks.values())

    @property
    def status_code(self) -> int:
        return 200 if self.ok else 503

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "ready" if self.ok else "not ready",
            "checks": dict(self.checks),
            "partitions": dict(self.partitions),
        }
        if not self.ok:
            failing = [name for name, good in self.checks.items() if not good]
            body["error"] = self.error or f"not ready: {', '.join(failing)}"
        return body


def readiness(redis_ok: bool, consumers: Mapping[str, int | None]) -> Readiness:
    """Ready when Redis answered and every service's consumer started.

    `consumers` maps a service to its assigned partition count, None while its consumer
    has not started (fetched once) yet.
    """
    checks = {"redis": redis_ok} | {name: n is not None for name, n in consumers.items()}
    partitions = {name: n for name, n in consumers.items() if n is not None}
    return Readiness(checks, partitions)


class HealthProbe:
    """Checks Redis and the consumers of `services` on `loop`; callable from any thread."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        redis: RedisClient,
        services: Iterable[ServiceMetrics],
        timeout_s: float = 2.0,
    ) -> None:
        self._loop = loop
        self._redis = redis
        self._services = list(services)
        self._timeout_s = timeout_s

    @classmethod
    def of(
        cls, loop: asyncio.AbstractEventLoop, redis: RedisClient, services: Iterable[object]
    ) -> HealthProbe:
        """Probe the services that consume Kafka (those with `ServiceMetrics`)."""
        metrics = [getattr(service, "metrics", None) for service in services]
        return cls(loop, redis, [m for m in metrics if isinstance(m, ServiceMetrics)])

    async def check(self) -> Readiness:
        """Gather the facts; runs on the event loop (the consumers belong to it)."""
        try:
            redis_ok = bool(await asyncio.wait_for(self._redis.ping(), self._timeout_s))
        except Exception:  # any connection problem or a slow Redis means not ready
            redis_ok = False
        consumers: dict[str, int | None] = {}
        for service in self._services:
            consumer = service.consumer
            consumers[service.name] = None if consumer is None else len(consumer.assignment())
        return readiness(redis_ok, consumers)

    def check_threadsafe(self) -> Readiness:
        """`check()` from another thread (the metrics server's), bounded by the timeout."""
        check = self.check()
        try:
            future = asyncio.run_coroutine_threadsafe(check, self._loop)
        except RuntimeError as exc:  # the loop is closed: the process is stopping
            check.close()
            return Readiness({}, error=f"not ready: event loop closed ({exc})")
        wait_s = self._timeout_s + 1.0
        try:
            return future.result(wait_s)
        except TimeoutError:
            future.cancel()
            return Readiness({}, error=f"not ready: the event loop did not answer in {wait_s}s")
        except Exception as exc:  # a consumer torn down meanwhile, ...
            return Readiness({}, error=f"not ready: {type(exc).__name__}: {exc}")
