"""Logs per attempt over the real broker and Redis: a step that retried twice shows each
attempt's logging records and prints, redacted, through the API, the SDK and the CLI; a result
from another runtime attaches its own lines; the logs expire with the state."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from redis.asyncio import Redis

from tests.support.browser import browser_page, needs_chromium, screenshot
from tests.support.runtime import Engine, running_engine
from workflows.client import AsyncWorkflows
from workflows.contracts import StepResult
from workflows.functions import FunctionContext, FunctionRegistry
from workflows.services.infra.attempt_logs import logs_key
from workflows.services.infra.keys import Keys
from workflows.services.infra.settings import Settings
from workflows.services.trigger import create_app
from workflows.testing.embedded import free_port

pytestmark = pytest.mark.integration

EXE = str(Path(sys.executable).parent / "workflows")
SECRET = "sk-live-424242"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "logs"
FLAKY = {
    "name": "flakyCharge",
    "input": {
        "type": "object",
        "properties": {"user": {"type": "string"}, "apiKey": {"type": "string", "writeOnly": True}},
    },
    "steps": [
        {
            "id": "charge",
            "function": "charge",
            "input": {"user": "{{input.user}}", "apiKey": "{{input.apiKey}}"},
            "retry": {"maxAttempts": 3, "backoff": {"kind": "fixed", "initialDelay": 10}},
        },
        {"id": "remote", "function": "elsewhere", "dependsOn": ["charge"]},
    ],
}
log = logging.getLogger("billing")
log.setLevel(logging.INFO)  # pytest's handlers keep the root logger at WARNING


def registry() -> FunctionRegistry:
    out = FunctionRegistry()

    async def charge(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        log.info("charging %s with key %s", data["user"], data["apiKey"])
        print(f"attempt {ctx.attempt} of charge")
        if ctx.attempt < 3:
            log.warning("card network busy, attempt %d", ctx.attempt)
            raise ConnectionError("card network busy")
        return {"charged": True}

    out.register(charge, "charge")
    return out


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    async with running_engine(settings, registry()) as running:
        yield running


@pytest.fixture
async def app(settings: Settings, redis: Redis, engine: Engine) -> AsyncIterator[Any]:
    app = create_app(settings, redis)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: Any) -> AsyncIterator[AsyncWorkflows]:
    async with AsyncWorkflows("http://test", transport=httpx.ASGITransport(app=app)) as wf:
        await wf.register(FLAKY)
        yield wf


async def _remote_result(engine: Engine, settings: Settings, execution_id: str) -> None:
    """Answer the `elsewhere` step as a worker of another runtime would, with its lines."""
    deadline = time.monotonic() + 20
    while True:
        state = await engine.state(execution_id)
        run = state.steps.get("remote") if state else None
        if run is not None and run.status == "running":
            break
        assert time.monotonic() < deadline, "the remote step never started"
        await asyncio.sleep(0.05)
    result = StepResult.model_validate(
        {
            "executionId": execution_id,
            "commandId": f"{execution_id}:remote:1",
            "stepId": "remote",
            "attempt": 1,
            "ok": True,
            "output": {},
            "logs": [
                {"level": "INFO", "logger": "go-worker", "message": f"used {SECRET}"},
                {"level": "stdout", "message": "done"},
            ],
        }
    )
    await engine.publish(engine.topics.step_results, result, execution_id)


async def _finished(engine: Engine, settings: Settings, client: AsyncWorkflows) -> str:
    execution_id = await client.start("flakyCharge", {"user": "ada", "apiKey": SECRET})
    await _remote_result(engine, settings, execution_id)
    state = await engine.wait(execution_id)
    assert state.status == "completed", state.error
    return execution_id


async def test_each_attempt_keeps_its_lines_redacted(
    engine: Engine, settings: Settings, client: AsyncWorkflows, redis: Redis
) -> None:
    execution_id = await _finished(engine, settings, client)
    attempts = await client.logs(execution_id, "charge")
    assert [(a["attempt"], a["ok"]) for a in attempts] == [(1, False), (2, False), (3, True)]
    first = [(line["level"], line["logger"], line["message"]) for line in attempts[0]["lines"]]
    assert first == [
        ("INFO", "billing", "charging ada with key ***"),
        ("stdout", "stdout", "attempt 1 of charge"),
        ("WARNING", "billing", "card network busy, attempt 1"),
    ]
    assert [line["message"] for line in attempts[2]["lines"]][-1] == "attempt 3 of charge"
    remote = await client.logs(execution_id, "remote")
    assert [line["message"] for line in remote[0]["lines"]] == ["used ***", "done"]
    assert SECRET not in str(await client.logs(execution_id))
    # the logs expire with the state
    key = logs_key(Keys(settings.key_prefix), execution_id)
    state_ttl = await redis.ttl(Keys(settings.key_prefix).state(execution_id))
    assert state_ttl > 0 and abs(await redis.ttl(key) - state_ttl) <= 1


async def test_workflows_logs_on_the_command_line(
    app: Any, engine: Engine, settings: Settings, client: AsyncWorkflows
) -> None:
    execution_id = await _finished(engine, settings, client)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
                await asyncio.sleep(0.02)
        proc = await asyncio.create_subprocess_exec(
            EXE,
            "logs",
            execution_id,
            "charge",
            env={**os.environ, "WORKFLOWS_API_URL": f"http://127.0.0.1:{port}"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        server.should_exit = True
        await serving
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    heads = [line for line in text.splitlines() if not line.startswith(" ")]
    assert heads == [
        "charge attempt 1 (failed)",
        "charge attempt 2 (failed)",
        "charge attempt 3 (ok)",
    ]
    assert "billing: charging ada with key ***" in text and SECRET not in text
    print(f"$ workflows logs {execution_id} charge\n{text}")


@needs_chromium
async def test_the_execution_page_shows_logs_under_each_attempt(
    app: Any, engine: Engine, settings: Settings, client: AsyncWorkflows
) -> None:
    execution_id = await _finished(engine, settings, client)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
                await asyncio.sleep(0.02)
        async with browser_page() as (page, problems):
            await page.goto(f"http://127.0.0.1:{port}/#/executions/{execution_id}")
            await page.get_by_test_id("step-charge").click()
            for attempt in (1, 2, 3):
                block = page.get_by_test_id(f"attempt-logs-charge-{attempt}")
                await block.wait_for()
                text = await block.inner_text()
                assert f"attempt {attempt} of charge" in text
                assert "billing: charging ada with key ***" in text and SECRET not in text
            assert "failed" in await page.get_by_test_id("attempt-logs-charge-1").inner_text()
            await screenshot(page, ARTIFACTS, "attempt-logs")
            assert problems == []
    finally:
        server.should_exit = True
        await serving
