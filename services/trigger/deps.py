"""What the trigger's routes share, below all of them: the error they answer with
(`ApiProblem`, `unavailable`), the app's `Context` and `context(request)`, and the small
request helpers (`caller_id`, `read_json_body`, `body_text`, `catalog_of`, `NOT_FOUND`).

Nothing here imports a route, the app or the background loops: `routes/*` and
`starts`, `events`, `scheduler`, `background`, `auth` import this module, and `app` imports
them all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from workflows.contracts.topics import Topics
from workflows.services.catalog import Catalog, CatalogError, load_catalog
from workflows.services.infra.definitions import DefinitionCache
from workflows.services.infra.kafka import Bus
from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import StateStore
from workflows.services.trigger.outage import RETRY_AFTER_S, RedisHealth, storage_refusal
from workflows.services.trigger.schemas import ErrorBody

__all__ = [
    "ACCEPTED_TTL_S",
    "NOT_FOUND",
    "ApiProblem",
    "Context",
    "body_text",
    "caller_id",
    "catalog_of",
    "context",
    "read_json_body",
    "unavailable",
]

ACCEPTED_TTL_S = 3600
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}


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


def caller_id(request: Request) -> str:
    """The API key id an auth layer put on the request, else "anonymous"."""
    return str(getattr(request.state, "api_key_id", None) or "anonymous")


def body_text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiProblem(400, f"request body is not valid UTF-8 (byte {exc.start})") from None


async def read_json_body(request: Request, default: Any = None) -> Any:
    """The JSON body, `default` when empty; 400 naming the problem when it is malformed."""
    body = await request.body()
    if not body.strip():
        return default
    try:
        return json.loads(body_text(body))
    except json.JSONDecodeError as exc:
        raise ApiProblem(
            400,
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from None


@lru_cache(maxsize=8)
def _catalog(dirs: tuple[str, ...]) -> Catalog:
    return load_catalog([Path(d) for d in dirs])


def catalog_of(request: Request) -> Catalog:
    """The template catalog of the app's `catalog_dirs` (loaded once); 500 when broken."""
    try:
        return _catalog(tuple(context(request).settings.catalog_dirs))
    except CatalogError as exc:
        raise ApiProblem(500, f"the template catalog is broken: {exc}") from None
