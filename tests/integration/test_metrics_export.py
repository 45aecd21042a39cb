"""Every service exports valid Prometheus metrics, and a real Prometheus scrapes them.

The five services run as OS processes (`workflows run X --metrics-port N`, the trigger on
its API port), like in production; a few onboarding executions run through them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.prometheus import MISSING, PROMETHEUS, check_metrics, query, running_prometheus
from workflows import Workflows
from workflows.testing.embedded import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).parent / "workflows")
WF = "customerOnboardingWorkflow"
COMPLETED = f'sum(workflows_executions_finished_total{{status="completed",workflow="{WF}"}})'


@dataclass
class Deployment:
    api: str
    targets: dict[str, str]  # service -> host:port of its /metrics

    def metrics_text(self, service: str) -> str:
        reply = httpx.get(f"http://{self.targets[service]}/metrics", timeout=5)
        reply.raise_for_status()
        return reply.text


@pytest.fixture
def deployment(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[Deployment]:
    prefix = f"m{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "WORKFLOWS_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "WORKFLOWS_REDIS_URL": redis_url,
        "WORKFLOWS_TOPIC_PREFIX": f"{prefix}.",
        "WORKFLOWS_KEY_PREFIX": prefix,
        "WORKFLOWS_AUTH": "off",
        "WORKFLOWS_PARTITIONS": "2",
        "PYTHONPATH": str(ROOT),
    }
    api_port = free_port()
    ports = {name: free_port() for name in ("orchestrator", "dispatcher", "worker", "notifier")}
    commands = {
        "trigger": ["run", "trigger", "--port", str(api_port)],
        **{name: ["run", name, "--metrics-port", str(port)] for name, port in ports.items()},
    }
    commands["worker"] += ["--functions", "tests.e2e.counting_functions"]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name, args in commands.items():
        log = (tmp_path / f"{name}.log").open("wb")
        procs[name] = subprocess.Popen(
            [EXE, *args], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    targets = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    try:
        yield Deployment(
            f"http://127.0.0.1:{api_port}", {"trigger": f"127.0.0.1:{api_port}", **targets}
        )
    finally:
        for proc in procs.values():
            proc.terminate()
        for name, proc in procs.items():
            try:
                code = proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            assert code in (0, -15), (
                f"{name} exited with {code}: " + (tmp_path / f"{name}.log").read_text()[-3000:]
            )


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the series `name{labels...}` (a subset of its labels) in an exposition."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def eventually(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s: {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def run_executions(api: str, count: int) -> None:
    with Workflows(api, timeout=30) as wf:
        wf.wait_ready(60)
        wf.register(str(ROOT / "examples" / "customer_onboarding.yaml"))
        ids = [
            wf.start(
                WF,
                {
                    "customerId": f"c{i}",
                    "plan": "enterprise" if i % 2 else "professional",
                    "industry": "retail",
                    "companySize": "medium",
                },
            )
            for i in range(count)
        ]
        assert [wf.wait(i, timeout=60)["status"] for i in ids] == ["completed"] * count


# What each service must have counted once the executions are done.
EXPECTED = {
    "orchestrator": [
        ("workflows_executions_finished_total", {"workflow": WF, "status": "completed"}),
        ("workflows_executions_started_total", {"workflow": WF}),
        ("workflows_step_duration_seconds_count", {"workflow": WF, "step": "accountSetup"}),
        ("workflows_consumer_lag_messages", {"service": "orchestrator"}),
    ],
    "dispatcher": [
        ("workflows_commands_routed_total", {"route": "forwarded"}),
        ("workflows_messages_processed_total", {"service": "dispatcher"}),
    ],
    "worker": [("workflows_messages_processed_total", {"service": "worker"})],
    "notifier": [("workflows_notifications_total", {"channel": "log", "outcome": "delivered"})],
    "trigger": [("workflows_api_requests_total", {"route": "/workflows/{name}/execute"})],
}


@pytest.mark.timeout(240)
def test_every_service_exports_valid_metrics_that_prometheus_scrapes(
    deployment: Deployment, tmp_path: Path
) -> None:
    run_executions(deployment.api, 4)

    def counted(service: str) -> bool:
        text = deployment.metrics_text(service)
        found = [sample(text, name, **labels) for name, labels in EXPECTED[service]]
        return None not in found  # a series exists once counted (a lag of 0 counts too)

    for service in deployment.targets:
        eventually(lambda s=service: counted(s), f"{service} exports {EXPECTED[service]}")
    orchestrator = deployment.metrics_text("orchestrator")
    assert sample(orchestrator, "workflows_executions_finished_total", status="completed") == 4
    assert sample(orchestrator, "workflows_executions_in_flight", workflow=WF) == 0

    if PROMETHEUS is None:
        pytest.skip(MISSING)
    for service in deployment.targets:
        checked = check_metrics(deployment.metrics_text(service))
        assert checked.returncode == 0, f"{service}: {checked.stdout}{checked.stderr}"

    up = f"count(up == 1) == {len(deployment.targets)}"
    with running_prometheus(deployment.targets, tmp_path / "prometheus") as prometheus:
        eventually(lambda: query(prometheus, up) is not None, "Prometheus scrapes every service")
        eventually(lambda: query(prometheus, COMPLETED) == 4, f"Prometheus answers {COMPLETED}")
