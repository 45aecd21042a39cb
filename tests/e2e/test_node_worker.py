"""Any-language workers: the seed runs with `sendPersonalizedEmail` served by Node.js."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from workflows import AsyncWorkflows
from workflows.embedded import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "examples" / "workers" / "node"
EXE = str(Path(sys.executable).parent / "workflows")


@pytest.fixture
def services(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "kafkajs").is_dir():
        pytest.skip("needs node and `npm ci` in examples/workers/node (make install does it)")
    prefix = f"node{uuid.uuid4().hex[:6]}"
    port = free_port()
    env = {
        **os.environ,
        "WORKFLOWS_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "WORKFLOWS_REDIS_URL": redis_url,
        "WORKFLOWS_TOPIC_PREFIX": f"{prefix}.",
        "WORKFLOWS_KEY_PREFIX": prefix,
        "PYTHONPATH": str(ROOT),
    }
    commands = {
        "trigger": [EXE, "run", "trigger", "--port", str(port)],
        "orchestrator": [EXE, "run", "orchestrator"],
        "dispatcher": [EXE, "run", "dispatcher"],
        "worker": [EXE, "run", "worker", "--functions", "tests.e2e.seed_without_email"],
        "node": [node, str(NODE_DIR / "worker.js")],
    }
    procs = {}
    for name, argv in commands.items():
        log = (tmp_path / f"{name}.log").open("wb")
        procs[name] = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
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
