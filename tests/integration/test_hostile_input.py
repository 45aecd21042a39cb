"""Hostile input over the HTTP API (issue 20, items 2 and 3): a 4xx naming the field, never a
500, and nothing a caller sends (or an older build stored) breaks a list or another tenant."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from workflows.services.infra.schedule_store import ScheduleStore
from workflows.services.infra.settings import Settings
from workflows.services.trigger import create_app

pytestmark = pytest.mark.integration

WORKFLOW = {
    "name": "greet",
    "input": {
        "type": "object",
        "properties": {"who": {"type": "string"}, "code": {"type": "string", "pattern": "^a+$"}},
    },
    "steps": [{"id": "hello", "function": "sayHello", "input": {"who": "{{input.who}}"}}],
    "triggers": [{"event": "user.joined"}],
}
DEEP = "[" * 100_000 + "]" * 100_000
BIG = "9" * 5000


@pytest.fixture
async def app(settings: Settings, redis: Redis) -> AsyncIterator[FastAPI]:
    app = create_app(settings, redis)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/workflows", json=WORKFLOW)).status_code == 201
        yield client


def _definition(**schema: object) -> str:
    properties = {"who": {"type": "string"}, **schema}
    body = {**WORKFLOW, "name": "other", "input": {"type": "object", "properties": properties}}
    return json.dumps(body)


CASES = [
    # (method, path, raw body, status, field named in the answer)
    ("POST", "/workflows/greet/execute", DEEP, 400, "nested deeper"),
    ("POST", "/events/user.joined", DEEP, 400, "nested deeper"),
    ("POST", "/schedules", '{"input":' * 100_000 + "1" + "}" * 100_000, 400, "nested deeper"),
    ("POST", "/workflows/greet/execute", '{"who": ' + BIG + "}", 422, "who"),
    ("POST", "/events/user.joined", '{"a": [1, ' + BIG + "]}", 422, "a[1]"),
    (
        "POST",
        "/schedules",
        '{"workflow": "greet", "every": "1m", "input": {"n": ' + BIG + "}}",
        422,
        "input.n",
    ),
    (
        "POST",
        "/workflows",
        '{"name": "x", "steps": [{"id": "a", "function": "f", "timeout": ' + BIG + "}]}",
        422,
        "steps[0].timeout",
    ),
    ("POST", "/workflows/greet/execute", '{"who": "\\ud800"}', 422, "who"),
    ("POST", "/workflows/greet/execute", '{"x": {"\\udfff": 1}}', 422, "x"),
    ("POST", "/workflows/greet/execute", '{"who": "a", "extra": NaN}', 422, "extra"),
    ("POST", "/events/user.joined", '{"v": -Infinity}', 422, "v"),
    ("POST", "/workflows", _definition(n={"maximum": float("nan")}), 422, "properties.n.maximum"),
    ("POST", "/workflows", _definition(n={"pattern": "(a)\\1"}), 422, "properties.n.pattern"),
    (
        "POST",
        "/schedules",
        '{"workflow": "greet", "cronExpression": "0 0 30 2 *"}',
        422,
        "cronExpression",
    ),
    (
        "POST",
        "/schedules",
        '{"workflow": "greet", "every": "1m", "startAt": "9999-12-31T23:59:59Z"}',
        422,
        "startAt",
    ),
    ("POST", "/schedules", '{"workflow": "greet", "every": "' + "9" * 40 + 's"}', 422, "every"),
    (
        "POST",
        "/workflows/greet/execute",
        json.dumps({"extra": {"$claim": "0" * 64, "size": 10, "execution": "someone-else"}}),
        422,
        "extra",
    ),
    ("POST", "/events/user.joined", json.dumps({"p": [{"$omitted": "too large"}]}), 422, "p[0]"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "field"), CASES)
async def test_hostile_body_is_a_4xx_naming_the_field(
    api: httpx.AsyncClient, method: str, path: str, body: str, status: int, field: str
) -> None:
    answer = await api.request(
        method, path, content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == status, answer.text
    assert field in answer.json()["error"] or field in str(answer.json()["issues"]), answer.text


@pytest.mark.parametrize(
    "path", ["/workflows/a%00b", "/schedules/a%00b", "/dashboard/a%00b", "/dashboard/x%00.js"]
)
async def test_nul_bytes_in_paths_are_400s_naming_the_path(
    api: httpx.AsyncClient, path: str
) -> None:
    answer = await api.get(path)
    assert answer.status_code == 400 and "(path)" in answer.json()["error"], answer.text


@pytest.mark.parametrize("path", ["/executions/%ED%A0%80", "/dashboard/%ED%A0%80"])
async def test_broken_utf8_in_paths_is_a_404(api: httpx.AsyncClient, path: str) -> None:
    answer = await api.get(path)
    assert answer.status_code == 404, answer.text


async def test_a_bad_stored_schedule_never_breaks_the_list_or_the_scheduler(
    api: httpx.AsyncClient, app: FastAPI, redis: Redis, settings: Settings
) -> None:
    """A schedule an older build stored (start in year 9999, a cron that never fires) is
    listed with its reason; the good one beside it is listed and still fires."""
    good = await api.post("/schedules", json={"workflow": "greet", "every": "1s", "id": "ok"})
    assert good.status_code == 201, good.text
    store = ScheduleStore(redis, settings.key_prefix)
    created = datetime.now(UTC).isoformat()
    for schedule_id, extra in [
        ("late", {"every": "1m", "startAt": "9999-12-31T23:59:59Z"}),
        ("never", {"cronExpression": "0 0 30 2 *"}),
    ]:
        doc = {"id": schedule_id, "workflow": "greet", "createdAt": created, **extra}
        assert await store.create(schedule_id, json.dumps(doc), 0)  # due at once
    listed = await api.get("/schedules", params={"upcoming": 100})
    assert listed.status_code == 200, listed.text
    by_id = {s["id"]: s for s in listed.json()}
    assert set(by_id) == {"ok", "late", "never"}
    assert "error" not in by_id["ok"] and len(by_id["ok"]["nextFireTimes"]) == 100
    assert "startAt" in by_id["late"]["error"]
    scheduler = app.state.triggers.scheduler
    deadline = time.monotonic() + 10
    while (await store.get("ok")).fired == 0:  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the good schedule never fired"
        await scheduler.tick()
    assert "late" not in await store.due(2**50)  # parked, not retried every tick


async def test_a_bad_stored_definition_never_breaks_events_of_others(
    api: httpx.AsyncClient, redis: Redis, settings: Settings, app: FastAPI
) -> None:
    """A definition with NaN in its input schema (stored by an older build) does not stop
    POST /events from starting the other workflows."""
    store = app.state.ctx.store
    bad = {**WORKFLOW, "name": "nan", "input": {"type": "object", "maximum": float("nan")}}
    await store.register_definition("nan", json.dumps(bad), {"registeredAt": "x"})
    started = await api.post("/events/user.joined", json={"who": "ada"})
    assert started.status_code == 202, started.text
    assert [e["workflow"] for e in started.json()["executions"]] == ["greet"]


async def test_catastrophic_regex_does_not_block_the_server(api: httpx.AsyncClient) -> None:
    """`^(a+)+$` against 29 `a`s and a `!`: seconds of backtracking in `re`, none in RE2."""
    bomb = {**WORKFLOW, "name": "bomb"}
    bomb["input"] = {
        "type": "object",
        "properties": {"who": {}, "s": {"type": "string", "pattern": "^(a+)+$"}},
    }
    registered = await api.post("/workflows", json=bomb)
    assert registered.status_code == 201, registered.text
    started = time.monotonic()
    answer, health = await asyncio.gather(
        api.post("/workflows/bomb/execute", json={"s": "a" * 29 + "!"}), api.get("/healthz")
    )
    assert answer.status_code == 422 and "does not match" in answer.text
    assert health.status_code == 200
    assert time.monotonic() - started < 1.0


async def test_yaml_alias_bomb_is_refused_before_expansion(api: httpx.AsyncClient) -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    bomb = "\n".join(lines) + "\nname: bomb\nsteps: [{id: a, function: f, input: {x: *a8}}]\n"
    assert len(bomb) < 1000  # expands to 10^9 values
    started = time.monotonic()
    answer = await api.post(
        "/workflows", content=bomb, headers={"content-type": "application/yaml"}
    )
    assert answer.status_code == 413 and "aliases" in answer.text
    assert time.monotonic() - started < 1.0
    assert (await api.get("/workflows/bomb")).status_code == 404


async def test_a_body_over_the_limit_is_refused_before_it_is_read(api: httpx.AsyncClient) -> None:
    """50 MB announced: 413 after reading at most one chunk, not the whole body."""
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(50):
            sent += 1
            yield b" " * (1 << 20)

    answer = await api.post(
        "/workflows/greet/execute",
        content=body(),
        headers={"content-type": "application/json", "content-length": str(50 << 20)},
    )
    assert answer.status_code == 413 and "larger than" in answer.text
    chunked = await api.post(
        "/events/user.joined", content=body(), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413


async def test_listing_600_schedules_neither_blocks_nor_runs_unbounded(
    api: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    """GET /schedules?upcoming=100 over 600 cron schedules: /healthz answers meanwhile, the
    list is bounded (Upcoming-Limited) and quick."""
    store = ScheduleStore(redis, settings.key_prefix)
    created = datetime.now(UTC).isoformat()
    soon = int(time.time() * 1000) + 3_600_000
    for index in range(600):
        cron = f"{index % 60} {index // 60 % 24} * * 1-5"
        doc = {"id": f"s{index}", "workflow": "greet", "createdAt": created}
        doc |= {"cronExpression": cron, "timezone": "Europe/Berlin"}
        assert await store.create(f"s{index}", json.dumps(doc), soon)
    listing = asyncio.ensure_future(api.get("/schedules", params={"upcoming": 100}))
    await asyncio.sleep(0)  # the list has started: health must still answer at once
    started = time.monotonic()
    assert (await api.get("/healthz")).status_code == 200
    assert time.monotonic() - started < 1.0
    listed = await listing
    assert listed.status_code == 200 and len(listed.json()) == 600
    assert listed.headers["upcoming-limited"] == "16"
    assert {len(s["nextFireTimes"]) for s in listed.json()} == {16}
    assert time.monotonic() - started < 10


async def test_schedules_per_namespace_are_capped(
    api: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    store = ScheduleStore(redis, settings.key_prefix)
    for index in range(1000):
        assert await store.create(f"q{index}", "{}", None)
    refused = await api.post("/schedules", json={"workflow": "greet", "every": "1m"})
    assert refused.status_code == 429 and "at most 1000 schedules" in refused.text


async def test_a_big_signal_nobody_waits_for_is_refused_not_buffered(
    api: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    """20 MB would sit in Redis for signal_buffer_s; above 256 KB a signal is a 413."""
    payload = {"blob": "x" * (300 * 1024)}
    answer = await api.post("/signals/order.paid", json={"correlation": "o-1", "payload": payload})
    assert answer.status_code == 413 and "payload" in answer.text
    assert not [k async for k in redis.scan_iter(f"{settings.key_prefix}:sigbuf:*")]
    small = await api.post("/signals/order.paid", json={"correlation": "o-1", "payload": {}})
    assert small.status_code == 202 and small.json()["buffered"] is True


async def test_workflows_per_namespace_are_capped(api: httpx.AsyncClient, app: FastAPI) -> None:
    store = app.state.ctx.store
    for index in range(499):  # and greet: 500
        await store.register_definition(f"w{index}", json.dumps({"n": index}), {})
    refused = await api.post("/workflows", json={**WORKFLOW, "name": "one_more"})
    assert refused.status_code == 429 and "at most 500 workflows" in refused.text
    again = await api.post("/workflows", json={**WORKFLOW, "description": "a new version"})
    assert again.status_code == 201 and again.json()["version"] == 2


@pytest.mark.parametrize("route", ["/workflows/validate", "/workflows/simulate"])
async def test_an_alias_bomb_in_editor_text_is_refused_before_expansion(
    api: httpx.AsyncClient, route: str
) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    text = "\n".join(lines) + "\nname: bomb\nsteps: [{id: a, function: f, input: {x: *a8}}]\n"
    started = time.monotonic()
    answer = await api.post(route, json={"text": text})
    assert answer.status_code == 413 and "text" in answer.json()["error"], answer.text
    assert time.monotonic() - started < 1.0
