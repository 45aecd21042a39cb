"""The step graph of a workflow with a map (forEach), a switch and a loop, in the dashboard
editor in headless Chromium; the screenshot goes to `test-artifacts/step-graph/`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.support.browser import browser_page, needs_chromium, screenshot
from tests.support.stack import ROOT, service_stack, wait_ready

pytestmark = [pytest.mark.e2e, needs_chromium]
ARTIFACTS = ROOT / "test-artifacts" / "step-graph"
DEFINITION = (ROOT / "tests" / "definitions" / "map_switch_loop.yaml").read_text()


@pytest.fixture
def stack(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    with service_stack(kafka_bootstrap, redis_url, tmp_path, tag="shape") as (base_url, _):
        yield base_url


@pytest.mark.timeout(300)
async def test_the_graph_shows_the_map_the_switch_and_the_loop(stack: str) -> None:
    await wait_ready(stack)
    async with browser_page() as (page, problems):
        await page.goto(f"{stack}/")
        await page.get_by_test_id("nav-editor").click()
        await expect(page).to_have_url(re.compile(r"#/editor$"))
        await page.locator(".cm-content").click()
        await page.keyboard.press("Control+a")
        await page.keyboard.insert_text(DEFINITION)
        await expect(page.get_by_test_id("validation-status")).to_have_text(
            "✓ valid: seatRollout, 8 steps"
        )
        await expect(page.get_by_test_id("mark-map-provision")).to_be_visible()
        await expect(page.get_by_test_id("mark-loop-poll")).to_be_visible()
        await expect(page.locator('[data-testid="graph-node-route"].kind-switch')).to_be_visible()
        await expect(page.get_by_test_id("graph-edge-poll-wait")).to_have_attribute(
            "data-kinds", "loop"
        )
        await expect(page.get_by_test_id("graph-edge-route-welcome")).to_have_attribute(
            "data-kinds", re.compile("next")
        )
        await screenshot(page, ARTIFACTS, "map-switch-loop")
        assert problems == []


SEED = (ROOT / "examples" / "customer_onboarding.yaml").read_text()
# each graph label's right edge against its box and the marks on its row; the dry run table's
# width against its panel (issue 21 item 9: the labels and the table fit)
OVERFLOWS = """() => {
  const out = [];
  for (const g of document.querySelectorAll('[data-testid^="graph-node-"]')) {
    const box = g.querySelector('.node-box').getBBox();
    const marks = [...g.querySelectorAll('.gmark')].map((m) => {
      const b = m.getBBox(); const t = m.transform.baseVal.consolidate().matrix;
      return t.e + b.x;
    });
    for (const text of g.querySelectorAll('.node-id, .node-fn')) {
      const b = text.getBBox();
      const limit = text.classList.contains('node-id') && marks.length
        ? Math.min(...marks) : box.width;
      if (b.x + b.width > limit - 2) out.push(`${g.dataset.step}: ${text.textContent}`);
    }
  }
  const table = document.querySelector('[data-testid="dry-run-steps"]');
  const panel = document.querySelector('[data-testid="dry-run"]');
  if (table && table.getBoundingClientRect().right > panel.getBoundingClientRect().right + 1)
    out.push(`dry-run table ${table.scrollWidth}px in a ${panel.clientWidth}px panel`);
  return out;
}"""


@pytest.mark.timeout(300)
async def test_the_seeds_labels_and_dry_run_table_fit(stack: str) -> None:
    await wait_ready(stack)
    async with browser_page(1280, 900) as (page, problems):
        await page.goto(f"{stack}/")
        await page.get_by_test_id("nav-editor").click()
        await page.locator(".cm-content").click()
        await page.keyboard.press("Control+a")
        await page.keyboard.insert_text(SEED)
        await expect(page.get_by_test_id("validation-status")).to_contain_text("✓ valid")
        await expect(page.get_by_test_id("graph-node-assignAccountManager")).to_be_visible()
        dry = page.get_by_test_id("dry-run-form")
        await dry.get_by_test_id("input-customerId").fill("cust_with_a_rather_long_identifier_42")
        await dry.get_by_test_id("input-plan").select_option(label="starter")
        await dry.get_by_test_id("input-industry").fill("retail")
        await dry.get_by_test_id("input-companySize").select_option(label="small")
        await page.get_by_test_id("dry-run-submit").click()  # no mocks: where it ends is not
        await expect(page.get_by_test_id("dry-run-status")).to_have_text(  # the point here
            re.compile("completed|failed")
        )
        await expect(page.get_by_test_id("dry-run-steps")).to_be_visible()
        clipped = await page.locator('.node-fn[data-clipped="true"]').count()
        overflows = await page.evaluate(OVERFLOWS)
        await screenshot(page, ARTIFACTS, "seed-labels-and-dry-run")
    assert overflows == [], overflows
    assert clipped >= 1  # generateCustomerSuccessPlan does not fit whole: shortened with "…"
    assert problems == []
