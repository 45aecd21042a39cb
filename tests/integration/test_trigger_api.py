"""The trigger HTTP API against the real broker and Redis (no orchestrator running)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tests.support.api import app_client, topic_reader
from workflows.client import AsyncWorkflows
from workflows.client_errors import ApiError
from workflows.services.core.state import ExecutionState
from workflows.services.infra.keys import Keys
from workflows.services.infra.settings import Settings
from workflows.services.orchestrator.service import Orchestrator
from workflows.services.trigger import TriggerService

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).parents[2] / "examples" / "customer_onboarding.yaml"
YAML = {"content-type": "application/yaml"}
GOOD_INPUT = {"customerId": "c1", "plan": "starter", "industry": "retail", "companySize": "small"}


@pytest.fixture
async def api(settings: Settings, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, redis) as client:
        yield client


async def _register(api: httpx.AsyncClient) -> httpx.Response:
    return await api.post("/workflows", content=EXAMPLE.read_text(), headers=YAML)


async def _consume(settings: Settings, topic: str, want: int, seconds: float = 10.0) -> list[Any]:
    """Every record on `topic` (from the start) once `want` arrived, or at the deadline."""
    async with topic_reader(settings, topic) as consumer:
        records: list[Any] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and len(records) < want:
            batch = await consumer.getmany(timeout_ms=200)
            records.extend(r for rs in batch.values() for r in rs)
        if len(records) >= want:  # give a duplicate the chance to show up
            batch = await consumer.getmany(timeout_ms=500)
            records.extend(r for rs in batch.values() for r in rs)
    return records


async def test_register_yaml_then_identical_is_not_a_new_version(api: httpx.AsyncClient) -> None:
    first = await _register(api)
    assert first.status_code == 201, first.text
    assert first.json() == {
        "name": "customerOnboardingWorkflow",
        "version": 1,
        "created": True,
        "migrations": [],  # the first version moves no execution in flight
    }
    again = await _register(api)
    assert again.status_code == 200
    assert again.json()["version"] == 1
    assert again.json()["created"] is False

    listed = (await api.get("/workflows")).json()
    assert listed[0]["name"] == "customerOnboardingWorkflow"
    assert listed[0]["latestVersion"] == 1
    detail = (await api.get("/workflows/customerOnboardingWorkflow")).json()
    assert detail["definition"]["steps"][0]["id"] == "accountSetup"
    assert detail["versions"][0]["registeredBy"] == "anonymous"


async def test_register_as_json_and_a_changed_definition_is_version_two(
    api: httpx.AsyncClient,
) -> None:
    await _register(api)
    detail = (await api.get("/workflows/customerOnboardingWorkflow")).json()
    changed = {**detail["definition"], "description": "changed"}
    response = await api.post("/workflows", json=changed)
    assert response.status_code == 201
    assert response.json()["version"] == 2
    old = await api.get("/workflows/customerOnboardingWorkflow", params={"version": 1})
    assert old.json()["description"] != "changed"


async def test_invalid_definition_names_path_line_and_column(api: httpx.AsyncClient) -> None:
    text = EXAMPLE.read_text().replace('input.plan === "enterprise" ||', "input.plan === ||")
    response = await api.post("/workflows", content=text, headers=YAML)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid workflow definition"
    issue = body["issues"][0]
    assert issue["path"] == "steps[3].condition"
    assert issue["column"] == 18
    assert issue["line"] == 47


async def test_malformed_bodies_are_client_errors(api: httpx.AsyncClient) -> None:
    bad_json = await api.post(
        "/workflows", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 422
    assert "invalid JSON" in bad_json.json()["issues"][0]["message"]
    await _register(api)
    bad_input = await api.post(
        "/workflows/customerOnboardingWorkflow/execute",
        content=b"[1,",
        headers={"content-type": "application/json"},
    )
    assert bad_input.status_code == 400
    assert "not valid JSON" in bad_input.json()["error"]
    bad_spec = await api.post("/functions", json={"name": "x", "url": "ftp://nope"})
    assert bad_spec.status_code == 422
    assert bad_spec.json()["issues"][0]["path"] == "url"


async def test_execute_with_bad_input_names_the_field(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    await _register(api)
    response = await api.post(
        "/workflows/customerOnboardingWorkflow/execute", json={**GOOD_INPUT, "plan": "gold"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "input does not match the input schema of customerOnboardingWorkflow"
    assert body["issues"][0]["path"] == "plan"
    assert "gold" in body["issues"][0]["message"]
    assert await _consume(settings, f"{settings.topic_prefix}wf.executions.start", 1, 1) == []


async def test_execute_publishes_start_and_reads_as_pending(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    await _register(api)
    response = await api.post("/workflows/customerOnboardingWorkflow/execute", json=GOOD_INPUT)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "running"
    assert body["version"] == 1
    execution_id = body["executionId"]

    records = await _consume(settings, f"{settings.topic_prefix}wf.executions.start", 1)
    assert len(records) == 1
    assert records[0].key == execution_id.encode()
    message = json.loads(records[0].value)
    assert message["executionId"] == execution_id
    assert message["workflowVersion"] == 1
    assert message["input"] == GOOD_INPUT
    assert message["actor"] == {"kind": "api", "id": None}

    status = await api.get(f"/executions/{execution_id}", params={"includeMetrics": "true"})
    assert status.status_code == 200
    assert status.json()["status"] == "pending"
    assert status.json()["workflow"] == "customerOnboardingWorkflow"
    assert "auditTrail" not in status.json()


async def test_execute_takes_a_priority_and_refuses_one_out_of_range(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    await _register(api)
    url = "/workflows/customerOnboardingWorkflow/execute"
    refused = await api.post(url, params={"priority": 5000}, json=GOOD_INPUT)
    assert refused.status_code == 422
    assert "priority" in refused.text
    response = await api.post(url, params={"priority": 7}, json=GOOD_INPUT)
    assert response.status_code == 202
    records = await _consume(settings, f"{settings.topic_prefix}wf.executions.start", 1)
    assert [json.loads(r.value)["priority"] for r in records] == [7]


async def test_idempotency_key_deduplicates(api: httpx.AsyncClient, settings: Settings) -> None:
    await _register(api)
    url = "/workflows/customerOnboardingWorkflow/execute"
    headers = {"Idempotency-Key": "order-42"}
    first = await api.post(url, json=GOOD_INPUT, headers=headers)
    second = await api.post(url, json=GOOD_INPUT, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["executionId"] == second.json()["executionId"]
    assert first.json()["deduplicated"] is False
    assert second.json()["deduplicated"] is True
    # No orchestrator runs here, so the execution has no state yet when the second request
    # comes: the trigger publishes the same start again (a request that died between the
    # claim and the publish must not lose the execution); the orchestrator ignores a start
    # for an execution id it already has. Every record names the one execution.
    records = await _consume(settings, f"{settings.topic_prefix}wf.executions.start", 2)
    assert 1 <= len(records) <= 2
    starts = [json.loads(r.value) for r in records]
    assert {s["executionId"] for s in starts} == {first.json()["executionId"]}
    assert {s["idempotencyKey"] for s in starts} == {"order-42"}


async def test_unknown_things_are_404(api: httpx.AsyncClient) -> None:
    for method, url in [
        ("GET", "/workflows/nope"),
        ("POST", "/workflows/nope/execute"),
        ("GET", "/executions/nope"),
        ("POST", "/executions/nope/cancel"),
        ("POST", "/executions/nope/retry"),
    ]:
        response = await api.request(method, url)
        assert response.status_code == 404, (url, response.text)
        assert "nope" in response.json()["error"]
    await _register(api)
    missing = await api.get("/workflows/customerOnboardingWorkflow", params={"version": 9})
    assert missing.status_code == 404
    assert "no version 9" in missing.json()["error"]


async def _store_state(redis: Redis, settings: Settings, status: str) -> str:
    """Write an execution as the orchestrator would."""
    execution_id = uuid.uuid4().hex
    now = "2024-01-01T00:00:00Z"
    state = ExecutionState.model_validate(
        {
            "executionId": execution_id,
            "workflow": "customerOnboardingWorkflow",
            "workflowVersion": 1,
            "status": status,
            "input": GOOD_INPUT,
            "steps": {
                "accountSetup": {
                    "status": "succeeded",
                    "attempt": 2,
                    "startedAt": now,
                    "finishedAt": "2024-01-01T00:00:01.5Z",
                },
                "welcomeEmail": {"status": "running", "attempt": 1, "startedAt": now},
            },
            "createdAt": now,
            "updatedAt": now,
            "history": [{"seq": 1, "at": now, "type": "execution_started"}],
        }
    )
    key = Keys(settings.key_prefix)
    await redis.hset(key.state(execution_id), mapping={"rev": 1, "doc": state.model_dump_json()})
    await redis.zadd(key.executions, {execution_id: time.time()})
    return execution_id


async def test_status_metrics_audit_and_listing(
    api: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    execution_id = await _store_state(redis, settings, "running")
    params = {"includeMetrics": "true", "includeAuditTrail": "true"}
    body = (await api.get(f"/executions/{execution_id}", params=params)).json()
    assert body["status"] == "running"
    assert body["progress"] == {"done": 1, "total": 2, "currentSteps": ["welcomeEmail"]}
    assert body["currentSteps"] == ["welcomeEmail"]
    assert body["steps"]["accountSetup"]["attempt"] == 2
    assert body["metrics"]["stepDurationsMs"] == {"accountSetup": 1500}
    assert body["metrics"]["retries"] == 1
    assert body["auditTrail"][0]["type"] == "execution_started"

    listed = (await api.get("/executions", params={"status": "running"})).json()
    assert [e["executionId"] for e in listed] == [execution_id]
    assert (await api.get("/executions", params={"status": "failed"})).json() == []
    assert (await api.get("/executions", params={"workflow": "other"})).json() == []


async def test_retry_is_409_unless_failed(
    api: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    await _register(api)
    running = await _store_state(redis, settings, "running")
    response = await api.post(f"/executions/{running}/retry")
    assert response.status_code == 409
    assert "running" in response.json()["error"]

    failed = await _store_state(redis, settings, "failed")
    bad_step = await api.post(f"/executions/{failed}/retry", json={"fromStep": "nope"})
    assert bad_step.status_code == 422
    retried = await api.post(f"/executions/{failed}/retry", json={"fromStep": "welcomeEmail"})
    assert retried.status_code == 202
    new_id = retried.json()["executionId"]
    assert retried.json()["retryOf"] == failed
    assert (await api.get(f"/executions/{new_id}")).json()["status"] == "pending"
    records = await _consume(settings, f"{settings.topic_prefix}wf.executions.control", 1)
    message = json.loads(records[0].value)
    assert message["kind"] == "retry"
    assert message["newExecutionId"] == new_id
    assert message["fromStep"] == "welcomeEmail"


async def test_cancel_publishes_a_control_message(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    await _register(api)
    started = await api.post("/workflows/customerOnboardingWorkflow/execute", json=GOOD_INPUT)
    execution_id = started.json()["executionId"]
    response = await api.post(f"/executions/{execution_id}/cancel", json={"reason": "test"})
    assert response.status_code == 202
    paused = await api.post(f"/executions/{execution_id}/pause")
    assert paused.status_code == 202
    records = await _consume(settings, f"{settings.topic_prefix}wf.executions.control", 2)
    messages = [json.loads(r.value) for r in records]
    assert [m["kind"] for m in messages] == ["cancel", "pause"]
    assert messages[0]["reason"] == "test"
    assert {r.key for r in records} == {execution_id.encode()}


async def test_wait_returns_the_result_or_202_at_the_deadline(
    api: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    await _register(api)
    url = "/workflows/customerOnboardingWorkflow/execute"
    slow = await api.post(url, json=GOOD_INPUT, params={"wait": "true", "timeout": "0.2"})
    assert slow.status_code == 202
    assert slow.json()["status"] == "pending"

    async def finish_soon() -> None:
        await asyncio.sleep(0.1)
        records = await _consume(settings, f"{settings.topic_prefix}wf.executions.start", 2)
        done = await _store_state(redis, settings, "completed")
        key = Keys(settings.key_prefix)
        doc = (await redis.hget(key.state(done), "doc")) or b""
        state = json.loads(doc)
        ids = {json.loads(r.value)["executionId"] for r in records}
        (new_id,) = ids - {slow.json()["executionId"]}  # partitions do not keep global order
        state.update(executionId=new_id, output={"onboardingStatus": "completed"})
        await redis.hset(key.state(new_id), mapping={"rev": 1, "doc": json.dumps(state)})

    task = asyncio.create_task(finish_soon())
    fast = await api.post(url, json=GOOD_INPUT, params={"wait": "true", "timeout": "10"})
    await task
    assert fast.status_code == 200
    assert fast.json()["status"] == "completed"
    assert fast.json()["output"] == {"onboardingStatus": "completed"}


async def test_functions_openapi_health_and_metrics(api: httpx.AsyncClient) -> None:
    spec = {"name": "sendEmail", "url": "http://mail.local/send", "timeoutMs": 500}
    declared = await api.post("/functions", json=spec)
    assert declared.status_code == 201
    listed = (await api.get("/functions")).json()
    assert listed == [{**spec, "method": "POST", "headers": {}}]

    paths = (await api.get("/openapi.json")).json()["paths"]
    for path in ["/workflows", "/workflows/{name}/execute", "/executions/{execution_id}/retry"]:
        assert path in paths
    assert (await api.get("/healthz")).status_code == 200
    ready = await api.get("/readyz")
    assert ready.status_code == 200, ready.text
    await api.get("/executions/abc")
    text = (await api.get("/metrics")).text
    assert 'workflows_api_requests_total{route="/executions/{execution_id}",status="404"}' in text
    assert "/executions/abc" not in text


async def test_trigger_service_serves_the_sdk_over_real_http(settings: Settings) -> None:
    service = TriggerService(settings.model_copy(update={"http_port": 0}))
    task = asyncio.create_task(service.run())
    try:
        deadline = time.monotonic() + 15
        while not service.started:
            assert not task.done(), task
            assert time.monotonic() < deadline, "the service did not start"
            await asyncio.sleep(0.02)
        async with AsyncWorkflows(f"http://127.0.0.1:{service.port}") as wf:
            assert (await wf.register(str(EXAMPLE)))["version"] == 1
            execution_id = await wf.start("customerOnboardingWorkflow", GOOD_INPUT)
            assert (await wf.get_status(execution_id))["status"] == "pending"
            with pytest.raises(ApiError) as caught:
                await wf.start("customerOnboardingWorkflow", {})
            assert caught.value.status_code == 422
    finally:
        service.stop()
        service.stop()
        await asyncio.wait_for(task, 10)


async def _poll(api: httpx.AsyncClient, execution_id: str, want: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        body: dict[str, Any] = (await api.get(f"/executions/{execution_id}")).json()
        if body.get("status") == want or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.02)


async def test_with_the_orchestrator_start_cancel_and_retry(
    api: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    orchestrator = Orchestrator(settings, redis)
    task = asyncio.create_task(orchestrator.run())
    try:
        await _register(api)
        started = await api.post("/workflows/customerOnboardingWorkflow/execute", json=GOOD_INPUT)
        execution_id = started.json()["executionId"]
        running = await _poll(api, execution_id, "running")
        assert running["status"] == "running", running
        assert "accountSetup" in running["steps"]

        assert (await api.post(f"/executions/{execution_id}/cancel")).status_code == 202
        assert (await _poll(api, execution_id, "cancelled"))["status"] == "cancelled"
        again = await api.post(f"/executions/{execution_id}/cancel")
        assert again.status_code == 409

        retried = await api.post(f"/executions/{execution_id}/retry")
        assert retried.status_code == 202
        new = await _poll(api, retried.json()["executionId"], "running")
        assert new["status"] == "running", new
        assert new["retryOf"] == execution_id
        listed = await api.get("/executions", params={"workflow": "customerOnboardingWorkflow"})
        assert len(listed.json()) == 2
    finally:
        orchestrator.stop()
        await asyncio.wait_for(task, 10)
