"""API keys, scopes and namespaces through the real app, broker, Redis and engine (auth on)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tests.support.runtime import Engine, running_engine
from workflows.cli import main as cli
from workflows.functions import FunctionContext, FunctionRegistry
from workflows.services.infra.api_keys import ApiKeyStore, Scope
from workflows.services.infra.keys import Keys
from workflows.services.infra.settings import Settings
from workflows.services.trigger import create_app

pytestmark = pytest.mark.integration

Client = Callable[[str], httpx.AsyncClient]


def _orders(tag: str) -> dict[str, Any]:
    """A workflow `orders` whose output says which namespace's definition ran."""
    return {
        "name": "orders",
        "triggers": [{"event": "order.created", "input": {"id": "{{event.id}}"}}],
        "steps": [
            {"id": "label", "function": "label", "input": {"tag": tag}},
            {"id": "gate", "function": "gate", "input": {}},
            {"id": "child", "function": "workflow:sub", "input": {}},
        ],
        "outputMapping": {"tag": "{{label.tag}}", "child": "{{child.tag}}"},
    }


def _sub(tag: str) -> dict[str, Any]:
    return {"name": "sub", "steps": [{"id": "label", "function": "label", "input": {"tag": tag}}]}


def registry(gate: asyncio.Event) -> FunctionRegistry:
    out = FunctionRegistry()

    def label(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        return {"tag": data["tag"]}

    async def wait_gate(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        await gate.wait()
        return {}

    out.register(label, "label")
    out.register(wait_gate, "gate")
    return out


@pytest.fixture
async def gate() -> asyncio.Event:
    return asyncio.Event()


@pytest.fixture
async def auth_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"auth": "on"})


@pytest.fixture
async def engine(auth_settings: Settings, gate: asyncio.Event) -> AsyncIterator[Engine]:
    async with running_engine(auth_settings, registry(gate)) as running:
        yield running


@pytest.fixture
async def keys(auth_settings: Settings, redis: Redis) -> ApiKeyStore:
    return ApiKeyStore(redis, Keys(auth_settings.key_prefix))


@pytest.fixture
async def client(auth_settings: Settings, redis: Redis) -> AsyncIterator[Client]:
    app = create_app(auth_settings, redis)
    opened: list[httpx.AsyncClient] = []

    def make(token: str) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = httpx.ASGITransport(app=app)
        made = httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers)
        opened.append(made)
        return made

    async with app.router.lifespan_context(app):
        yield make
        for made in opened:
            await made.aclose()


async def _token(keys: ApiKeyStore, namespace: str, *scopes: Scope) -> str:
    return (await keys.create(namespace, list(scopes), f"{namespace} test")).token


async def _until(check: Callable[[], Awaitable[Any]], seconds: float = 15.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = await check()
        if value or loop.time() > deadline:
            return value
        await asyncio.sleep(0.05)


async def test_without_a_valid_key_every_route_but_health_and_the_page_is_401(
    client: Client, keys: ApiKeyStore
) -> None:
    anonymous = client("")
    for path in ("/workflows", "/executions", "/schedules", "/metrics", "/executions/x"):
        response = await anonymous.get(path)
        assert response.status_code == 401, path
        assert "Authorization: Bearer" in response.json()["error"]
        assert response.headers["www-authenticate"] == "Bearer"
    assert (await anonymous.post("/workflows/orders/execute", json={})).status_code == 401
    assert (await anonymous.get("/healthz")).status_code == 200
    assert (await anonymous.get("/readyz")).status_code == 200
    assert (await anonymous.get("/dashboard/")).status_code == 200
    forged = client("wfk_abc_" + "x" * 43)
    response = await forged.get("/workflows")
    assert response.status_code == 401
    assert response.json() == {"error": "the API key in the Authorization header is not valid"}
    token = await _token(keys, "default", "read")
    wrong_secret = token[: token.rindex("_") + 1] + "y" * 43  # right id, wrong secret
    assert (await client(wrong_secret).get("/workflows")).status_code == 401
    via_header = client("")
    via_header.headers["X-API-Key"] = token
    assert (await via_header.get("/workflows")).status_code == 200


async def test_a_read_only_key_reads_but_cannot_execute_or_register(
    client: Client, keys: ApiKeyStore, engine: Engine
) -> None:
    admin = client(await _token(keys, "default", "admin"))
    reader = client(await _token(keys, "default", "read"))
    executor = client(await _token(keys, "default", "execute"))
    assert (await admin.post("/workflows", json=_sub("d"))).status_code == 201
    assert (await reader.get("/workflows/sub")).status_code == 200
    denied = await reader.post("/workflows/sub/execute", json={})
    assert denied.status_code == 403
    assert "lacks the 'execute' scope" in denied.json()["error"]
    assert (await executor.post("/workflows", json=_sub("x"))).status_code == 403
    started = await executor.post("/workflows/sub/execute?wait=true", json={})
    assert started.status_code == 200, started.text
    assert started.json()["output"] == {"tag": "d"}
    assert (await reader.get(f"/executions/{started.json()['executionId']}")).status_code == 200


async def test_one_namespace_never_sees_or_touches_another_namespaces_data(
    client: Client, keys: ApiKeyStore, engine: Engine, gate: asyncio.Event
) -> None:
    acme = client(await _token(keys, "acme", "admin"))
    other = client(await _token(keys, "default", "admin"))
    for api, tag in ((acme, "acme"), (other, "default")):
        for definition in (_sub(f"{tag}-child"), _orders(tag)):
            registered = await api.post("/workflows", json=definition)
            assert registered.status_code == 201, registered.text
    # the same name in two namespaces is two workflows; each key sees its own only
    assert [w["name"] for w in (await acme.get("/workflows")).json()] == ["orders", "sub"]
    shown = (await acme.get("/workflows/orders")).json()
    assert shown["definition"]["name"] == "orders"
    assert shown["definition"]["steps"][2]["function"] == "workflow:sub"
    started = await other.post("/workflows/orders/execute", json={})
    theirs = started.json()["executionId"]
    assert started.json()["workflow"] == "orders"

    # namespace A: 404 (not 403: existence does not leak) on B's execution, for every verb
    assert (await other.get(f"/executions/{theirs}")).status_code == 200
    refused = await acme.get(f"/executions/{theirs}")
    assert refused.status_code == 404 and refused.json() == {
        "error": f"execution '{theirs}' not found"
    }
    for verb in ("cancel", "pause", "resume", "retry"):
        assert (await acme.post(f"/executions/{theirs}/{verb}")).status_code == 404, verb
    signal = {"name": "go"}
    assert (await acme.post(f"/executions/{theirs}/signal", json=signal)).status_code == 404
    assert (await acme.get(f"/executions/{theirs}/waits")).status_code == 404
    assert (await acme.get("/executions")).json() == []

    async def listed_ids() -> list[str]:  # the list shows executions the orchestrator has
        return [e["executionId"] for e in (await other.get("/executions")).json()]

    assert await _until(listed_ids) == [theirs]
    assert (await acme.get("/executions")).json() == []

    # schedules: the same id in both namespaces, each sees its own
    every = {"id": "nightly", "workflow": "orders", "every": "1h"}
    assert (await acme.post("/schedules", json=every)).status_code == 201
    assert (await other.post("/schedules", json=every)).status_code == 201
    mine = (await acme.get("/schedules")).json()
    assert [(s["id"], s["workflow"]) for s in mine] == [("nightly", "orders")]
    assert (await acme.delete("/schedules/nightly")).status_code == 204
    assert (await other.get("/schedules/nightly")).status_code == 200
    assert (await acme.get("/schedules")).json() == []
    forged = {**every, "workflow": "acme~orders"}  # a caller cannot name another namespace
    assert (await other.post("/schedules", json=forged)).status_code == 422
    assert (await other.get("/workflows/acme~orders")).status_code == 404

    # events start the workflows of the caller's namespace only
    published = await acme.post("/events/order.created", json={}, headers={"Event-Id": "e1"})
    assert published.status_code == 202, published.text
    routed = published.json()["executions"]
    assert [e["workflow"] for e in routed] == ["orders"]
    ours = routed[0]["executionId"]
    assert (await other.get(f"/executions/{ours}")).status_code == 404
    gate.set()

    # each execution ran its own namespace's definition, child workflow included
    async def output(api: httpx.AsyncClient, execution_id: str) -> Any:
        body = (await api.get(f"/executions/{execution_id}")).json()
        return body.get("output") if body["status"] == "completed" else None

    assert await _until(lambda: output(acme, ours)) == {"tag": "acme", "child": "acme-child"}
    assert await _until(lambda: output(other, theirs)) == {
        "tag": "default",
        "child": "default-child",
    }
    listed = (await acme.get("/executions?workflow=orders")).json()
    assert [e["workflow"] for e in listed] == ["orders"] and listed[0]["executionId"] == ours


async def test_a_revoked_key_is_refused_from_the_next_request(
    client: Client, keys: ApiKeyStore
) -> None:
    created = await keys.create("default", ["read"], "ci")
    api = client(created.token)
    assert (await api.get("/workflows")).status_code == 200
    await keys.revoke(created.key.id)
    refused = await api.get("/workflows")
    assert refused.status_code == 401
    assert f"API key {created.key.id} was revoked" in refused.json()["error"]


async def test_the_key_that_registers_a_version_is_recorded(
    client: Client, keys: ApiKeyStore
) -> None:
    created = await keys.create("acme", ["admin"])
    api = client(created.token)
    assert (await api.post("/workflows", json=_sub("a"))).status_code == 201
    versions = (await api.get("/workflows/sub")).json()["versions"]
    assert versions[0]["registeredBy"] == created.key.id


async def test_functions_are_declared_by_default_namespace_admins_only(
    client: Client, keys: ApiKeyStore
) -> None:
    spec = {"name": "charge", "url": "http://127.0.0.1:9/charge"}
    tenant = client(await _token(keys, "acme", "admin"))
    refused = await tenant.post("/functions", json=spec)
    assert refused.status_code == 403 and "default-namespace" in refused.json()["error"]
    operator = client(await _token(keys, "default", "admin"))
    assert (await operator.post("/functions", json=spec)).status_code == 201


def test_keys_cli_creates_lists_and_revokes(
    auth_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORKFLOWS_REDIS_URL", auth_settings.redis_url)
    monkeypatch.setenv("WORKFLOWS_KEY_PREFIX", auth_settings.key_prefix)

    def run(*argv: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as done:
            cli(list(argv))
        return int(done.value.code or 0), capsys.readouterr().out

    code, out = run("keys", "create", "--namespace", "acme", "--scope", "execute", "--json")
    assert code == 0
    created = json.loads(out)
    assert created["token"].startswith(f"wfk_{created['id']}_")
    assert created["namespace"] == "acme" and created["scopes"] == ["execute"]
    code, out = run("keys", "list")
    assert code == 0 and created["id"] in out and "active" in out
    assert created["token"] not in out  # only shown once
    assert run("keys", "revoke", created["id"])[0] == 0
    assert "revoked" in run("keys", "list")[1]
    assert run("keys", "revoke", "nope")[0] == 1
    code, out = run("keys", "create", "--namespace", "Bad Name", "--scope", "read")
    assert code == 2 and "lowercase" in out


async def test_a_template_installs_into_the_callers_namespace(
    client: Client, keys: ApiKeyStore
) -> None:
    acme = client(await _token(keys, "acme", "admin"))
    other = client(await _token(keys, "default", "read"))
    assert (await other.get("/templates/employee-onboarding")).status_code == 200  # shared
    body = {"parameters": {"workflowName": "hiring"}}
    installed = await acme.post("/templates/employee-onboarding/install", json=body)
    assert installed.status_code == 201, installed.text
    assert installed.json()["name"] == "hiring"
    assert (await acme.get("/workflows/hiring")).json()["definition"]["name"] == "hiring"
    assert (await other.get("/workflows/hiring")).status_code == 404
    assert (await other.get("/workflows")).json() == []


async def test_a_signal_reaches_only_waits_of_the_senders_namespace(
    client: Client, keys: ApiKeyStore, engine: Engine
) -> None:
    paid = {
        "name": "pay",
        "steps": [
            {
                "id": "paid",
                "function": "waitForEvent",
                "input": {"event": "order.paid", "correlation": "{{input.orderId}}"},
            }
        ],
        "outputMapping": {"amount": "{{paid.amount}}"},
    }
    acme = client(await _token(keys, "acme", "admin"))
    other = client(await _token(keys, "default", "admin"))
    started = {}
    for name, api in (("acme", acme), ("default", other)):
        assert (await api.post("/workflows", json=paid)).status_code == 201
        body = {"orderId": "o-1"}  # the body is the input
        started[name] = (await api.post("/workflows/pay/execute", json=body)).json()["executionId"]

    async def waiting(api: httpx.AsyncClient, execution_id: str) -> Any:
        return (await api.get(f"/executions/{execution_id}/waits")).json()

    assert await _until(lambda: waiting(acme, started["acme"]))
    assert await _until(lambda: waiting(other, started["default"]))

    async def indexed() -> list[str]:  # both waits are in the correlation index
        pattern = f"{engine.settings.key_prefix}:waits:*"
        found = sorted([k.decode() async for k in engine.redis.scan_iter(match=pattern)])
        return found if len(found) == 2 else []

    prefix = engine.settings.key_prefix
    assert await _until(indexed) == [
        f"{prefix}:waits:acme~order.paid:o-1",
        f"{prefix}:waits:order.paid:o-1",
    ]
    # the same event type and correlation in both namespaces: each signal stays in its own
    sent = await other.post(
        "/signals/order.paid", json={"correlation": "o-1", "payload": {"amount": 1}}
    )
    assert sent.status_code == 202 and sent.json()["executions"] == [started["default"]]

    async def output(api: httpx.AsyncClient, execution_id: str) -> Any:
        body = (await api.get(f"/executions/{execution_id}")).json()
        return body.get("output") if body["status"] == "completed" else None

    assert await _until(lambda: output(other, started["default"])) == {"amount": 1}
    assert (await acme.get(f"/executions/{started['acme']}")).json()["status"] == "running"
    sent = await acme.post(
        "/signals/order.paid", json={"correlation": "o-1", "payload": {"amount": 2}}
    )
    assert sent.status_code == 202 and sent.json()["executions"] == [started["acme"]]
    assert await _until(lambda: output(acme, started["acme"])) == {"amount": 2}
