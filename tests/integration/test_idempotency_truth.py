"""Idempotency-Key tells the truth (issue 21 item 6): a deduplicated start answers with the
execution's status now, and a key sent again with another body is a 409 naming the key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from tests.support.api import app_client
from workflows.services.core.state import ExecutionState
from workflows.services.infra.keys import Keys
from workflows.services.infra.settings import Settings

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).parents[2] / "examples" / "customer_onboarding.yaml"
WORKFLOW = "customerOnboardingWorkflow"
URL = f"/workflows/{WORKFLOW}/execute"
INPUT = {"customerId": "c1", "plan": "starter", "industry": "retail", "companySize": "small"}


@pytest.fixture
async def api(settings: Settings, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, redis) as client:
        response = await client.post(
            "/workflows", content=EXAMPLE.read_text(), headers={"content-type": "application/yaml"}
        )
        assert response.status_code == 201, response.text
        yield client


async def _complete(redis: Redis, settings: Settings, execution_id: str) -> None:
    """Write the execution's state as the orchestrator leaves it when it has completed."""
    now = "2024-01-01T00:00:00Z"
    state = ExecutionState.model_validate(
        {
            "executionId": execution_id,
            "workflow": WORKFLOW,
            "workflowVersion": 1,
            "status": "completed",
            "input": INPUT,
            "output": {"done": True},
            "steps": {},
            "createdAt": now,
            "updatedAt": now,
            "history": [{"seq": 1, "at": now, "type": "execution_started"}],
        }
    )
    doc = {"rev": 1, "doc": state.model_dump_json()}
    await redis.hset(Keys(settings.key_prefix).state(execution_id), mapping=doc)  # type: ignore[arg-type]


async def test_a_deduplicated_start_answers_the_executions_status_now(
    api: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    headers = {"Idempotency-Key": "order-7"}
    first = await api.post(URL, json=INPUT, headers=headers)
    assert first.status_code == 202, first.text
    execution_id = first.json()["executionId"]
    # Sent again before the orchestrator has it: accepted, not yet running anywhere.
    early = await api.post(URL, json=INPUT, headers=headers)
    assert early.json()["deduplicated"] is True
    assert early.json()["status"] == "pending"
    await _complete(redis, settings, execution_id)
    again = await api.post(URL, json=INPUT, headers=headers)
    assert again.status_code == 202, again.text
    assert again.json()["executionId"] == execution_id
    assert again.json()["deduplicated"] is True
    assert again.json()["status"] == "completed"  # it answered "running"
    # Key order and spacing are not a different body.
    reordered = '{"companySize":"small", "industry":"retail","plan":"starter","customerId":"c1"}'
    same = await api.post(
        URL, content=reordered, headers={**headers, "content-type": "application/json"}
    )
    assert same.status_code == 202 and same.json()["executionId"] == execution_id


async def test_a_key_reused_with_another_body_is_a_409_naming_the_key(
    api: httpx.AsyncClient,
) -> None:
    headers = {"Idempotency-Key": "order-8"}
    first = await api.post(URL, json=INPUT, headers=headers)
    assert first.status_code == 202, first.text
    other = await api.post(URL, json={**INPUT, "customerId": "c2"}, headers=headers)
    assert other.status_code == 409, other.text
    error = other.json()["error"]
    assert "Idempotency-Key 'order-8'" in error and "different body" in error
    assert first.json()["executionId"] in error
    # The first body still gets its execution; another key starts a new one.
    same = await api.post(URL, json=INPUT, headers=headers)
    assert same.json()["executionId"] == first.json()["executionId"]
    fresh = await api.post(
        URL, json={**INPUT, "customerId": "c2"}, headers={"Idempotency-Key": "o-9"}
    )
    assert fresh.status_code == 202 and fresh.json()["deduplicated"] is False
