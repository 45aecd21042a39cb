"""An approval decision is tied to the key's identity (issue 20, item 6), through the real
app, broker, Redis and engine with auth on: a key bound to an approver decides as that
approver only (and may leave `approver` out); an unbound execute key cannot decide as anyone;
an unbound admin key decides on an approver's behalf, and the decision records which key."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tests.support.runtime import Engine, running_engine
from workflows.functions import FunctionRegistry
from workflows.services.infra.api_keys import ApiKeyStore, Scope
from workflows.services.infra.keys import Keys
from workflows.services.infra.settings import Settings
from workflows.services.trigger import create_app

pytestmark = pytest.mark.integration

REFUND = {
    "name": "refund",
    "steps": [
        {
            "id": "approve",
            "function": "approval",
            "input": {"approvers": ["ann", "bob", "cy"], "quorum": "unanimous"},
        }
    ],
}


@pytest.fixture
async def api(
    settings: Settings, redis: Redis
) -> AsyncIterator[tuple[Engine, httpx.ASGITransport, ApiKeyStore]]:
    on = settings.model_copy(update={"auth": "on"})
    async with running_engine(on, FunctionRegistry()) as engine:
        app = create_app(on, redis)
        async with app.router.lifespan_context(app):
            yield engine, httpx.ASGITransport(app=app), ApiKeyStore(redis, Keys(on.key_prefix))


async def _client(
    transport: httpx.ASGITransport, store: ApiKeyStore, scope: Scope, approver: str | None = None
) -> tuple[httpx.AsyncClient, str]:
    created = await store.create("default", [scope], f"{scope} {approver}", approver)
    headers = {"Authorization": f"Bearer {created.token}"}
    return httpx.AsyncClient(
        transport=transport, base_url="http://t", headers=headers
    ), created.key.id


async def _waiting(client: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = await client.get(f"/executions/{execution_id}/waits")
        if answer.status_code == 200 and "approve" in answer.json()["waits"]:
            return answer.json()["waits"]["approve"]  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError("the approval step never waited")


async def test_a_vote_is_tied_to_the_key(
    api: tuple[Engine, httpx.ASGITransport, ApiKeyStore],
) -> None:
    engine, transport, store = api
    admin, admin_id = await _client(transport, store, "admin")
    ann, _ = await _client(transport, store, "execute", "ann")
    bob, _ = await _client(transport, store, "execute", "bob")
    unbound, unbound_id = await _client(transport, store, "execute")
    async with admin, ann, bob, unbound:
        assert (await admin.post("/workflows", json=REFUND)).status_code < 300
        started = await admin.post("/workflows/refund/execute", json={})
        eid = started.json()["executionId"]
        await _waiting(admin, eid)
        url = f"/executions/{eid}/approvals/approve"
        as_bob = await ann.post(url, json={"approver": "bob", "decision": "approve"})
        nobody = await unbound.post(url, json={"approver": "ann", "decision": "approve"})
        unnamed = await unbound.post(url, json={"decision": "approve"})
        by_ann = await ann.post(url, json={"decision": "approve", "comment": "ok"})
        by_bob = await bob.post(url, json={"approver": "bob", "decision": "approve"})
        for_cy = await admin.post(url, json={"approver": "cy", "decision": "approve"})
        done = await engine.wait(eid)

    assert as_bob.status_code == 403 and "decides as 'ann' only" in as_bob.text
    assert nobody.status_code == 403 and "not bound to an approver" in nobody.text
    assert unbound_id in nobody.text and "--approver ann" in nobody.text
    assert unnamed.status_code == 422 and "approver" in unnamed.text
    assert [a.status_code for a in (by_ann, by_bob, for_cy)] == [202, 202, 202]
    assert done.status.value == "completed", done.error
    decisions = done.steps["approve"].output["decisions"]
    assert sorted(d["approver"] for d in decisions) == ["ann", "bob", "cy"], decisions
    votes = [e for e in done.history if e.type == "step.approval"]
    assert {e.data["approver"]: e.data.get("decidedBy") for e in votes} == {
        "ann": None,
        "bob": None,
        "cy": admin_id,
    }
