"""Run one or more services in this process until SIGINT/SIGTERM, then stop them gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from prometheus_client import CollectorRegistry

from workflows.services.infra import tracing
from workflows.services.infra.health import HealthProbe
from workflows.services.infra.kafka import wait_for_broker
from workflows.services.infra.logs import configure_logging
from workflows.services.infra.metrics_server import MetricsServer
from workflows.services.infra.redis_client import (
    RedisClient,
    connect_redis,
    safe_url,
    wait_for_redis,
)
from workflows.services.infra.settings import Settings

__all__ = [
    "CONNECT_TIMEOUT_S",
    "SERVICES",
    "build_services",
    "import_functions",
    "run_services",
]

SERVICES = ("trigger", "orchestrator", "dispatcher", "notifier", "worker")
# How long services wait at start for Redis and the broker (retrying with backoff) before
# they give up with one line naming what is down.
CONNECT_TIMEOUT_S = 60.0
log = structlog.get_logger(__name__)


class Service(Protocol):
    async def run(self) -> None: ...

    def stop(self) -> None: ...


def import_functions(modules: Iterable[str]) -> Any:
    """Import modules whose `@function` decorators fill the default registry; return it."""
    from workflows.functions import default_registry

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # `--functions examples.x` from the project folder
    for module in modules:
        importlib.import_module(module)
    return default_registry


@dataclass(frozen=True, slots=True)
class _Wiring:
    """What a service's constructor takes beyond `settings`, by keyword: `redis`, the
    function `registry`; every service takes `metrics_registry` (the rest is in Settings)."""

    load: Callable[[], Any]  # the service class (imported only when it is asked for)
    redis: bool = True
    functions: bool = False


def _orchestrator() -> Any:
    from workflows.services.orchestrator import Orchestrator

    return Orchestrator


def _dispatcher() -> Any:
    from workflows.services.dispatcher import Dispatcher

    return Dispatcher


def _worker() -> Any:
    from workflows.services.worker import Worker

    return Worker


def _notifier() -> Any:
    from workflows.services.notifier import Notifier

    return Notifier


def _trigger() -> Any:
    from workflows.services.trigger import TriggerService

    return TriggerService


WIRING: dict[str, _Wiring] = {
    "orchestrator": _Wiring(_orchestrator),
    "dispatcher": _Wiring(_dispatcher, functions=True),
    "worker": _Wiring(_worker, functions=True),
    "notifier": _Wiring(_notifier),
    "trigger": _Wiring(_trigger, redis=False),
}


def build_services(
    names: Iterable[str],
    settings: Settings,
    redis: RedisClient,
    metrics_registry: CollectorRegistry | None = None,
) -> list[Service]:
    """The named services; all count into `metrics_registry` (one per process)."""
    registry = import_functions(settings.functions_module)
    built: list[Service] = []
    for name in names:
        wiring = WIRING.get(name)
        if wiring is None:
            raise ValueError(f"unknown service {name!r}; choose from {', '.join(SERVICES)}")
        extra: dict[str, Any] = {"metrics_registry": metrics_registry}
        if wiring.redis:
            extra["redis"] = redis
        if wiring.functions:
            extra["registry"] = registry
        built.append(wiring.load()(settings, **extra))
    _hand_results_over(built)
    return built


def _hand_results_over(built: list[Service]) -> None:
    """An orchestrator and a dispatcher in one process: commands and results go over in
    memory too (`workflows.services.infra.handoff`)."""
    from workflows.services.dispatcher import Dispatcher
    from workflows.services.orchestrator import Orchestrator

    orchestrators = [s for s in built if isinstance(s, Orchestrator)]
    dispatchers = [s for s in built if isinstance(s, Dispatcher)]
    if orchestrators and dispatchers and orchestrators[0].settings.local_handoff:
        for dispatcher in dispatchers:
            orchestrators[0].take_results_from(dispatcher.bus)
        dispatchers[0].take_commands_from(orchestrators[0].bus)


async def run_services(
    names: Iterable[str],
    settings: Settings,
    started: asyncio.Event | None = None,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
) -> None:
    """Run `names` until stopped. First wait for Redis and the broker (with backoff, logging
    each retry) for up to `connect_timeout_s`: RedisUnavailable / BrokerUnavailable after."""
    configure_logging(settings.log_level)
    names = list(names)
    tracing.configure("workflows-" + "+".join(names))  # on with OTEL_EXPORTER_OTLP_ENDPOINT
    # A bounded pool: one server's waits for a free connection instead of failing under bursts.
    redis = connect_redis(settings, pooled=True)
    try:
        await wait_for_redis(redis, settings.redis_url, connect_timeout_s)
        await wait_for_broker(settings.kafka_bootstrap, connect_timeout_s)
    except BaseException:
        await redis.aclose()
        raise
    log.info("connected", redis=safe_url(settings.redis_url), broker=settings.kafka_bootstrap)
    metrics_registry = CollectorRegistry()
    services = build_services(names, settings, redis, metrics_registry)
    loop = asyncio.get_running_loop()
    probe = HealthProbe.of(loop, redis, services)  # /readyz: Redis + the Kafka consumers
    metrics_server = MetricsServer.start(
        metrics_registry, settings.http_host, settings.metrics_port, probe.check_threadsafe
    )

    def stop_all() -> None:
        for service in services:
            service.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop_all)
    try:
        async with asyncio.TaskGroup() as group:
            for service in services:
                group.create_task(service.run())
            if started is not None:
                started.set()
    finally:
        if metrics_server is not None:
            metrics_server.close()
        await redis.aclose()
        tracing.shutdown()  # the spans still queued
