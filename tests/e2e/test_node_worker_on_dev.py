"""The README's Node worker command against `workflows dev` (issue 21 item 10): dev with the
seed's functions minus sendPersonalizedEmail, the Node worker started with the export line dev
printed, and the seed completes with the e-mail sent by Node. Its producer used to ask the
embedded broker (Tansu) for an idempotent producer id and crashed at start."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_dev_state import _env, dev
from tests.e2e.test_node_worker import CUSTOMER, ROOT
from workflows.client import Workflows

pytestmark = pytest.mark.e2e
NODE_DIR = ROOT / "examples" / "workers" / "node"


@pytest.mark.timeout(240)
def test_the_node_worker_serves_the_seed_on_workflows_dev(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "kafkajs").exists():
        pytest.skip("needs node and `npm ci --prefix examples/workers/node` (make install)")
    env = _env(tmp_path)
    with dev(env, "--ephemeral", functions="examples.onboarding_without_email") as (found, _):
        bootstrap, redis_url, api_url = found.group(1), found.group(2), found.group(3)
        worker_env = {
            **env,
            "WORKFLOWS_KAFKA_BOOTSTRAP": bootstrap,
            "WORKFLOWS_REDIS_URL": redis_url,
        }
        log = tmp_path / "node.log"
        with log.open("w") as out:
            worker = subprocess.Popen(
                [node, "worker.js"], cwd=NODE_DIR, env=worker_env, stdout=out, stderr=out
            )
        try:
            with Workflows(api_url, timeout=60) as wf:
                wf.wait_ready(timeout=60)
                wf.register(str(ROOT / "examples" / "customer_onboarding.yaml"))
                execution_id = wf.start("customerOnboardingWorkflow", CUSTOMER)
                status = wf.wait(execution_id, timeout=90)
                full = wf.get_status(execution_id)
        finally:
            worker.terminate()
            worker.wait(30)
    text = log.read_text()
    assert status["status"] == "completed", (status.get("error"), text[-2000:])
    assert full["steps"]["welcomeEmail"]["output"]["sentBy"] == "node"
    assert "ERROR" not in text and "Error" not in text, text[-2000:]
