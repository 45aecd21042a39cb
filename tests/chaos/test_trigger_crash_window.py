"""The trigger's crash window, found by the chaos suite's analysis: a request killed between
claiming its Idempotency-Key and publishing the start must not lose the execution.

The retry of that request (same key) is answered `deduplicated` with the claimed id; the
start command must then be published (again), or nothing ever runs that execution.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from tests.support.api import app_client, topic_reader
from workflows.contracts import StartExecution, decode
from workflows.contracts.topics import Topics
from workflows.services.infra.keys import Keys
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import StateStore

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).parents[2] / "examples" / "customer_onboarding.yaml"
WORKFLOW = "customerOnboardingWorkflow"
INPUT = {"customerId": "c1", "plan": "starter", "industry": "retail", "companySize": "small"}


@pytest.fixture
async def api(settings: Settings, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, redis) as client:
        yield client


async def _starts(settings: Settings, seconds: float = 8.0) -> list[StartExecution]:
    async with topic_reader(settings, Topics.with_prefix(settings.topic_prefix).start) as consumer:
        found: list[StartExecution] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not found:
            batch = await consumer.getmany(timeout_ms=200)
            found += [decode(StartExecution, r.value) for rs in batch.values() for r in rs]
        return found


async def test_retry_after_a_crash_between_claim_and_publish_starts_the_execution(
    api: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    response = await api.post(
        "/workflows", content=EXAMPLE.read_text(), headers={"content-type": "application/yaml"}
    )
    assert response.status_code == 201, response.text
    # What a trigger killed right after `claim_idempotency_key` leaves behind: the claim only.
    store = StateStore(redis, Keys(settings.key_prefix))
    orphan = "0123456789abcdef0123456789abcdef"
    assert await store.claim_idempotency_key(WORKFLOW, "k-1", orphan) == orphan

    retried = await api.post(
        f"/workflows/{WORKFLOW}/execute", json=INPUT, headers={"Idempotency-Key": "k-1"}
    )
    assert retried.status_code == 202, retried.text
    assert retried.json()["executionId"] == orphan and retried.json()["deduplicated"] is True
    starts = await _starts(settings)
    assert [s.execution_id for s in starts] == [orphan], "the execution would be lost"
    assert starts[0].input == INPUT and starts[0].idempotency_key == "k-1"
