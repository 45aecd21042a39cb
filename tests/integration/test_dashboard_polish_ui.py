"""Dashboard polish (issue 21 item 9): schedules are created and deleted in the dashboard, their
fire times shown in the schedule's own time zone; the login form shows no error before a key is
sent; skipped and pending steps show the function their definition names.
Headless Chromium against a trigger on a port (real broker and Redis); screenshots under
test-artifacts/dashboard/."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from tests.support.browser import browser_page, needs_chromium, screenshot
from tests.support.stack import ROOT
from workflows.services.core.state import ExecutionState
from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.settings import Settings
from workflows.services.trigger import TriggerService

pytestmark = [pytest.mark.integration, needs_chromium]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
SEED = Path(ROOT / "examples" / "customer_onboarding.yaml").read_text()
INPUT = '{"customerId": "c1", "plan": "starter", "industry": "retail", "companySize": "small"}'


async def _serving(settings: Settings) -> AsyncIterator[str]:
    service = TriggerService(settings.model_copy(update={"http_port": 0}))
    task = asyncio.create_task(service.run())
    try:
        deadline = time.monotonic() + 15
        while not service.started:
            assert not task.done() and time.monotonic() < deadline, "the trigger did not start"
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{service.port}"
    finally:
        service.stop()
        await asyncio.wait_for(task, 20)


@pytest.fixture
async def base(settings: Settings) -> AsyncIterator[str]:
    async for url in _serving(settings):
        yield url


async def test_a_schedule_is_created_and_deleted_in_the_ui(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        registered = await client.post(
            "/workflows", content=SEED, headers={"content-type": "application/yaml"}
        )
        assert registered.is_success, registered.text
        async with browser_page() as (page, problems):
            await page.goto(f"{base}/#/schedules")
            await expect(page.get_by_test_id("no-schedules")).to_be_visible()
            await page.get_by_test_id("schedule-new-workflow").select_option(
                "customerOnboardingWorkflow"
            )
            await page.get_by_test_id("schedule-new-id").fill("weekday-mornings")
            await page.get_by_test_id("schedule-new-when").fill("0 9 * * MON-FRI")
            await page.get_by_test_id("schedule-new-timezone").fill("Europe/Paris")
            await page.get_by_test_id("schedule-new-input").fill("{not json")
            await page.get_by_test_id("schedule-new-submit").click()
            await expect(page.get_by_test_id("schedule-new-error")).to_contain_text("not JSON")
            await page.get_by_test_id("schedule-new-input").fill(INPUT)
            await screenshot(page, ARTIFACTS, "schedule-being-created")
            await page.get_by_test_id("schedule-new-submit").click()

            row = page.locator('[data-testid="schedule-row"][data-id="weekday-mornings"]')
            await expect(row).to_be_visible()
            await expect(page.get_by_test_id("schedule-zone-weekday-mornings")).to_have_text(
                "Europe/Paris"
            )
            # fire times at 09:00 in Paris, with the zone's name (CET in winter, CEST in summer)
            next_times = page.get_by_test_id("schedule-next-weekday-mornings")
            await expect(next_times).to_contain_text(" 09:00:00 ")
            assert all(
                t.endswith(("CET", "CEST", "GMT+1", "GMT+2"))
                for t in (await next_times.inner_text()).splitlines()
            ), await next_times.inner_text()
            await screenshot(page, ARTIFACTS, "schedule-created")
            stored = (await client.get("/schedules/weekday-mornings")).json()
            assert stored["timezone"] == "Europe/Paris" and stored["input"]["customerId"] == "c1"

            # a refused schedule says why, from the API
            await page.get_by_test_id("schedule-new-kind").select_option("every")
            await page.get_by_test_id("schedule-new-when").fill("5 parsecs")
            await page.get_by_test_id("schedule-new-submit").click()
            await expect(page.get_by_test_id("schedule-new-error")).to_contain_text("every")

            delete = page.get_by_test_id("schedule-delete-weekday-mornings")
            await delete.click()
            await expect(delete).to_have_text("Confirm delete")
            assert (await client.get("/schedules/weekday-mornings")).status_code == 200
            await delete.click()
            await expect(page.get_by_test_id("no-schedules")).to_be_visible()
            assert (await client.get("/schedules/weekday-mornings")).status_code == 404
            assert problems == []


@pytest.fixture
async def guarded(settings: Settings) -> AsyncIterator[str]:
    async for url in _serving(settings.model_copy(update={"auth": "on"})):
        yield url


async def test_the_login_form_shows_no_error_before_a_key_is_sent(guarded: str) -> None:
    async with browser_page() as (page, _):
        await page.goto(f"{guarded}/#/schedules")
        await expect(page.get_by_test_id("login")).to_be_visible()
        await expect(page.get_by_test_id("login-error")).to_have_text("")
        await page.get_by_test_id("login-key").fill("wfk_nope_" + "x" * 43)
        await page.get_by_test_id("login-submit").click()
        await expect(page.get_by_test_id("login-error")).not_to_have_text("")
        await screenshot(page, ARTIFACTS, "login-refused")


async def test_skipped_and_pending_steps_show_their_function(
    base: str, redis: RedisClient, settings: Settings
) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        registered = await client.post(
            "/workflows", content=SEED, headers={"content-type": "application/yaml"}
        )
        assert registered.is_success, registered.text
    now = "2026-01-01T00:00:00Z"
    state = ExecutionState.model_validate(
        {
            "executionId": "e" * 32,
            "workflow": "customerOnboardingWorkflow",
            "workflowVersion": 1,
            "status": "running",
            "input": {
                "customerId": "c1",
                "plan": "starter",
                "industry": "x",
                "companySize": "small",
            },
            "steps": {
                "accountSetup": {
                    "status": "succeeded",
                    "attempt": 1,
                    "function": "setupCustomerAccount",
                },
                "assignAccountManager": {"status": "skipped"},
                "createSuccessPlan": {"status": "pending"},
            },
            "createdAt": now,
            "updatedAt": now,
            "history": [
                {"seq": 1, "at": now, "type": "execution_started"},
                {
                    "seq": 2,
                    "at": now,
                    "type": "step.succeeded",
                    "stepId": "accountSetup",
                    "attempt": 1,
                    "data": {"function": "setupCustomerAccount", "workerId": "worker-h1-42"},
                },
            ],
        }
    )
    keys = Keys(settings.key_prefix)
    await redis.hset(keys.state("e" * 32), mapping={"rev": 1, "doc": state.model_dump_json()})
    async with browser_page() as (page, problems):
        await page.goto(f"{base}/#/executions/{'e' * 32}")
        for step, function in [
            ("accountSetup", "setupCustomerAccount"),
            ("assignAccountManager", "assignAccountManager"),
            ("createSuccessPlan", "generateCustomerSuccessPlan"),
        ]:
            await expect(page.get_by_test_id(f"step-function-{step}")).to_have_text(function)
        await page.get_by_test_id("toggle-audit").click()  # the worker that ran each attempt
        row = page.locator('[data-testid="audit-row"][data-type="step.succeeded"]')
        await expect(row.get_by_test_id("audit-worker")).to_have_text("worker-h1-42")
        await screenshot(page, ARTIFACTS, "skipped-and-pending-functions")
        assert problems == []


async def test_template_parameters_are_shown_once(base: str) -> None:
    async with browser_page() as (page, problems):
        await page.goto(f"{base}/#/templates/invoice-approval")
        await expect(page.get_by_test_id("install-form")).to_contain_text("approvalThreshold")
        detail = page.get_by_test_id("template-detail")
        await expect(detail).to_be_visible()
        assert "approvalThreshold" not in await detail.inner_text()  # only the form has them
        assert problems == []
