"""The API's `/metrics` across namespaces (issue 20, item 6): a `read` key of one namespace
sees its own workflows' samples and the engine-wide ones, never another namespace's workflow
names or KPIs; an `admin` of `default` sees everything."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from workflows.services.core.namespaces import qualify
from workflows.services.infra.api_keys import ApiKeyStore, Scope
from workflows.services.infra.keys import Keys
from workflows.services.infra.metrics import EngineMetrics
from workflows.services.infra.settings import Settings
from workflows.services.trigger import create_app

pytestmark = pytest.mark.integration

WORKFLOWS = {"default": "onboarding", "acme": "orders", "globex": "billing"}


@pytest.fixture
async def app(
    settings: Settings, redis: Redis
) -> AsyncIterator[tuple[httpx.ASGITransport, ApiKeyStore]]:
    on = settings.model_copy(update={"auth": "on"})
    app = create_app(on, redis)
    async with app.router.lifespan_context(app):
        metrics = EngineMetrics.of(app.state.ctx.registry)
        for namespace, name in WORKFLOWS.items():
            stored = qualify(namespace, name)
            metrics.executions_started.labels(stored).inc()
            metrics.kpi_mean.labels(stored, "revenue", "EUR").set(1234.5)
        yield httpx.ASGITransport(app=app), ApiKeyStore(redis, Keys(on.key_prefix))


async def _metrics(
    transport: httpx.ASGITransport, store: ApiKeyStore, namespace: str, scope: Scope
) -> str:
    token = (await store.create(namespace, [scope], f"{namespace} test")).token
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        answer = await c.get("/metrics")
    assert answer.status_code == 200, answer.text
    return answer.text


def _workflows_in(text: str) -> set[str]:
    return {name for ns, name in WORKFLOWS.items() if f'workflow="{qualify(ns, name)}"' in text}


async def test_a_namespace_sees_only_its_own_workflows_on_metrics(
    app: tuple[httpx.ASGITransport, ApiKeyStore],
) -> None:
    transport, store = app
    acme = await _metrics(transport, store, "acme", "read")
    globex = await _metrics(transport, store, "globex", "admin")  # admin of another namespace
    default_read = await _metrics(transport, store, "default", "read")
    everything = await _metrics(transport, store, "default", "admin")
    assert _workflows_in(acme) == {"orders"}
    assert _workflows_in(globex) == {"billing"}
    assert _workflows_in(default_read) == {"onboarding"}
    assert _workflows_in(everything) == {"onboarding", "orders", "billing"}
    for text in (acme, globex, default_read, everything):  # engine-wide metrics stay
        assert "# HELP workflows_dlq_messages_total" in text
    assert 'workflows_kpi_mean{kpi="revenue",unit="EUR",workflow="acme~orders"} 1234.5' in acme
