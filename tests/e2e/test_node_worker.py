"""Any-language workers: the seed runs with `sendPersonalizedEmail` served by Node.js."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import ROOT, processes, service_env, stack_commands
from workflows import AsyncWorkflows
from workflows.embedded import free_port

pytestmark = pytest.mark.e2e
NODE_DIR = ROOT / "examples" / "workers" / "node"


@pytest.fixture
def services(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "kafkajs").is_dir():
        pytest.skip("needs node and `npm ci` in examples/workers/node (make install does it)")
    prefix = f"node{uuid.uuid4().hex[:6]}"
    port = free_port()
    env = service_env(kafka_bootstrap, redis_url, prefix, partitions=None)
    commands = stack_commands(port, "tests.e2e.seed_without_email")
    commands["node"] = [node, str(NODE_DIR / "worker.js")]
    try:
        with processes(commands, env, tmp_path, check_exit=False):
            yield f"http://127.0.0.1:{port}"
    finally:
        if (tmp_path / "node.log").exists():
            print((tmp_path / "node.log").read_text()[-2000:])


@pytest.mark.timeout(180)
async def test_seed_runs_with_the_node_worker_sending_the_email(services: str) -> None:
    async with AsyncWorkflows(services, timeout=60) as wf:
        await wf.wait_ready(timeout=60)
        await wf.register(str(ROOT / "examples" / "customer_onboarding.yaml"))
        customer = {
            "customerId": "cust_9",
            "plan": "enterprise",
            "industry": "retail",
            "companySize": "large",
        }
        execution_id = await wf.start("customerOnboardingWorkflow", customer)
        status = await wf.wait(execution_id, timeout=120)
        assert status["status"] == "completed", status.get("error")
        full = await wf.get_status(execution_id)
    email = full["steps"]["welcomeEmail"]
    assert email["output"]["sentBy"] == "node"
    assert email["output"]["to"] == "cust-9@customers.example.com"
    assert full["steps"]["scheduleKickoff"]["status"] == "succeeded"
