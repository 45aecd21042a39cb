"""Redis refusing writes (issue 20, item 7): the API answers 503 with Retry-After and the
reason, `/readyz` says why, and the metrics show it; once Redis writes again, so does the API.

Against its own redis-server: `maxmemory 1` with `noeviction` (OOM on every write), and a
failed background save with `stop-writes-on-bgsave-error yes` (MISCONF).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from workflows.services.infra.redis_client import RedisClient, connect_redis
from workflows.services.infra.settings import Settings
from workflows.services.trigger import create_app
from workflows.testing.embedded import redis_server

pytestmark = pytest.mark.integration

WORKFLOW = {
    "name": "greet",
    "input": {"type": "object", "properties": {"who": {"type": "string"}}},
    "steps": [{"id": "hello", "function": "sayHello", "input": {"who": "{{input.who}}"}}],
}


@pytest.fixture
def own_redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
async def own_redis(own_redis_url: str, settings: Settings) -> AsyncIterator[RedisClient]:
    client = connect_redis(settings.model_copy(update={"redis_url": own_redis_url}))
    yield client
    await client.aclose()


@pytest.fixture
async def api(
    settings: Settings, own_redis_url: str, own_redis: RedisClient
) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings.model_copy(update={"redis_url": own_redis_url}), own_redis)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.post("/workflows", json=WORKFLOW)).status_code == 201
            yield client


async def _assert_refused(api: httpx.AsyncClient, reason: str, word: str) -> None:
    calls = [
        ("POST", "/workflows/greet/execute", {"who": "ada"}),
        ("POST", "/schedules", {"workflow": "greet", "every": "1m"}),
        ("POST", "/workflows", {**WORKFLOW, "name": f"w{uuid.uuid4().hex[:6]}"}),
    ]
    for method, path, body in calls:
        answer = await api.request(method, path, json=body, headers={"Idempotency-Key": "k1"})
        assert answer.status_code == 503, (path, answer.text)
        assert answer.headers["retry-after"] == "5"
        assert answer.json()["reason"] == reason and word in answer.json()["error"]
    ready = await api.get("/readyz")
    assert ready.status_code == 503 and ready.headers["retry-after"] == "5"
    assert ready.json()["checks"]["redisWrites"] is False and word in ready.json()["error"]
    metrics = (await api.get("/metrics")).text
    assert "workflows_redis_writable 0.0" in metrics
    assert f'workflows_redis_refusals_total{{reason="{reason}"}}' in metrics


async def _assert_recovered(api: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 10
    while (ready := await api.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, ready.text
    started = await api.post("/workflows/greet/execute", json={"who": "ada"})
    assert started.status_code == 202, started.text
    assert "workflows_redis_writable 1.0" in (await api.get("/metrics")).text


async def test_maxmemory_noeviction_is_a_503_with_retry_after(
    api: httpx.AsyncClient, own_redis: RedisClient
) -> None:
    await own_redis.config_set("maxmemory-policy", "noeviction")
    await own_redis.config_set("maxmemory", "1")
    try:
        await _assert_refused(api, "oom", "OOM")
    finally:
        await own_redis.config_set("maxmemory", "0")
    await _assert_recovered(api)


async def test_misconf_after_a_failed_save_is_a_503_with_retry_after(
    api: httpx.AsyncClient, own_redis: RedisClient
) -> None:
    """Redis' working directory disappears: the background save fails and Redis stops
    writes (MISCONF) until the operator acts (here: stop-writes-on-bgsave-error no)."""
    folder = str((await own_redis.config_get("dir"))["dir"])
    await own_redis.config_set("stop-writes-on-bgsave-error", "yes")
    await own_redis.config_set("save", "3600 1")  # MISCONF needs a save point configured
    os.rmdir(folder)  # empty: this server saves nothing by itself
    try:
        await own_redis.bgsave()
        deadline = time.monotonic() + 10
        while (await own_redis.info("persistence"))["rdb_last_bgsave_status"] != "err":
            assert time.monotonic() < deadline, "the background save did not fail"
        await _assert_refused(api, "misconf", "MISCONF")
    finally:
        os.mkdir(folder)  # for the fixture's clean-up; Redis keeps the deleted one
        await own_redis.config_set("stop-writes-on-bgsave-error", "no")
    await _assert_recovered(api)
