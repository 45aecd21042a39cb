"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

The trigger, orchestrator, dispatcher and a worker with the seed's functions run as separate
processes on the session's Tansu broker and redis-server. The browser starts the seed workflow
from the generated form, watches the execution page until it completes, opens the audit trail
and saves screenshots under `test-artifacts/dashboard/`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.support.browser import browser_page, needs_chromium, screenshot
from tests.support.stack import ROOT, service_stack, wait_ready

pytestmark = [pytest.mark.e2e, needs_chromium]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
WORKFLOW = "customerOnboardingWorkflow"
NO_VALUE = "\u2013"  # what the dashboard shows for a missing value
# One step calls a function nobody serves, so an execution stays running until cancelled.
CONTROLS = """
name: dashboardControls
description: Waits on a function no worker serves
input:
  type: object
  properties:
    note: {type: string, description: Free text}
    count: {type: integer, minimum: 1}
    urgent: {type: boolean}
    tags: {type: array, items: {type: string}}
  required: [note]
steps:
  - id: waitForever
    function: neverAnswered
    input: {note: '{{input.note}}'}
"""


@pytest.fixture
def stack(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    """The services as OS processes; yields the trigger's base URL."""
    with service_stack(kafka_bootstrap, redis_url, tmp_path, tag="dash") as (base_url, _):
        yield base_url


async def _ready_and_registered(base_url: str, definition: str, timeout: float = 60) -> None:
    """Wait for the trigger's /readyz, then register the YAML `definition`."""
    await wait_ready(base_url, timeout)
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        response = await http.post(
            "/workflows", content=definition, headers={"content-type": "application/yaml"}
        )
        assert response.status_code in (200, 201), response.text


async def _shot(page: Page, name: str) -> None:
    await screenshot(page, ARTIFACTS, name)


@pytest.mark.timeout(240)
async def test_start_the_seed_from_the_form_and_watch_it_complete(stack: str) -> None:
    base_url = stack
    seed = (ROOT / "examples" / "customer_onboarding.yaml").read_text()
    await _ready_and_registered(base_url, seed)
    async with browser_page(1440, 900) as (page, problems):
        # the workflows list, with a start button per workflow
        await page.goto(f"{base_url}/")
        row = page.get_by_test_id(f"workflow-row-{WORKFLOW}")
        await expect(row).to_be_visible()
        await expect(row).to_contain_text("v1")

        # the form generated from the input schema; an empty submit shows the 422 issues
        await page.get_by_test_id(f"start-{WORKFLOW}").click()
        await expect(page).to_have_url(re.compile(rf"#/start/{WORKFLOW}$"))
        form = page.get_by_test_id("start-form")
        await expect(form).to_be_visible()
        for field in ("customerId", "plan", "industry", "companySize"):
            await expect(page.get_by_test_id(f"field-{field}")).to_contain_text("*")
        await page.get_by_test_id("start-submit").click()
        await expect(page.get_by_test_id("issue-customerId")).to_have_text("required")
        await expect(page.get_by_test_id("issue-plan")).to_have_text("required")
        await expect(page.get_by_test_id("form-error")).to_contain_text("input schema")
        await _shot(page, "start-form-issues")

        await page.get_by_test_id("input-customerId").fill("browser-c1")
        await page.get_by_test_id("input-plan").select_option(label="professional")
        await page.get_by_test_id("input-industry").fill("healthcare")
        await page.get_by_test_id("input-companySize").select_option(label="medium")
        await _shot(page, "start-form")
        await page.get_by_test_id("start-submit").click()

        # the execution page follows the run live until it completes
        await expect(page).to_have_url(re.compile(r"#/executions/[0-9a-f]{32}$"))
        execution_id = page.url.rsplit("/", 1)[1]
        status = page.get_by_test_id("execution-status")
        await expect(status).to_have_text("completed", timeout=60_000)
        await expect(page.get_by_test_id("live-indicator")).to_be_hidden()
        for step in ("accountSetup", "welcomeEmail", "resourceAllocation", "createSuccessPlan"):
            await expect(page.get_by_test_id(f"step-status-{step}")).to_have_text("succeeded")
            await expect(page.get_by_test_id(f"step-attempts-{step}")).to_have_text("1")
        for step in ("assignAccountManager", "scheduleKickoff"):
            await expect(page.get_by_test_id(f"step-status-{step}")).to_have_text("skipped")
            await expect(page.get_by_test_id(f"skipped-{step}")).to_be_visible()
        await expect(page.get_by_test_id("fact-progress")).to_contain_text("6/6")
        await expect(page.get_by_test_id("execution-output")).to_contain_text("onboardingStatus")
        await expect(page.get_by_test_id("btn-retry")).to_be_disabled()
        await expect(page.get_by_test_id("btn-pause")).to_be_disabled()
        await expect(page.get_by_test_id("btn-cancel")).to_be_disabled()

        # the audit trail opens on demand
        audit = page.get_by_test_id("audit-trail")
        await expect(audit).to_be_hidden()
        await page.get_by_test_id("toggle-audit").click()
        await expect(audit).to_be_visible()
        await expect(audit.locator('[data-type="execution.started"]')).to_have_count(1)
        await expect(audit.locator('[data-type="step.skipped"]')).to_have_count(2)
        await expect(audit.locator('[data-type="execution.completed"]')).to_have_count(1)
        await page.get_by_test_id("step-assignAccountManager").click()
        await expect(page.get_by_test_id("step-detail-assignAccountManager")).to_contain_text(
            'input.plan === "enterprise"'
        )
        await _shot(page, "execution")

        # the executions list, filtered by workflow and status
        await page.goto(f"{base_url}/#/executions?workflow={WORKFLOW}&status=completed")
        listed = page.locator(f'[data-testid="execution-row"][data-id="{execution_id}"]')
        await expect(listed).to_be_visible()
        await expect(page.get_by_test_id("filter-status")).to_have_value("completed")
        await expect(page.get_by_test_id("filter-workflow")).to_have_value(WORKFLOW)
        await _shot(page, "executions")
        await page.get_by_test_id("filter-status").select_option("failed")
        await expect(page.get_by_test_id("no-executions")).to_be_visible()

        # the workflows list now counts the completed run
        await page.get_by_test_id("nav-workflows").click()
        await expect(page.get_by_test_id(f"success-rate-{WORKFLOW}")).to_have_text("100 %")
        await expect(page.get_by_test_id(f"p95-{WORKFLOW}")).not_to_have_text(NO_VALUE)
        await _shot(page, "workflows")

        # schedules with their next fire times, paused from the page
        schedule = {
            "id": "dash-hourly",
            "workflow": WORKFLOW,
            "cronExpression": "0 9 * * 1-5",
            "timezone": "Europe/Berlin",
            "input": {
                "customerId": "sched",
                "plan": "starter",
                "industry": "retail",
                "companySize": "small",
            },
        }
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            created = await http.post("/schedules", json=schedule)
        await page.get_by_test_id("nav-schedules").click()
        if created.status_code == 404:  # the schedules API is not part of this build
            await expect(page.get_by_test_id("schedules-unavailable")).to_be_visible()
        else:
            assert created.status_code == 201, created.text
            next_times = page.get_by_test_id("schedule-next-dash-hourly").locator("div")
            await expect(next_times).to_have_count(5)
            await expect(page.get_by_test_id("schedule-state-dash-hourly")).to_have_text("active")
            await _shot(page, "schedules")
            await page.get_by_test_id("schedule-toggle-dash-hourly").click()
            await expect(page.get_by_test_id("schedule-state-dash-hourly")).to_have_text("paused")
            await expect(next_times).to_have_count(0)

    assert not problems, problems
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        shown = (await http.get(f"/executions/{execution_id}")).json()
    assert shown["status"] == "completed" and shown["input"]["customerId"] == "browser-c1"


@pytest.mark.timeout(240)
async def test_typed_form_fields_and_the_control_buttons(stack: str) -> None:
    base_url = stack
    await _ready_and_registered(base_url, CONTROLS)
    async with browser_page(1440, 900) as (page, problems):
        await page.goto(f"{base_url}/#/start/dashboardControls")
        await expect(page.get_by_test_id("input-count")).to_have_attribute("type", "number")
        await expect(page.get_by_test_id("input-urgent")).to_have_attribute("type", "checkbox")
        await expect(page.get_by_test_id("field-note")).to_contain_text("Free text")
        await page.get_by_test_id("input-note").fill("from the browser")
        await page.get_by_test_id("input-count").fill("3")
        await page.get_by_test_id("input-urgent").check()
        await page.get_by_test_id("input-tags").fill('["a", "b"')
        await page.get_by_test_id("start-submit").click()
        await expect(page.get_by_test_id("issue-tags")).to_contain_text("not valid JSON")
        await page.get_by_test_id("input-tags").fill('["a", "b"]')
        await page.get_by_test_id("start-submit").click()
        await expect(page).to_have_url(re.compile(r"#/executions/[0-9a-f]{32}$"))
        first_id = page.url.rsplit("/", 1)[1]

        status = page.get_by_test_id("execution-status")
        await expect(status).to_have_text("running", timeout=30_000)
        await expect(page.get_by_test_id("live-indicator")).to_be_visible()
        await expect(page.get_by_test_id("step-status-waitForever")).to_have_text("running")
        await expect(page.get_by_test_id("btn-retry")).to_be_disabled()

        await page.get_by_test_id("btn-pause").click()
        await expect(status).to_have_text("paused")
        await expect(page.get_by_test_id("btn-pause")).to_be_disabled()
        await _shot(page, "paused")
        await page.get_by_test_id("btn-resume").click()
        await expect(status).to_have_text("running")

        await page.get_by_test_id("btn-cancel").click()
        await expect(status).to_have_text("cancelled")
        await expect(page.get_by_test_id("live-indicator")).to_be_hidden()
        await expect(page.get_by_test_id("btn-cancel")).to_be_disabled()
        await page.get_by_test_id("toggle-audit").click()
        audit = page.get_by_test_id("audit-trail")
        for event in ("execution.paused", "execution.resumed", "execution.cancelled"):
            await expect(audit.locator(f'[data-type="{event}"]')).to_have_count(1)
        await _shot(page, "cancelled")

        await page.get_by_test_id("btn-retry").click()
        await expect(page).not_to_have_url(re.compile(rf"#/executions/{first_id}$"))
        await expect(page).to_have_url(re.compile(r"#/executions/[0-9a-f]{32}$"))
        second_id = page.url.rsplit("/", 1)[1]
        await expect(status).to_have_text("running", timeout=30_000)
        await page.get_by_test_id("btn-cancel").click()
        await expect(status).to_have_text("cancelled")

    assert not problems, problems
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        first = (await http.get(f"/executions/{first_id}")).json()
        second = (await http.get(f"/executions/{second_id}")).json()
    assert first["input"] == {
        "note": "from the browser",
        "count": 3,
        "urgent": True,
        "tags": ["a", "b"],
    }
    assert first["retriedBy"] == second_id and second["retryOf"] == first_id


@pytest.mark.timeout(240)
async def test_install_a_template_from_the_templates_page(stack: str) -> None:
    base_url = stack
    await _ready_and_registered(base_url, CONTROLS)
    async with browser_page(1440, 900) as (page, problems):
        await page.goto(f"{base_url}/")
        await page.get_by_test_id("nav-templates").click()
        await expect(page).to_have_url(re.compile(r"#/templates$"))
        rows = page.get_by_test_id("template-row")
        await expect(rows.first).to_be_visible()
        await page.get_by_test_id("template-tag").select_option("hr")
        await expect(page).to_have_url(re.compile(r"#/templates\?tag=hr$"))
        await expect(page.get_by_test_id("template-tag")).to_have_value("hr")
        onboarding = page.locator('[data-testid="template-row"][data-id="employee-onboarding"]')
        await expect(onboarding).to_be_visible()
        for row in await rows.all():
            assert "hr" in await row.locator(".tag").all_inner_texts()
        await _shot(page, "templates")

        await page.get_by_test_id("template-link-employee-onboarding").click()
        await expect(page).to_have_url(re.compile(r"#/templates/employee-onboarding$"))
        await expect(page.get_by_test_id("template-tags")).to_contain_text("hr")
        await expect(page.get_by_test_id("template-functions")).to_contain_text("createAccounts")
        await expect(page.get_by_test_id("template-description")).to_contain_text("new hire")
        field = page.get_by_test_id("input-workflowName")
        await expect(field).to_have_value("employeeOnboarding")
        await field.fill("e2eOnboarding")
        await page.get_by_test_id("install-submit").click()
        await expect(page.get_by_test_id("installed-name")).to_have_text("e2eOnboarding")
        await expect(page.get_by_test_id("installed-version")).to_have_text("v1")
        start = page.get_by_test_id("installed-start")
        await expect(start).to_have_attribute("href", "#/start/e2eOnboarding")
        await _shot(page, "template-installed")

        await page.get_by_test_id("nav-workflows").click()
        await expect(page.get_by_test_id("workflow-row-e2eOnboarding")).to_contain_text("v1")
        await page.get_by_test_id("start-e2eOnboarding").click()
        await expect(page.get_by_test_id("field-employeeId")).to_contain_text("*")

    assert not problems, problems
