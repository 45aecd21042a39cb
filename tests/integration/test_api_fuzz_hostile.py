"""schemathesis and hypothesis against a trigger holding hostile data (issue 20, item 2).

The trigger runs as its own process (`workflows run trigger`). Before schemathesis walks
every operation, its Redis holds what an older build let in: a schedule starting in year
9999, one whose cron never fires, a definition with NaN in its input schema; and a workflow
whose input schema has `^(a+)+$`. Then hypothesis posts hostile JSON (deep nesting, huge
integers, NaN/Infinity, lone surrogates, claim-check shapes) to every JSON-body route.
No answer may be a 5xx.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fuzz import ST
from tests.support.stack import ROOT, trigger_process
from workflows import AsyncWorkflows
from workflows.services.infra.redis_client import connect_redis_url_sync

pytestmark = pytest.mark.integration

REGEX_WORKFLOW = {
    "name": "codes",
    "input": {  # required: schemathesis' `{}` is a 422, not an execution it waits for
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}},
        "required": ["code"],
    },
    "steps": [{"id": "check", "function": "checkCode", "input": {"c": "{{input.code}}"}}],
    "triggers": [{"event": "code.sent"}],
}


@pytest.fixture
def trigger(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    prefix = f"hf{uuid.uuid4().hex[:6]}"
    with trigger_process(kafka_bootstrap, redis_url, tmp_path, prefix) as (url, _):
        _seed_old_build_data(redis_url, prefix)
        yield url


def _seed_old_build_data(redis_url: str, prefix: str) -> None:
    created = datetime.now(UTC).isoformat()
    client = connect_redis_url_sync(redis_url)  # a single server or a cluster (test-cluster)
    try:
        for schedule_id, extra in [
            ("late", {"every": "1m", "startAt": "9999-12-31T23:59:59Z"}),
            ("never", {"cronExpression": "0 0 30 2 *"}),
        ]:
            doc = {"id": schedule_id, "workflow": "codes", "createdAt": created, **extra}
            key = f"{prefix}:{{sched}}:{schedule_id}"
            client.hset(key, mapping={"doc": json.dumps(doc), "next": "0", "paused": "0"})
            client.sadd(f"{prefix}:{{sched}}:ids", schedule_id)
            client.zadd(f"{prefix}:{{sched}}:due", {schedule_id: 0})
    finally:
        client.close()


def _summary_numbers(summary: str) -> tuple[int, int]:
    operations = re.search(r"(\d+) selected", summary) or re.search(r"(\d+) operations", summary)
    cases = re.search(r"(\d+) generated", summary)
    return (
        int(operations.group(1)) if operations else -1,
        int(cases.group(1)) if cases else -1,
    )


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**200), max_value=10**200)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(codec=None), max_size=12)
    | st.just({"$claim": "0" * 64, "size": 1, "execution": "x"})
)
VALUES = st.recursive(
    SCALARS,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=15,
)
BODIES = VALUES.map(json.dumps) | st.integers(1000, 100_000).map(lambda n: "[" * n + "]" * n)
ROUTES = [
    "/workflows/codes/execute",
    "/events/code.sent",
    "/schedules",
    "/workflows",
    "/workflows/validate",
    "/workflows/simulate",
    "/executions/x/retry",
    "/executions/x/cancel",
    "/signals/order.approved",
    "/functions",
]


@pytest.mark.timeout(400)
async def test_hostile_data_and_schemathesis_find_no_server_errors(trigger: str) -> None:
    async with AsyncWorkflows(trigger) as wf:
        await wf.wait_ready(timeout=60)
        await wf.register(REGEX_WORKFLOW)
        await wf.register(str(ROOT / "examples" / "customer_onboarding.yaml"))
    async with httpx.AsyncClient(base_url=trigger, timeout=30) as api:
        listed = await api.get("/schedules", params={"upcoming": 100})
        assert listed.status_code == 200, listed.text
        assert {s["id"] for s in listed.json()} == {"late", "never"}
        slow = await api.post("/workflows/codes/execute", json={"code": "a" * 29 + "!"})
        assert slow.status_code == 422 and slow.elapsed.total_seconds() < 1

    statuses: list[int] = []

    @given(st.sampled_from(ROUTES), BODIES)
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    def post(route: str, body: str) -> None:
        answer = httpx.post(
            f"{trigger}{route}",
            content=body,
            headers={"content-type": "application/json"},
            timeout=30,
        )
        statuses.append(answer.status_code)
        assert answer.status_code < 500, (route, body[:200], answer.text)

    await asyncio.to_thread(post)
    print(f"hypothesis: {len(statuses)} hostile bodies, 5xx: 0, statuses {sorted(set(statuses))}")

    command = [ST, "run", f"{trigger}/openapi.json", "--checks", "not_a_server_error"]
    command += ["--max-examples", "40", "--generation-deterministic", "--request-timeout", "60"]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
    summary = done.stdout[-3000:]
    operations, cases = _summary_numbers(done.stdout)
    print(summary)
    print(f"schemathesis: {operations} operations, {cases} cases, exit {done.returncode}")
    assert done.returncode == 0, summary
    assert cases > 0
