"""Any-language workers: the seed runs with `sendPersonalizedEmail` served by Node.js.

`seed_stack` and `run_seed` are shared by the other runtimes' tests (test_go_worker.py,
test_java_worker.py, test_confluent_worker.py, test_kcat_worker.py): the engine's services as
processes with the seed's Python functions minus the e-mail step, plus the runtime's worker;
the seed workflow must complete with the e-mail sent by that runtime, and the worker must
drain and exit 0 on SIGTERM.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import ROOT, processes, service_env, stack_commands
from workflows import AsyncWorkflows
from workflows.testing.embedded import free_port

pytestmark = pytest.mark.e2e
WORKERS = ROOT / "examples" / "workers"
NODE_DIR = WORKERS / "node"
SEED_FUNCTIONS = "examples.workers.seed_functions"  # the seed minus sendPersonalizedEmail
CUSTOMER = {
    "customerId": "cust_9",
    "plan": "enterprise",
    "industry": "retail",
    "companySize": "large",
}


# The Node, Go, Java and kcat workers run the seed with record signing on (every service
# and the worker share the key: an unsigned or wrongly signed result would stall the seed);
# the Python worker and the in-process runs keep it off, so both modes run end to end.
SIGNED = {"WORKFLOWS_SIGNING_KEY": "e2e-signing-key"}


@contextmanager
def seed_stack(
    kafka_bootstrap: str,
    redis_url: str,
    logs: Path,
    runtime: str,
    worker: Sequence[str],
    extra_env: Mapping[str, str] | None = None,
    functions: str = SEED_FUNCTIONS,
) -> Iterator[str]:
    """The services plus `worker` (argv) under a fresh prefix, the Python functions from
    the module `functions`; yields the API's URL.

    On exit the worker gets SIGTERM first and must drain and exit 0 within 30 s.
    """
    prefix = f"{runtime}{uuid.uuid4().hex[:6]}"
    port = free_port()
    env = service_env(kafka_bootstrap, redis_url, prefix, partitions=None, **(extra_env or {}))
    commands = stack_commands(port, functions)
    commands[runtime] = list(worker)
    log = logs / f"{runtime}.log"
    try:
        with processes(commands, env, logs, check_exit=False) as procs:
            yield f"http://127.0.0.1:{port}"
            procs[runtime].terminate()
            try:
                code = procs[runtime].wait(30)
            except subprocess.TimeoutExpired:
                code = None
            assert code == 0, f"the {runtime} worker did not drain on SIGTERM (exit {code})"
    finally:
        if log.exists():
            print(log.read_text(errors="replace")[-3000:])


async def run_seed(base_url: str, runtime: str) -> dict[str, Any]:
    """Register and run the seed; assert it completed with the e-mail sent by `runtime`."""
    async with AsyncWorkflows(base_url, timeout=60) as wf:
        await wf.wait_ready(timeout=60)
        await wf.register(str(ROOT / "examples" / "customer_onboarding.yaml"))
        execution_id = await wf.start("customerOnboardingWorkflow", CUSTOMER)
        status = await wf.wait(execution_id, timeout=90)
        assert status["status"] == "completed", status.get("error")
        full: dict[str, Any] = await wf.get_status(execution_id)
    email = full["steps"]["welcomeEmail"]
    print(
        f"seed execution {execution_id}: {full['status']}, "
        f"welcomeEmail sentBy={email['output']['sentBy']!r} ({runtime} worker)"
    )
    assert email["output"]["sentBy"] == runtime
    assert email["output"]["to"] == "cust-9@customers.example.com"
    assert len(email["output"]["messageId"]) == 16
    assert full["steps"]["scheduleKickoff"]["status"] == "succeeded"
    return full


@pytest.fixture
def services(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "kafkajs").is_dir():
        pytest.skip("needs node and `npm ci` in examples/workers/node (make install does it)")
    worker = [node, str(NODE_DIR / "worker.js")]
    with seed_stack(kafka_bootstrap, redis_url, tmp_path, "node", worker, SIGNED) as url:
        yield url


@pytest.mark.timeout(180)
async def test_seed_runs_with_the_node_worker_sending_the_email(services: str) -> None:
    await run_seed(services, "node")
