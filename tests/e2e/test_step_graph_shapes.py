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
