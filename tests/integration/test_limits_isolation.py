"""`GET /limits` across namespaces (issue 20, item 6): a function limit is shared, but the
calls holding its slots are executions, and a namespace sees only its own."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from workflows.services.core.namespaces import qualify
from workflows.services.infra.api_keys import ApiKeyStore, Scope
from workflows.services.infra.keys import Keys
from workflows.services.infra.leases import Leases
from workflows.services.infra.settings import Settings
from workflows.services.trigger import create_app

pytestmark = pytest.mark.integration


@pytest.fixture
async def app_and_keys(
    settings: Settings, redis: Redis
) -> AsyncIterator[tuple[httpx.ASGITransport, ApiKeyStore, Keys]]:
    on = settings.model_copy(update={"auth": "on"})
    app = create_app(on, redis)
    async with app.router.lifespan_context(app):
        keys = Keys(on.key_prefix)
        yield httpx.ASGITransport(app=app), ApiKeyStore(redis, keys), keys


async def _client(
    transport: httpx.ASGITransport, store: ApiKeyStore, namespace: str, *scopes: Scope
) -> httpx.AsyncClient:
    token = (await store.create(namespace, list(scopes), f"{namespace} test")).token
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers)


async def test_a_namespace_sees_only_its_own_holders_of_a_shared_limit(
    app_and_keys: tuple[httpx.ASGITransport, ApiKeyStore, Keys], redis: Redis
) -> None:
    transport, api_keys, keys = app_and_keys
    admin = await _client(transport, api_keys, "default", "admin")
    acme = await _client(transport, api_keys, "acme", "read")
    globex = await _client(transport, api_keys, "globex", "read")
    async with admin, acme, globex:
        put = await admin.put("/limits/functions/charge", json={"concurrency": 5})
        assert put.status_code == 200, put.text
        leases = Leases(redis)
        for execution, namespace in [("e-acme", "acme"), ("e-globex", "globex")]:
            doc = json.dumps({"workflow": qualify(namespace, "flow")})
            await redis.hset(keys.state(execution), "doc", doc)
            await leases.acquire(keys.function_lease("charge"), f"d1/{execution}:a:1", 5, 30_000)

        def holders(view: httpx.Response) -> list[str]:
            assert view.status_code == 200, view.text
            [fn] = view.json()["functions"]
            return sorted(h["holder"] for h in fn["holders"])

        assert holders(await acme.get("/limits")) == ["d1/e-acme:a:1"]
        assert holders(await globex.get("/limits")) == ["d1/e-globex:a:1"]
        assert holders(await admin.get("/limits")) == ["d1/e-acme:a:1", "d1/e-globex:a:1"]
