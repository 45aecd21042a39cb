"""Business KPIs and the audit trail over the real broker and Redis, through the HTTP API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

import examples.onboarding_functions as seed_functions
from tests.support.api import topic_reader
from tests.support.runtime import Engine, running_engine
from workflows.client import AsyncWorkflows
from workflows.errors import FatalError
from workflows.functions import FunctionContext, FunctionRegistry
from workflows.services.infra.settings import Settings
from workflows.services.trigger import create_app

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "customer_onboarding.yaml"
SEED_KPIS = {"timeToFirstLogin", "onboardingCompletionRate", "timeToValue"}
PRO = {"customerId": "c1", "plan": "professional", "industry": "retail", "companySize": "medium"}
ENT = {**PRO, "customerId": "c2", "plan": "enterprise"}
DOOMED = {**PRO, "customerId": "doomed"}
SECRET = "sk-live-0123456789"
SECRETIVE = {
    "name": "secretive",
    "input": {
        "type": "object",
        "properties": {
            "user": {"type": "string"},
            "apiKey": {"type": "string", "writeOnly": True},
        },
        "required": ["user", "apiKey"],
    },
    "steps": [
        {
            "id": "call",
            "function": "callPartnerApi",
            "input": {"user": "{{input.user}}", "authorization": "Bearer {{input.apiKey}}"},
        }
    ],
}


class Received:
    def __init__(self) -> None:
        self.inputs: list[dict[str, Any]] = []


def registry(received: Received) -> FunctionRegistry:
    """The example's own functions, a success plan that fails for `doomed`, a secret consumer."""
    out = FunctionRegistry()
    # the module's functions themselves, not whatever another test left in default_registry
    for name, fn in {
        "setupCustomerAccount": seed_functions.setup_customer_account,
        "sendPersonalizedEmail": seed_functions.send_personalized_email,
        "allocateResources": seed_functions.allocate_resources,
        "assignAccountManager": seed_functions.assign_account_manager,
        "scheduleKickoffCall": seed_functions.schedule_kickoff_call,
        "sendSchedulingLink": seed_functions.send_scheduling_link,
    }.items():
        out.register(fn, name)

    def plan(data: seed_functions.PlanInput, ctx: FunctionContext) -> seed_functions.SuccessPlan:
        if data.customerId == "doomed":
            raise FatalError("no such customer")
        return seed_functions.generate_customer_success_plan(data, ctx)

    def call_partner_api(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        received.inputs.append(data)
        return {"ok": True, "echo": data["authorization"]}

    out.register(plan, "generateCustomerSuccessPlan")
    out.register(call_partner_api, "callPartnerApi")
    return out


@pytest.fixture
async def received() -> Received:
    return Received()


@pytest.fixture
async def engine(settings: Settings, received: Received) -> AsyncIterator[Engine]:
    async with running_engine(settings, registry(received)) as running:
        yield running


@pytest.fixture
async def client(settings: Settings, redis: Redis, engine: Engine) -> AsyncIterator[AsyncWorkflows]:
    app = create_app(settings, redis)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with AsyncWorkflows("http://test", transport=transport) as wf:
            await wf.register(EXAMPLE)
            await wf.register(SECRETIVE)
            yield wf


async def _run(engine: Engine, client: AsyncWorkflows, input_: dict[str, Any]) -> str:
    execution_id = await client.start("customerOnboardingWorkflow", input_)
    await engine.wait(execution_id)
    return execution_id


async def _until(check: Callable[[], Awaitable[Any]], seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


async def _records(settings: Settings, topic: str, execution_id: str, want: int) -> list[Any]:
    """The decoded records of `execution_id` on `topic`, once `want` arrived (or at 10 s)."""
    async with topic_reader(settings, topic) as consumer:
        found: list[Any] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(found) < want:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                found += [r for r in records if r.key == execution_id.encode()]
    return found


async def test_get_status_with_metrics_returns_the_seed_kpis(
    engine: Engine, client: AsyncWorkflows
) -> None:
    execution_id = await _run(engine, client, PRO)
    status = await client.get_status(execution_id, include_metrics=True)
    assert status["status"] == "completed", status.get("error")
    kpis = status["metrics"]["kpis"]
    assert set(kpis) == SEED_KPIS
    assert kpis == {
        "timeToFirstLogin": 45.0,
        "onboardingCompletionRate": 100.0,
        "timeToValue": 10.0,
    }
    assert status["metrics"]["kpisMissing"] == {}
    assert "_kpis" not in status["steps"]["accountSetup"]["output"]
    state = await engine.state(execution_id)
    assert state is not None and set(state.kpis) == SEED_KPIS
    completed = state.history[-1]
    assert completed.type == "execution.completed" and completed.data["kpis"] == kpis


async def test_workflow_metrics_aggregate_over_executions(
    engine: Engine, client: AsyncWorkflows
) -> None:
    for input_ in (PRO, {**PRO, "customerId": "c3"}, ENT, DOOMED):
        await _run(engine, client, input_)

    async def four() -> dict[str, Any] | None:
        body = await client.workflow_metrics("customerOnboardingWorkflow")
        return body if body["executions"] == 4 else None

    body = await _until(four)
    assert body is not None, "the outcome samples were not recorded"
    assert body["byStatus"] == {"completed": 3, "failed": 1}
    assert body["completionRate"] == pytest.approx(0.75)
    assert body["durationMs"]["count"] == 3 and body["durationMs"]["p95"] is not None
    kpis = body["kpis"]
    assert list(kpis) == ["timeToFirstLogin", "onboardingCompletionRate", "timeToValue"]
    value = kpis["timeToValue"]
    assert (value["count"], value["missing"], value["unit"]) == (3, 1, "days")
    assert value["mean"] == pytest.approx((10 + 10 + 21) / 3)
    assert (value["p50"], value["min"], value["max"]) == (10.0, 10.0, 21.0)
    assert value["p95"] == pytest.approx(19.9)
    rate = kpis["onboardingCompletionRate"]
    assert (rate["count"], rate["mean"]) == (4, pytest.approx(75.0))
    login = kpis["timeToFirstLogin"]  # reported by accountSetup, which ran in all four
    assert (login["count"], login["p50"]) == (4, 45.0)

    # Recording an execution's sample again (a re-flushed outbox) changes nothing.
    store = engine.store
    key = store.keys.outcomes("customerOnboardingWorkflow")
    sample = (await store.outcomes("customerOnboardingWorkflow"))[0]
    member = json.dumps(sample, sort_keys=True, separators=(",", ":"))
    ended = await engine.redis.zscore(key, member)
    assert ended is not None
    await store.record_outcome("customerOnboardingWorkflow", member, int(ended))
    assert await engine.redis.zcard(key) == 4
    assert (await client.workflow_metrics("customerOnboardingWorkflow", limit=2))["executions"] == 2


async def test_metrics_of_an_unknown_workflow_is_404(client: AsyncWorkflows) -> None:
    with pytest.raises(Exception, match="not registered"):
        await client.workflow_metrics("nope")


async def test_the_events_topic_carries_every_audit_entry_in_order(
    engine: Engine, client: AsyncWorkflows, settings: Settings
) -> None:
    execution_id = await _run(engine, client, ENT)
    state = await engine.state(execution_id)
    assert state is not None and state.status.value == "completed"
    records = await _records(settings, engine.topics.events, execution_id, len(state.history))
    audit = [json.loads(r.value) for r in records]
    assert [(a["type"], a.get("stepId")) for a in audit] == [
        (e.type, e.step_id) for e in state.history
    ]
    assert [a["data"] for a in audit] == [e.data for e in state.history]
    assert audit[0]["actor"] == {"kind": "api", "id": None}
    assert all(a["actor"] == {"kind": "system", "id": None} for a in audit[2:])
    assert audit[-1]["data"]["kpis"] == state.kpis


async def test_secret_input_reaches_the_function_but_no_record(
    engine: Engine, client: AsyncWorkflows, settings: Settings, received: Received
) -> None:
    output = await client.execute("secretive", {"user": "ann", "apiKey": SECRET})
    assert output == {"ok": True, "echo": "Bearer ***"}  # the API masks the echo (issue 20)
    assert received.inputs == [{"user": "ann", "authorization": f"Bearer {SECRET}"}]
    execution_id = (await client.list_executions(workflow="secretive"))[0]["executionId"]
    status = await client.get_status(execution_id, include_audit_trail=True)
    assert status["input"] == {"user": "ann", "apiKey": "***"}
    assert SECRET not in json.dumps(status["auditTrail"]) + json.dumps(status["steps"])
    assert status["auditTrail"][0]["data"]["input"] == {"user": "ann", "apiKey": "***"}
    started = next(e for e in status["auditTrail"] if e["type"] == "step.started")
    assert started["data"]["input"]["authorization"] == "Bearer ***"
    state = await engine.state(execution_id)
    assert state is not None and SECRET not in json.dumps(
        [e.model_dump(mode="json") for e in state.history]
    )
    want = len(state.history)
    for topic in (engine.topics.events,):
        records = await _records(settings, topic, execution_id, want)
        assert len(records) >= want, topic
        assert not any(SECRET.encode() in r.value for r in records), topic
    commands = await _records(settings, engine.topics.step_commands, execution_id, 1)
    assert SECRET.encode() in commands[0].value  # the function needs the real value
