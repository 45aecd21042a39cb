"""The dashboard's KPIs, metrics page and approvals in headless Chromium, access control on.

The services run as processes (trigger, orchestrator, dispatcher, a worker with the seed's
and the approval test's functions) with API keys required. A read-only key sees an
execution's KPIs with their units, the workflows list's KPI column and the per-workflow
metrics page, which match `GET /workflows/{name}/metrics`; it sees a waiting approval's
approvers, quorum, deadline and message but its Approve gets the API's 403. An admin key
(not bound to one approver, so it may decide on each approver's behalf; an unbound
execute key may not: tests/integration/test_approval_identity.py) approves as each
approver and sends the signal the next step waits for, and the execution completes.
Screenshots go to `test-artifacts/dashboard/`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.support.browser import browser_page, needs_chromium, screenshot
from tests.support.stack import EXE, ROOT, processes, service_env, stack_commands, wait_ready
from workflows.testing.embedded import free_port

pytestmark = [pytest.mark.e2e, needs_chromium]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
SEED = "customerOnboardingWorkflow"
REFUND = {
    "name": "refundApproval",
    "input": {"type": "object", "properties": {"orderId": {"type": "string"}}},
    "steps": [
        {
            "id": "approve",
            "function": "approval",
            "input": {
                "approvers": ["ann", "bob"],
                "quorum": "unanimous",
                "deadline": "1h",
                "message": "Refund 120 EUR for order {{input.orderId}}?",
            },
        },
        {"id": "pickup", "function": "waitForEvent", "input": {"event": "parcel.picked"}},
        {
            "id": "pay",
            "function": "fulfilOrder",
            "input": {"orderId": "{{input.orderId}}", "decision": "{{pickup}}"},
        },
    ],
}


class Stack:
    def __init__(self, base_url: str, env: dict[str, str]) -> None:
        self.base_url = base_url
        self.env = env
        self.keys: dict[str, str] = {}

    def key(self, scope: str) -> str:
        if scope not in self.keys:
            argv = [EXE, "keys", "create", "--scope", scope, "--name", f"ui {scope}", "--json"]
            done = subprocess.run(
                argv, env=self.env, cwd=ROOT, capture_output=True, text=True, check=True
            )
            self.keys[scope] = str(json.loads(done.stdout)["token"])
        return self.keys[scope]

    def http(self, scope: str) -> httpx.AsyncClient:
        auth = {"Authorization": f"Bearer {self.key(scope)}"}
        return httpx.AsyncClient(base_url=self.base_url, headers=auth, timeout=10)


@pytest.fixture(scope="module")
def stack(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("insights")
    port = free_port()
    env = service_env(kafka_bootstrap, redis_url, f"ins{uuid.uuid4().hex[:6]}", auth="on")
    commands = stack_commands(port, "tests.e2e.insights_functions")
    with processes(commands, env, logs):
        yield Stack(f"http://127.0.0.1:{port}", env)


async def _until(http: httpx.AsyncClient, path: str, ready: Any, timeout: float = 60) -> Any:
    """GET `path` until `ready(body)` is true; the body."""
    deadline = time.monotonic() + timeout
    while True:
        body = (await http.get(path)).json()
        if ready(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{path}: not ready after {timeout}s: {body}")
        await asyncio.sleep(0.1)


async def _login(page: Page, base_url: str, key: str, hash_: str) -> None:
    await page.goto(f"{base_url}/#{hash_}")
    await expect(page.get_by_test_id("login")).to_be_visible()
    await page.get_by_test_id("login-key").fill(key)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("logout")).to_be_visible()


@pytest.mark.timeout(240)
async def test_kpis_with_units_on_the_execution_page_the_list_and_the_metrics_page(
    stack: Stack,
) -> None:
    await wait_ready(stack.base_url)
    customers = [
        {"customerId": "c1", "plan": "professional", "industry": "x", "companySize": "medium"},
        {"customerId": "c2", "plan": "enterprise", "industry": "x", "companySize": "large"},
    ]
    async with stack.http("admin") as http:
        seed = (ROOT / "examples" / "customer_onboarding.yaml").read_text()
        headers = {"content-type": "application/yaml"}
        assert (await http.post("/workflows", content=seed, headers=headers)).status_code < 300
        ids = []
        for customer in customers:
            started = await http.post(f"/workflows/{SEED}/execute", json=customer)
            ids.append(started.json()["executionId"])
        for execution_id in ids:
            await _until(http, f"/executions/{execution_id}", lambda b: b["status"] == "completed")
        totals = await _until(http, f"/workflows/{SEED}/metrics", lambda b: b["executions"] == 2)
    assert totals["completionRate"] == 1
    assert totals["kpis"]["timeToValue"]["mean"] == 15.5  # 10 and 21 days

    async with browser_page(1440, 1000) as (page, problems):
        await _login(page, stack.base_url, stack.key("read"), f"/executions/{ids[0]}")
        await expect(page.get_by_test_id("execution-status")).to_have_text("completed")
        panel = page.get_by_test_id("kpi-panel")
        await expect(panel.get_by_test_id("kpi-value-timeToFirstLogin")).to_have_text("45 minutes")
        await expect(panel.get_by_test_id("kpi-value-onboardingCompletionRate")).to_have_text(
            "100 %"
        )
        await expect(panel.get_by_test_id("kpi-value-timeToValue")).to_have_text("10 days")
        await expect(panel).to_contain_text("Time from signup to first login")
        await panel.scroll_into_view_if_needed()
        await screenshot(page, ARTIFACTS, "execution-kpis")

        await page.goto(f"{stack.base_url}/#/workflows")
        cell = page.get_by_test_id(f"kpis-{SEED}")
        await expect(cell.get_by_test_id("kpi-mean-timeToValue")).to_have_text(
            "timeToValue 15.5 days"
        )
        await page.get_by_test_id(f"metrics-{SEED}").click()
        await expect(page.get_by_test_id("metrics-completion")).to_contain_text("100 %")
        await expect(page.get_by_test_id("metrics-executions")).to_contain_text("2")
        ttv = totals["kpis"]["timeToValue"]
        for field in ("mean", "p50", "p95", "min", "max"):
            shown = f"{float(ttv[field]):.4g} days".replace(".0 ", " ")
            await expect(page.get_by_test_id(f"metrics-timeToValue-{field}")).to_have_text(shown)
        await expect(page.get_by_test_id("metrics-timeToFirstLogin-mean")).to_have_text(
            "37.5 minutes"
        )
        await screenshot(page, ARTIFACTS, "workflow-metrics")
    assert not problems, problems


@pytest.mark.timeout(240)
async def test_an_approval_is_shown_refused_to_a_reader_and_decided_by_an_executor(
    stack: Stack,
) -> None:
    await wait_ready(stack.base_url)
    async with stack.http("admin") as http:
        assert (await http.post("/workflows", json=REFUND)).status_code < 300
    async with stack.http("execute") as http:
        started = await http.post("/workflows/refundApproval/execute", json={"orderId": "o-1"})
        execution_id = started.json()["executionId"]
        await _until(
            http, f"/executions/{execution_id}/waits", lambda b: "approve" in b.get("waits", {})
        )
    waits = f"/executions/{execution_id}/waits"

    async with browser_page(1440, 1000) as (page, problems):
        await _login(page, stack.base_url, stack.key("read"), f"/executions/{execution_id}")
        wait = page.get_by_test_id("wait-approve")
        await expect(wait.get_by_test_id("approval-message-approve")).to_have_text(
            "Refund 120 EUR for order o-1?"
        )
        await expect(wait.get_by_test_id("approval-approvers-approve")).to_contain_text("ann, bob")
        await expect(wait.get_by_test_id("approval-quorum-approve")).to_contain_text("unanimous")
        await expect(wait.get_by_test_id("approval-deadline-approve")).to_contain_text("(in ")
        await page.get_by_test_id("approve-approve").click()  # as ann, with a read-only key
        await expect(page.get_by_test_id("approval-note-approve")).to_contain_text(
            "lacks the 'execute' scope"
        )
        async with stack.http("read") as http:
            assert (await http.get(waits)).json()["waits"]["approve"]["decisions"] == {}

        await page.get_by_test_id("logout").click()
        await _login(page, stack.base_url, stack.key("admin"), f"/executions/{execution_id}")
        await page.get_by_test_id("approval-comment-approve").fill("receipt checked")
        await page.get_by_test_id("approve-approve").click()
        decision = page.get_by_test_id("decision-approve-ann")
        await expect(decision).to_contain_text("approved")
        await expect(decision).to_contain_text("receipt checked")
        await expect(page.get_by_test_id("decision-approve-bob")).to_contain_text("pending")
        await page.get_by_test_id("waits-panel").scroll_into_view_if_needed()
        await screenshot(page, ARTIFACTS, "approval-panel")

        await page.get_by_test_id("approver-approve").select_option("bob")
        await page.get_by_test_id("approve-approve").click()
        await expect(page.get_by_test_id("wait-pickup")).to_be_visible()
        await page.get_by_test_id("signal-payload-pickup").fill('{"carrier": "DHL"}')
        await page.get_by_test_id("send-signal-pickup").click()
        await expect(page.get_by_test_id("execution-status")).to_have_text("completed")
        await expect(page.get_by_test_id("waits-panel")).to_be_hidden()
    assert not problems, problems
    async with stack.http("read") as http:
        done = (await http.get(f"/executions/{execution_id}")).json()
    assert done["steps"]["pay"]["output"] == {
        "fulfilled": "o-1",
        "decision": {"carrier": "DHL"},
    }
