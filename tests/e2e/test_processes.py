"""End to end: the four services and a worker as separate OS processes, 200 executions at once."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from tests.support.stack import EXE, ROOT, service_stack
from workflows import AsyncWorkflows

pytestmark = pytest.mark.e2e
N = 200


@pytest.fixture
def services(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    with service_stack(
        kafka_bootstrap,
        redis_url,
        tmp_path,
        tag="e2e",
        functions="tests.e2e.counting_functions",
        notifier=True,
        partitions=4,
    ) as (base_url, prefix):
        yield base_url, prefix


@pytest.mark.timeout(420)
async def test_200_concurrent_executions_across_processes(
    services: tuple[str, str], redis_url: str
) -> None:
    base_url, prefix = services
    async with AsyncWorkflows(base_url, timeout=60) as wf:
        await wf.wait_ready(timeout=60)
        await wf.register(str(ROOT / "examples" / "customer_onboarding.yaml"))
        inputs = [
            {
                "customerId": f"c{i}",
                "plan": "enterprise" if i % 2 else "professional",
                "industry": "retail",
                "companySize": "medium",
            }
            for i in range(N)
        ]
        ids = await asyncio.gather(*(wf.start("customerOnboardingWorkflow", x) for x in inputs))
        statuses = []
        for execution_id in ids:
            statuses.append(await wf.wait(execution_id, timeout=240))
    assert [s["status"] for s in statuses] == ["completed"] * N
    shown = await asyncio.to_thread(
        subprocess.run,
        [EXE, "status", ids[1], "--audit", "--json", "--url", base_url],
        capture_output=True,
        text=True,
        check=True,
    )
    status = json.loads(shown.stdout)
    assert (
        status["status"] == "completed" and status["auditTrail"][0]["type"] == "execution.started"
    )
    assert status["steps"]["scheduleKickoff"]["status"] == "succeeded"  # ids[1] is enterprise
    enterprise = N // 2
    professional = N - enterprise
    redis = Redis.from_url(redis_url)
    calls = {k.decode(): int(v) for k, v in redis.hgetall(f"{prefix}:calls").items()}
    assert calls == {
        "setupCustomerAccount": N,
        "sendPersonalizedEmail": N,
        "allocateResources": N,
        "assignAccountManager": enterprise,
        "scheduleKickoffCall": enterprise,
        "generateCustomerSuccessPlan": N,
    }, calls
    runs = [int(v) for v in redis.hgetall(f"{prefix}:runs").values()]
    assert len(runs) == 4 * professional + 6 * enterprise and set(runs) == {1}
    redis.close()
