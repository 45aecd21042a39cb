"""`GET /limits`, `PUT|DELETE /limits/functions/{name}` and `workflows limits` on a real Redis."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from tests.support.api import app_client
from workflows.cli.limits import limits_table
from workflows.services.infra.keys import Keys
from workflows.services.infra.leases import Leases
from workflows.services.infra.settings import Settings
from workflows.services.trigger import TriggerService
from workflows.testing.embedded import free_port

pytestmark = pytest.mark.integration
EXE = str(Path(sys.executable).parent / "workflows")
LIMITED = {
    "name": "limitedFlow",
    "steps": [{"id": "a", "function": "charge"}],
    "rateLimit": {"limit": 5, "periodSeconds": 60},
}


@pytest.fixture
async def api(settings: Settings, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, redis) as client:
        yield client


async def test_limits_are_declared_listed_with_their_holders_and_removed(
    api: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    keys, leases = Keys(settings.key_prefix), Leases(redis)
    put = await api.put(
        "/limits/functions/charge",
        json={"concurrency": 2, "rateLimit": {"limit": 10, "periodSeconds": 1}},
    )
    assert put.status_code == 200, put.text
    assert put.json()["leaseSeconds"] == 30
    assert (await api.post("/workflows", json=LIMITED)).status_code == 201
    await leases.acquire(keys.function_lease("charge"), "d1/e1:a:1", 2, 30_000)
    await leases.admit(keys.workflow_rate("limitedFlow"), "e1", 5, 60_000, 60_000)

    view = (await api.get("/limits")).json()
    [fn] = view["functions"]
    assert fn["name"] == "charge" and fn["limit"]["concurrency"] == 2
    assert [h["holder"] for h in fn["holders"]] == ["d1/e1:a:1"]
    [wf] = view["workflows"]
    assert wf["name"] == "limitedFlow" and wf["rateLimit"] == {"limit": 5, "periodSeconds": 60.0}
    assert [h["holder"] for h in wf["inWindow"]] == ["e1"]
    assert view["parked"] == 0
    text = limits_table(view)
    assert "function charge" in text and "d1/e1:a:1" in text and "concurrency 2" in text
    assert "workflow limitedFlow" in text and "5 per 60 s" in text

    assert (await api.delete("/limits/functions/charge")).status_code == 204
    missing = await api.delete("/limits/functions/charge")
    assert missing.status_code == 404 and "charge" in missing.json()["error"]
    assert (await api.get("/limits")).json()["functions"] == []


async def test_a_bad_function_limit_is_refused_naming_the_field(api: httpx.AsyncClient) -> None:
    bad = await api.put("/limits/functions/charge", json={"concurrency": 0})
    assert bad.status_code == 422
    assert "concurrency" in bad.text


async def test_the_cli_sets_lists_and_clears_function_limits(settings: Settings) -> None:
    port = free_port()
    service = TriggerService(settings.model_copy(update={"http_port": port}))
    task = asyncio.create_task(service.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not service.started:
            assert loop.time() < deadline, "the trigger service did not start"
            await asyncio.sleep(0.02)
        url = f"http://127.0.0.1:{port}"

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [EXE, "limits", *args, "--url", url], capture_output=True, text=True, timeout=60
            )

        done = await asyncio.to_thread(cli, "set", "charge", "--concurrency", "3")
        assert done.returncode == 0, done.stdout + done.stderr
        listed = await asyncio.to_thread(cli)
        assert "function charge" in listed.stdout and "concurrency 3" in listed.stdout
        cleared = await asyncio.to_thread(cli, "clear", "charge")
        assert cleared.returncode == 0 and "no limits" in cleared.stdout
        again = await asyncio.to_thread(cli, "clear", "charge")
        assert again.returncode == 1 and "has no limits" in again.stdout
    finally:
        service.stop()
        await asyncio.wait_for(task, 30)
