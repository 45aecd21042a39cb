"""The FastAPI app: lifespan (Redis, Kafka producer, topics), error bodies, request metrics."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException

from contracts.topics import Topics
from services.infra.definitions import DefinitionCache
from services.infra.kafka import Bus, ensure_topics
from services.infra.keys import Keys
from services.infra.redis_client import RedisClient, connect_redis
from services.infra.settings import Settings
from services.infra.store import StateStore
from services.trigger.outage import PROBE_TTL_MS, RETRY_AFTER_S, RedisHealth, storage_refusal

__all__ = ["ACCEPTED_TTL_S", "ApiProblem", "Context", "context", "create_app", "max_body_bytes"]

ACCEPTED_TTL_S = 3600
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


class ApiProblem(Exception):
    """An error answered as `{"error": message, **extra}` with `status` (and `headers`)."""

    def __init__(
        self, status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers
        self.body: dict[str, Any] = {"error": message, **extra}


def unavailable(what: str, exc: BaseException) -> ApiProblem:
    """The 503 (with Retry-After and the reason) for a request whose `what` (e.g. "publish
    the signal") failed on the broker or on Redis refusing writes, never a bare 500."""
    refusal = storage_refusal(exc)
    if refusal is not None:
        return ApiProblem(
            503,
            f"could not {what}: {refusal.message()}",
            reason=refusal.code,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    return ApiProblem(
        503,
        f"could not {what}: {type(exc).__name__}: {str(exc)[:300]}",
        reason="broker",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


@dataclass
class Context:
    """What the routes share: settings, store, producer and the metrics registry."""

    settings: Settings
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    redis_health: RedisHealth
    clock_skew: Gauge
    redis: RedisClient | None = None
    store: StateStore | None = None
    bus: Bus | None = None
    definitions: DefinitionCache | None = None
    producer_started: bool = False
    topics: Topics = field(init=False)

    def __post_init__(self) -> None:
        self.topics = Topics.with_prefix(self.settings.topic_prefix)

    def accepted_key(self, execution_id: str) -> str:
        """Marks an execution published but maybe not yet picked up by the orchestrator."""
        return self.keys.accepted(execution_id)

    @property
    def keys(self) -> Keys:
        return Keys(self.settings.key_prefix)

    def ready(self) -> tuple[StateStore, Bus, DefinitionCache]:
        if self.store is None or self.bus is None or self.definitions is None:
            raise ApiProblem(
                503,
                "the service is starting up or shutting down",
                headers={"Retry-After": "1"},
            )
        return self.store, self.bus, self.definitions


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


class MetricsMiddleware:
    """Counts requests by route template (bounded labels) and status."""

    def __init__(self, app: ASGIApp, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.ctx.requests.labels(route=template, status=str(status["code"])).inc()
            self.ctx.latency.labels(route=template).observe(time.perf_counter() - started)


ops_router = APIRouter(tags=["operations"])


@ops_router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@ops_router.get(
    "/readyz", summary="Redis answers and accepts writes, and the Kafka producer is started"
)
async def readyz(request: Request) -> JSONResponse:
    ctx = context(request)
    checks = {"producer": ctx.producer_started, "redis": False, "redisWrites": False}
    reason = None
    if ctx.redis is not None:
        try:
            checks["redis"] = bool(await ctx.redis.ping())
            # a write probe: OOM (maxmemory, noeviction) and MISCONF refuse it, PING does not
            await ctx.redis.set(ctx.keys.readiness_probe, "1", px=PROBE_TTL_MS)
            checks["redisWrites"] = True
            ctx.redis_health.accepted()
        except Exception as exc:  # any Redis problem means not ready; say which
            refusal = storage_refusal(exc)
            if refusal is not None:
                ctx.redis_health.refused(refusal)
                reason = refusal.detail
    ok = all(checks.values())
    body: dict[str, Any] = {"status": "ready" if ok else "not ready", "checks": checks}
    if not ok:
        failing = ", ".join(name for name, good in checks.items() if not good)
        body["error"] = f"not ready: {failing}" + (f" ({reason})" if reason else "")
    headers = None if ok else {"Retry-After": str(RETRY_AFTER_S)}
    return JSONResponse(body, status_code=200 if ok else 503, headers=headers)


def _validation_issues(exc: RequestValidationError) -> list[dict[str, Any]]:
    issues = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "header")]
        issues.append({"path": ".".join(loc) or "(body)", "message": str(error.get("msg"))})
    return issues


def _install_error_handlers(app: FastAPI) -> None:
    async def problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiProblem)
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return JSONResponse({"error": message}, status_code=exc.status_code)

    async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        for error in exc.errors():
            if error.get("type") == "json_invalid":
                reason = (error.get("ctx") or {}).get("error", "malformed")
                where = error.get("loc", ("body", "?"))[-1]
                message = f"request body is not valid JSON: {reason} (at character {where})"
                return JSONResponse({"error": message}, status_code=400)
        issues = _validation_issues(exc)
        return JSONResponse({"error": "invalid request", "issues": issues}, status_code=422)

    async def storage_error(request: Request, exc: Exception) -> JSONResponse:
        refusal = storage_refusal(exc)
        if refusal is None:  # not an outage: a bug, answered as one
            raise exc
        context(request).redis_health.refused(refusal)
        body = {"error": refusal.message(), "reason": refusal.code}
        return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})

    app.add_exception_handler(ApiProblem, problem)
    app.add_exception_handler(RedisError, storage_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)


def create_app(
    settings: Settings,
    redis: RedisClient | None = None,
    metrics_registry: CollectorRegistry | None = None,
) -> FastAPI:
    """The API app; its lifespan connects Redis and starts the Kafka producer.

    `/metrics` serves `metrics_registry` (shared with the other services of the process).
    """
    from services.trigger.auth import authorize
    from services.trigger.background import TriggerBackground
    from services.trigger.input_guard import BodyGuard
    from services.trigger.routes_authoring import router as authoring_router
    from services.trigger.routes_dashboard import router as dashboard_router
    from services.trigger.routes_events import router as events_router
    from services.trigger.routes_executions import router as executions_router
    from services.trigger.routes_limits import router as limits_router
    from services.trigger.routes_metrics import router as metrics_router
    from services.trigger.routes_schedules import router as schedules_router
    from services.trigger.routes_signals import router as signals_router
    from services.trigger.routes_templates import router as templates_router
    from services.trigger.routes_workflows import router as workflows_router

    registry = metrics_registry if metrics_registry is not None else CollectorRegistry()
    ctx = Context(
        settings=settings,
        registry=registry,
        requests=Counter(
            "workflows_api_requests", "HTTP API requests", ["route", "status"], registry=registry
        ),
        latency=Histogram(
            "workflows_api_request_seconds", "HTTP API latency", ["route"], registry=registry
        ),
        redis_health=RedisHealth(registry),
        clock_skew=Gauge(
            "workflows_scheduler_clock_skew_seconds",
            "this replica's clock minus the reference clock (Redis TIME), at the last tick",
            registry=registry,
        ),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        client = redis if redis is not None else connect_redis(settings)
        bus = Bus(settings, "trigger")
        await ensure_topics(settings, ctx.topics.fixed().values())
        await bus.start()
        ctx.redis, ctx.bus = client, bus
        ctx.store = StateStore(client, ctx.keys)
        await ctx.store.migrate_definition_keys()  # from builds before hash tags
        ctx.definitions = DefinitionCache(ctx.store)
        ctx.producer_started = True
        await background.start()  # the scheduler loop and the event-topic consumer
        try:
            yield
        finally:
            await background.stop()
            ctx.producer_started = False
            ctx.store = ctx.bus = ctx.definitions = None
            await bus.stop()
            if redis is None:
                await client.aclose()

    app = FastAPI(
        title="Workflows API",
        version="0.1.0",
        description="Register workflow definitions, start executions and follow them.",
        lifespan=lifespan,
        dependencies=[Depends(authorize)],  # API keys and scopes: services/trigger/auth.py
    )
    app.state.ctx = ctx
    app.state.triggers = background = TriggerBackground(ctx)
    _install_error_handlers(app)
    app.include_router(authoring_router)  # before /workflows/{name}
    app.include_router(workflows_router)
    app.include_router(executions_router)
    app.include_router(schedules_router)
    app.include_router(events_router)
    app.include_router(signals_router)
    app.include_router(metrics_router)
    app.include_router(limits_router)
    app.include_router(ops_router)
    app.include_router(dashboard_router)
    app.include_router(templates_router)
    app.add_middleware(BodyGuard, max_body=max_body_bytes(settings))  # input_guard.py
    app.add_middleware(MetricsMiddleware, ctx=ctx)
    return app


def max_body_bytes(settings: Settings) -> int:
    """The largest request body read: the largest payload the engine keeps, plus room."""
    return max(settings.payload_max_bytes, settings.max_message_bytes) + 64 * 1024
