"""Authoring in the dashboard, in a real browser (Debian's headless Chromium via Playwright).

The services run as separate processes (trigger, orchestrator, dispatcher, a worker with the
seed's functions). The browser writes a workflow from scratch in the editor, sees the error of
a broken condition at its line while typing, fixes it, saves it, dry-runs it (the skipped
step is highlighted on the graph), runs it for real until it completes, then edits a second
version and compares the two, and opens a template in the editor. Screenshots go to
`test-artifacts/dashboard-editor/`.
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
from workflows.services.core.checking import check_text

pytestmark = [pytest.mark.e2e, needs_chromium]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard-editor"
NAME = "editorOnboarding"
DEFINITION = """\
name: editorOnboarding
description: Written in the dashboard editor
input:
  type: object
  properties:
    customerId: {type: string}
    plan: {enum: [starter, enterprise]}
  required: [customerId, plan]
steps:
  - id: account
    function: setupCustomerAccount
    input: {customerId: '{{input.customerId}}', plan: '{{input.plan}}'}
  - id: manager
    function: assignAccountManager
    input: {customerId: '{{input.customerId}}', industry: retail, plan: '{{input.plan}}'}
"""
BROKEN_CONDITION = """    condition: '{{input.plan = "enterprise"}}'"""
AFTER_THE_EQUALS = len(' "enterprise"}}\'')  # arrow-left this far to stand right after `=`


@pytest.fixture
def stack(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    """The services as OS processes; yields the trigger's base URL."""
    with service_stack(kafka_bootstrap, redis_url, tmp_path, tag="edit") as (base_url, _):
        yield base_url


async def _shot(page: Page, name: str) -> None:
    await screenshot(page, ARTIFACTS, name)


def _expected_problem(text: str) -> tuple[int, str]:
    """The line and the `workflows validate` text of the one problem in `text`."""
    [issue] = check_text(text).issues
    assert issue.line is not None
    return issue.line, str(issue)


async def _write_broken_condition_then_fix_it(page: Page) -> None:
    status = page.get_by_test_id("validation-status")
    content = page.locator(".cm-content")
    await content.click()
    await page.keyboard.press("Control+a")
    await page.keyboard.insert_text(DEFINITION)
    await expect(status).to_have_text(f"✓ valid: {NAME}, 2 steps")
    await expect(page.get_by_test_id("graph-node-manager")).to_be_visible()
    await expect(page.get_by_test_id("mark-if-manager")).to_have_count(0)

    # type a condition with `=` for `===` on the last line: the error appears at that line
    await page.keyboard.press("Control+End")
    await page.keyboard.insert_text(BROKEN_CONDITION)
    line, message = _expected_problem(DEFINITION + BROKEN_CONDITION)
    assert line == DEFINITION.count("\n") + 1
    problem = page.get_by_test_id("problem")
    await expect(problem).to_have_count(1)
    await expect(problem).to_have_text(message)
    await expect(problem).to_have_attribute("data-line", str(line))
    await expect(status).to_have_text("1 problem")
    await expect(page.get_by_test_id("editor-save")).to_be_disabled()
    marked = page.locator(".cm-line", has=page.locator(".cm-lintRange-error"))
    await expect(marked).to_have_count(1)
    await expect(marked).to_contain_text("condition: '{{input.plan =")
    await expect(page.locator(".cm-lintRange-error")).to_have_text("=")  # the token itself
    await _shot(page, "1-error-at-its-line")

    # fix it: `=` -> `===`
    for _ in range(AFTER_THE_EQUALS):
        await page.keyboard.press("ArrowLeft")
    await page.keyboard.type("==")
    await expect(status).to_have_text(f"✓ valid: {NAME}, 2 steps")
    await expect(problem).to_have_count(0)
    await expect(page.locator(".cm-lintRange-error")).to_have_count(0)
    await expect(page.get_by_test_id("mark-if-manager")).to_be_visible()
    await expect(page.get_by_test_id("graph-edge-account-manager")).to_have_attribute(
        "data-kinds", "order"
    )


@pytest.mark.timeout(300)
async def test_write_a_workflow_in_the_editor_dry_run_it_and_run_it(stack: str) -> None:
    base_url = stack
    await wait_ready(base_url)
    async with browser_page() as (page, problems):
        await page.goto(f"{base_url}/")
        await page.get_by_test_id("nav-editor").click()
        await expect(page).to_have_url(re.compile(r"#/editor$"))
        await expect(page.get_by_test_id("validation-status")).to_contain_text("✓ valid")
        await _write_broken_condition_then_fix_it(page)

        # clicking a node of the graph puts the cursor on that step
        await page.get_by_test_id("graph-node-account").click()
        await expect(page.locator(".cm-activeLine")).to_have_text("  - id: account")

        # save: a new immutable version through POST /workflows
        await page.get_by_test_id("editor-save").click()
        await expect(page.get_by_test_id("saved-message")).to_have_text(f"Registered {NAME} v1")

        # dry run with a starter plan: the manager step is skipped, and shown so on the graph
        dry = page.get_by_test_id("dry-run-form")
        await dry.get_by_test_id("input-customerId").fill("dry-c1")
        await dry.get_by_test_id("input-plan").select_option(label="starter")
        await page.get_by_test_id("dry-run-submit").click()
        await expect(page.get_by_test_id("dry-run-status")).to_have_text("completed")
        await expect(page.get_by_test_id("graph-node-manager")).to_have_attribute(
            "data-outcome", "skipped"
        )
        await expect(page.get_by_test_id("graph-node-account")).to_have_attribute(
            "data-outcome", "ran"
        )
        await expect(page.get_by_test_id("dry-run-step-manager")).to_contain_text(
            "condition was false"
        )
        await _shot(page, "2-dry-run-skipped-step")
        await page.get_by_test_id("fail-account").check()  # every attempt fails, no fallback
        await page.get_by_test_id("dry-run-submit").click()
        await expect(page.get_by_test_id("dry-run-status")).to_have_text("failed")
        await expect(page.get_by_test_id("graph-node-account")).to_have_attribute(
            "data-outcome", "failed"
        )
        await expect(page.get_by_test_id("graph-node-manager")).to_have_attribute(
            "data-outcome", "not reached"
        )

        # run it for real from the saved version and watch it complete
        await page.get_by_test_id("saved-start").click()
        await expect(page).to_have_url(re.compile(rf"#/start/{NAME}$"))
        await page.get_by_test_id("input-customerId").fill("editor-c1")
        await page.get_by_test_id("input-plan").select_option(label="starter")
        await page.get_by_test_id("start-submit").click()
        await expect(page).to_have_url(re.compile(r"#/executions/[0-9a-f]{32}$"))
        execution_id = page.url.rsplit("/", 1)[1]
        await expect(page.get_by_test_id("execution-status")).to_have_text(
            "completed", timeout=60_000
        )
        await expect(page.get_by_test_id("step-status-account")).to_have_text("succeeded")
        await expect(page.get_by_test_id("step-status-manager")).to_have_text("skipped")
        await _shot(page, "3-executed")

        # a second version from the versions page; who/when, executions per version, a diff
        await page.goto(f"{base_url}/#/versions/{NAME}")
        await expect(page.get_by_test_id("version-by-1")).to_have_text("anonymous")
        await expect(page.get_by_test_id("version-count-1")).to_have_text("1")
        await expect(page.get_by_test_id("version-executions-1")).to_contain_text(execution_id[:12])
        await page.get_by_test_id("version-edit-1").click()
        await expect(page.get_by_test_id("validation-status")).to_have_text(
            f"✓ valid: {NAME}, 2 steps"
        )
        await page.locator(".cm-content").click()
        await page.keyboard.press("Control+Home")
        await page.keyboard.press("ArrowDown")
        await page.keyboard.press("End")
        await page.keyboard.type(" (v2)")
        await expect(page.get_by_test_id("validation-status")).to_have_text(
            f"✓ valid: {NAME}, 2 steps"
        )
        await page.get_by_test_id("editor-save").click()
        await expect(page.get_by_test_id("saved-message")).to_have_text(f"Registered {NAME} v2")
        await page.get_by_test_id("saved-versions").click()
        await expect(page.get_by_test_id("version-count-2")).to_have_text("0")
        await expect(page.get_by_test_id("diff-summary")).to_have_text("1 line differs")
        changed = page.locator('[data-testid="diff-row"][data-kind="changed"]')
        await expect(changed).to_have_count(1)
        await expect(changed).to_contain_text("Written in the dashboard editor (v2)")
        await _shot(page, "4-versions-and-diff")

        # a template opens in the editor with its parameters filled in
        await page.goto(f"{base_url}/#/templates/invoice-approval")
        await page.get_by_test_id("template-open-editor").click()
        await expect(page.get_by_test_id("validation-status")).to_have_text(
            re.compile(r"^✓ valid: invoiceApproval, \d+ steps$")
        )
        await expect(page.locator(".cm-content")).to_contain_text("invoice.amount >= 1000")
        await page.get_by_test_id("input-approvalThreshold").fill("5000")
        await page.get_by_test_id("template-fill").click()
        await expect(page.locator(".cm-content")).to_contain_text("invoice.amount >= 5000")
        await _shot(page, "5-template-in-editor")

        # under `parallelism: auto` the steps that read only the input share a level
        await page.goto(f"{base_url}/#/editor")
        await expect(page.get_by_test_id("validation-status")).to_contain_text("✓ valid")
        await page.locator(".cm-content").click()
        await page.keyboard.press("Control+a")
        await page.keyboard.insert_text(DEFINITION.replace("steps:", "parallelism: auto\nsteps:"))
        await expect(page.get_by_test_id("validation-status")).to_have_text(
            f"✓ valid: {NAME}, 2 steps"
        )
        await expect(page.get_by_test_id("parallel-level-0")).to_be_visible()
        await expect(page.get_by_test_id("graph-edge-account-manager")).to_have_count(0)
        await _shot(page, "6-auto-parallelism")

        # the same definition as JSON: converted in place, still valid, same graph
        await page.get_by_test_id("editor-format").select_option("json")
        await expect(page.locator(".cm-content")).to_contain_text('"parallelism": "auto"')
        await expect(page.get_by_test_id("validation-status")).to_have_text(
            f"✓ valid: {NAME}, 2 steps"
        )
        await expect(page.get_by_test_id("parallel-level-0")).to_be_visible()

    assert not problems, problems
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        done = (await http.get(f"/executions/{execution_id}")).json()
    assert done["status"] == "completed" and done["version"] == 1
