"""End to end: approvals wait durably while every service process is restarted.

The services run as separate OS processes. Executions wait (`waitForEvent`, `approval`);
every service gets SIGTERM and is started again; then the approval event is posted through
the API and a decision is made through the CLI: the executions complete. A second
`waitForEvent` execution with a short timeout takes its `onTimeout` path instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from workflows import AsyncWorkflows
from workflows.testing.embedded import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).parent / "workflows")
COMMANDS = [
    ["run", "trigger"],
    ["run", "orchestrator"],
    ["run", "dispatcher"],
    ["run", "notifier"],
    ["run", "worker", "--functions", "tests.e2e.approval_functions"],
]
ORDER = {
    "name": "orderApproval",
    "input": {
        "type": "object",
        "properties": {"orderId": {"type": "string"}, "timeout": {"type": "string"}},
    },
    "steps": [
        {
            "id": "awaitApproval",
            "function": "waitForEvent",
            "input": {
                "event": "approval.decided",
                "correlation": "{{execution.id}}",
                "timeout": "{{input.timeout}}",
            },
            "onTimeout": "escalate",
        },
        {
            "id": "fulfil",
            "function": "fulfilOrder",
            "input": {"orderId": "{{input.orderId}}", "decision": "{{awaitApproval}}"},
        },
        {"id": "escalate", "function": "notifyTimeout", "input": {"orderId": "{{input.orderId}}"}},
    ],
}
EXPENSE = {
    "name": "expenseApproval",
    "steps": [
        {
            "id": "approve",
            "function": "approval",
            "input": {"approvers": ["ann", "bob"], "quorum": "any", "deadline": "1h"},
        },
        {
            "id": "pay",
            "function": "fulfilOrder",
            "input": {"orderId": "x1", "decision": "{{approve}}"},
        },
    ],
}


class Services:
    def __init__(self, env: dict[str, str], port: int, logs: Path) -> None:
        self.env, self.port, self.logs = env, port, logs
        self.procs: list[subprocess.Popen[bytes]] = []
        self.round = 0

    def start(self) -> None:
        self.round += 1
        for args in COMMANDS:
            extra = ["--port", str(self.port)] if args[1] == "trigger" else []
            log = (self.logs / f"{args[1]}.{self.round}.log").open("wb")
            self.procs.append(
                subprocess.Popen(
                    [EXE, *args, *extra],
                    env=self.env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

    def stop(self) -> None:
        """SIGTERM every service; each must exit cleanly."""
        procs, self.procs = self.procs, []
        for proc in procs:
            proc.terminate()
        for proc, args in zip(procs, COMMANDS, strict=True):
            try:
                code = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            log = self.logs / f"{args[1]}.{self.round}.log"
            assert code in (0, -15), f"{args[1]} exited with {code}: {log.read_text()[-3000:]}"


@pytest.fixture
def services(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[Services, str]]:
    prefix = f"e2a{uuid.uuid4().hex[:6]}"
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
    running = Services(env, free_port(), tmp_path)
    running.start()
    try:
        yield running, prefix
    finally:
        running.stop()


async def waiting(wf: AsyncWorkflows, execution_id: str, step: str, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        status = await wf.get_status(execution_id)
        if status.get("steps", {}).get(step, {}).get("status") == "waiting":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{execution_id}: {step} is not waiting: {status}")


@pytest.mark.timeout(300)
async def test_approval_completes_after_every_service_restarted(
    services: tuple[Services, str], redis_url: str
) -> None:
    running, prefix = services
    url = f"http://127.0.0.1:{running.port}"
    async with AsyncWorkflows(url, timeout=60) as wf:
        await wf.wait_ready(timeout=60)
        await wf.register(ORDER)
        await wf.register(EXPENSE)
        approved = await wf.start("orderApproval", {"orderId": "o-1", "timeout": "10m"})
        expired = await wf.start("orderApproval", {"orderId": "o-2", "timeout": "6s"})
        expense = await wf.start("expenseApproval", {})
        await waiting(wf, approved, "awaitApproval")
        await waiting(wf, expired, "awaitApproval")
        await waiting(wf, expense, "approve")

    await asyncio.to_thread(running.stop)  # every service: SIGTERM
    await asyncio.to_thread(running.start)

    async with AsyncWorkflows(url, timeout=60) as wf:
        await wf.wait_ready(timeout=60)
        sent = await wf.signal_event("approval.decided", approved, {"approved": True, "by": "ann"})
        assert sent["executions"] == [approved], sent
        cli = await asyncio.to_thread(
            subprocess.run,
            [EXE, "approve", expense, "approve", "--as", "bob", "--comment", "within budget",
             "--url", url],
            capture_output=True, text=True, env=running.env, cwd=ROOT,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stdout + cli.stderr
        done = await wf.wait(approved, timeout=90)
        timed_out = await wf.wait(expired, timeout=90)
        paid = await wf.get_status(expense, include_audit_trail=True)
        paid = await wf.wait(expense, timeout=90) if paid["status"] != "completed" else paid
        audit = (await wf.get_status(expense, include_audit_trail=True))["auditTrail"]

    assert done["status"] == "completed", done
    assert done["output"] == {
        "fulfilled": "o-1",
        "decision": {"approved": True, "by": "ann"},
    }
    assert done["steps"]["escalate"]["status"] == "skipped"
    assert timed_out["status"] == "completed", timed_out
    assert timed_out["steps"]["awaitApproval"]["output"] == {"timedOut": True}
    assert timed_out["steps"]["fulfil"]["status"] == "skipped"
    assert timed_out["output"] == {"notified": "o-2"}
    assert paid["status"] == "completed", paid
    decision: dict[str, Any] = next(e for e in audit if e["type"] == "step.approval")
    assert decision["actor"] == {"kind": "user", "id": "bob"}
    assert decision["data"]["decision"] == "approve"
    assert decision["data"]["comment"] == "within budget"
    redis = Redis.from_url(redis_url)
    calls = {k.decode(): int(v) for k, v in redis.hgetall(f"{prefix}:calls").items()}
    redis.close()
    assert calls == {"fulfilOrder": 2, "notifyTimeout": 1}, json.dumps(calls)
