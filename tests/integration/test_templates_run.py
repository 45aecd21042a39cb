"""Every catalog template is installed through the API and run end to end with its functions."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.runtime import Engine, running_engine
from workflows.functions import default_registry
from workflows.services.catalog import load_catalog
from workflows.services.infra.settings import Settings
from workflows.services.trigger.app import create_app

pytestmark = pytest.mark.integration
CATALOG = load_catalog()
FAST = {"support-escalation": {"slaMs": 300}}  # keep the SLA timeout short in the test


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    for template in CATALOG.values():
        if template.functions:
            importlib.import_module(template.functions)
    async with running_engine(settings, default_registry) as running:
        yield running


async def test_search_show_install(api: httpx.AsyncClient) -> None:
    listed = (await api.get("/templates", params={"tag": "hr"})).json()
    assert [t["id"] for t in listed] == ["employee-offboarding", "employee-onboarding"]
    shown = (await api.get("/templates/lead-routing")).json()
    assert shown["parameters"]["properties"]["hotScore"]["default"] == 70
    assert (await api.get("/templates/nope")).status_code == 404
    bad = await api.post(
        "/templates/customer-onboarding/install", json={"parameters": {"maxAttempts": 0}}
    )
    assert bad.status_code == 422 and "maxAttempts" in bad.json()["error"]
    done = await api.post(
        "/templates/lead-routing/install", json={"parameters": {"workflowName": "vipLeads"}}
    )
    assert done.status_code == 201, done.text
    assert (
        done.json()["name"] == "vipLeads" and done.json()["functions"] == "examples.templates.sales"
    )
    assert "vipLeads" in [w["name"] for w in (await api.get("/workflows")).json()]


async def _until_waiting(engine: Engine, execution_id: str, step_id: str) -> None:
    deadline = asyncio.get_running_loop().time() + 60
    while asyncio.get_running_loop().time() < deadline:
        state = await engine.state(execution_id)
        if state is not None and state.steps[step_id].status.value == "waiting":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{execution_id}: step {step_id} never started waiting")


@pytest.mark.timeout(300)
async def test_every_template_runs_its_example(api: httpx.AsyncClient, engine: Engine) -> None:
    results = {}
    for template_id, template in sorted(CATALOG.items()):
        response = await api.post(
            f"/templates/{template_id}/install", json={"parameters": FAST.get(template_id, {})}
        )
        assert response.status_code in (200, 201), response.text
        assert template.example is not None
        execution_id = await engine.start(response.json()["name"], template.example["input"])
        results[template_id] = (execution_id, template.example.get("expect", {}))
    for template_id, template in sorted(CATALOG.items()):
        approve = (template.example or {}).get("approve")
        if approve:  # a human decides: wait until the approval step waits, then approve
            execution_id = results[template_id][0]
            await engine.wait(execution_id, timeout=60, status={"running"})
            await _until_waiting(engine, execution_id, approve["step"])
            decision = {"approver": approve["approver"], "decision": approve["decision"]}
            response = await api.post(
                f"/executions/{execution_id}/approvals/{approve['step']}", json=decision
            )
            assert response.status_code in (200, 202), response.text
    for template_id, (execution_id, expect) in results.items():
        state = await engine.wait(execution_id, timeout=60)
        assert state.status.value == expect.get("status", "completed"), (template_id, state.error)
        for step in expect.get("skipped", []):
            assert state.steps[step].status.value == "skipped", (template_id, step)
        for step in expect.get("fallback", []):
            assert state.steps[step].fallback, (template_id, step)
