"""Search through the API, the SDK and the CLI, over the real broker and Redis: executions of a
workflow with searchAttributes are found by them and by status, page by page."""

from __future__ import annotations

import asyncio
import os
import sys
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
from workflows.errors import FatalError
from workflows.functions import FunctionContext, FunctionRegistry
from workflows.services.infra.settings import Settings
from workflows.services.trigger import create_app
from workflows.testing.embedded import free_port

pytestmark = pytest.mark.integration

EXE = str(Path(sys.executable).parent / "workflows")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "search"
INVOICE = {
    "name": "invoice",
    "searchAttributes": {
        "customerId": "{{input.customerId}}",
        "amount": {"value": "{{input.amount}}", "type": "number"},
        "receipt": "{{charge.receipt}}",
    },
    "steps": [{"id": "charge", "function": "charge", "input": {"amount": "{{input.amount}}"}}],
}


def registry() -> FunctionRegistry:
    out = FunctionRegistry()

    def charge(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        if data["amount"] > 10_000:
            raise FatalError("over the limit")
        return {"receipt": f"r-{data['amount']}"}

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
        await wf.register(INVOICE)
        yield wf


async def _run_all(engine: Engine, client: AsyncWorkflows) -> dict[str, dict[str, Any]]:
    inputs = [
        {"customerId": "cust_12345", "amount": 20_000},
        {"customerId": "cust_12345", "amount": 50},
        {"customerId": "cust_12345", "amount": 15_000},
        {"customerId": "cust_999", "amount": 30_000},
        {"customerId": "cust_7", "amount": 70},
    ]
    ids = {}
    for data in inputs:
        eid = await client.start("invoice", data)
        await engine.wait(eid)
        ids[eid] = data
    return ids


async def test_find_executions_by_attribute_status_and_step_output(
    engine: Engine, client: AsyncWorkflows
) -> None:
    ids = await _run_all(engine, client)
    by_amount = {d["amount"]: eid for eid, d in ids.items()}
    found = await client.list_executions(query="customerId = 'cust_12345' AND status = 'failed'")
    assert [e["executionId"] for e in found] == [by_amount[15_000], by_amount[20_000]]
    assert {e["status"] for e in found} == {"failed"}
    found = await client.list_executions(query="amount > 10000 AND customerId = 'cust_1*'")
    assert [e["executionId"] for e in found] == [by_amount[15_000], by_amount[20_000]]
    found = await client.list_executions(query="receipt = 'r-70'")  # from a step's output
    assert [e["executionId"] for e in found] == [by_amount[70]]
    found = await client.list_executions(query="", workflow="invoice", status="completed")
    assert [e["executionId"] for e in found] == [by_amount[70], by_amount[50]]
    # pages of two follow the cursor to the end, newest first, each execution once
    pages: list[list[str]] = []
    cursor = None
    while True:
        page, cursor = await client.search_executions("workflow = 'invoice'", 2, cursor)
        pages.append([e["executionId"] for e in page])
        if cursor is None:
            break
    assert [len(p) for p in pages][:2] == [2, 2]
    assert [eid for page in pages for eid in page] == list(reversed(ids))


async def test_a_bad_query_is_a_400_naming_the_column(
    engine: Engine, client: AsyncWorkflows
) -> None:
    await engine.wait(await client.start("invoice", {"customerId": "c", "amount": 1}))
    with pytest.raises(Exception, match="column 10: amount is a number") as caught:
        await client.list_executions(query="amount > 'lots'")
    assert getattr(caught.value, "status_code", None) == 400
    with pytest.raises(Exception, match="unknown column 'custId'"):
        await client.list_executions(query="custId = 'x'")
    with pytest.raises(Exception, match="cursor"):
        await client.search_executions("", cursor="bm90IGEgY3Vyc29y")


async def _started(server: uvicorn.Server) -> None:
    async with asyncio.timeout(30):
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
            await asyncio.sleep(0.02)


async def test_workflows_list_query_on_the_command_line(
    app: Any, engine: Engine, client: AsyncWorkflows
) -> None:
    ids = await _run_all(engine, client)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        await _started(server)
        proc = await asyncio.create_subprocess_exec(
            EXE,
            "list",
            "--query",
            "customerId = 'cust_12345' AND status = 'failed'",
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
    failed = {
        eid for eid, d in ids.items() if d["customerId"] == "cust_12345" and d["amount"] > 10_000
    }
    assert {line.split()[0] for line in text.splitlines()[1:] if line.strip()} == failed, text
    print(text)


@needs_chromium
async def test_the_dashboard_search_box(app: Any, engine: Engine, client: AsyncWorkflows) -> None:
    ids = await _run_all(engine, client)
    failed = {
        eid for eid, d in ids.items() if d["customerId"] == "cust_12345" and d["amount"] > 10_000
    }
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        await _started(server)
        async with browser_page() as (page, problems):
            await page.goto(f"http://127.0.0.1:{port}/#/executions")
            box = page.get_by_test_id("search-query")
            await box.fill("customerId = 'cust_12345' AND status = 'failed'")
            await box.press("Enter")
            rows = page.get_by_test_id("execution-row")
            await page.wait_for_function(
                "n => document.querySelectorAll('[data-testid=execution-row]').length === n",
                arg=len(failed),
            )
            assert {await r.get_attribute("data-id") for r in await rows.all()} == failed
            await box.fill("amount > 'lots'")
            await box.press("Enter")
            error = page.get_by_test_id("search-error")
            await error.wait_for(state="visible")
            assert "column 10: amount is a number" in await error.inner_text()
            await screenshot(page, ARTIFACTS, "search-error")
            assert problems == []
    finally:
        server.should_exit = True
        await serving
