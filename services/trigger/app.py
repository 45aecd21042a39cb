"""The FastAPI app: lifespan (Redis, Kafka producer, topics), error bodies, request metrics."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException

from workflows.services.infra.definitions import DefinitionCache
from workflows.services.infra.kafka import Bus, ensure_topics
from workflows.services.infra.redis_client import RedisClient, connect_redis
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import StateStore
from workflows.services.trigger.auth import authorize
from workflows.services.trigger.background import TriggerBackground
from workflows.services.trigger.deps import ApiProblem, Context, context
from workflows.services.trigger.input_guard import BodyGuard
from workflows.services.trigger.outage import RETRY_AFTER_S, RedisHealth, storage_refusal
from workflows.services.trigger.routes import (
    authoring,
    dashboard,
    events,
    executions,
    limits,
    metrics,
    ops,
    schedules,
    signals,
    templates,
    workflows,
)

__all__ = ["create_app", "max_body_bytes"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


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
    app.include_router(authoring.router)  # before /workflows/{name}
    app.include_router(workflows.router)
    app.include_router(executions.router)
    app.include_router(schedules.router)
    app.include_router(events.router)
    app.include_router(signals.router)
    app.include_router(metrics.router)
    app.include_router(limits.router)
    app.include_router(ops.router)
    app.include_router(dashboard.router)
    app.include_router(templates.router)
    app.add_middleware(BodyGuard, max_body=max_body_bytes(settings))  # input_guard.py
    app.add_middleware(MetricsMiddleware, ctx=ctx)
    return app


def max_body_bytes(settings: Settings) -> int:
    """The largest request body read: the largest payload the engine keeps, plus room."""
    return max(settings.payload_max_bytes, settings.max_message_bytes) + 64 * 1024
