"""The execution page shows a migrated execution's versions and its priority (issue 17 items
9 and 10), headless Chromium against the services as processes: an execution of v1 started
with priority 7 waits at a `waitForEvent` step; v2 (`migration: resume-at-same-step`) is
registered through the API; the page shows Priority 7 and Migrated v1 → v2."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from tests.support.browser import browser_page, needs_chromium, screenshot
from tests.support.stack import ROOT, service_stack, wait_ready

pytestmark = [pytest.mark.e2e, needs_chromium]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
HOLD = {"id": "hold", "function": "waitForEvent", "input": {"event": "go"}}


@pytest.fixture
def stack(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    with service_stack(kafka_bootstrap, redis_url, tmp_path, tag="mig") as running:
        yield running


async def _until(api: httpx.AsyncClient, execution_id: str, check: str) -> dict[str, object]:
    """Poll the execution with a deadline until `check` (a key, or the one current step)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while loop.time() < deadline:
        body = (await api.get(f"/executions/{execution_id}")).json()
        if body.get(check) or body.get("currentSteps") == [check]:
            return dict(body)
        await asyncio.sleep(0.1)
    raise AssertionError(f"{execution_id}: no {check} within 60 s: {body}")


@pytest.mark.timeout(240)
async def test_the_execution_page_shows_priority_and_migration(stack: tuple[str, str]) -> None:
    base_url, _ = stack
    await wait_ready(base_url)
    async with httpx.AsyncClient(base_url=base_url) as api:
        v1 = await api.post("/workflows", json={"name": "moving", "steps": [HOLD]})
        assert v1.status_code in (200, 201), v1.text
        started = await api.post("/workflows/moving/execute", params={"priority": 7}, json={})
        assert started.status_code == 202, started.text
        execution_id = started.json()["executionId"]
        await _until(api, execution_id, "hold")  # waiting for the event
        v2 = {
            "name": "moving",
            "description": "v2",
            "migration": "resume-at-same-step",
            "steps": [HOLD],
        }
        registered = await api.post("/workflows", json=v2)
        assert registered.status_code in (200, 201), registered.text
        assert [m["policy"] for m in registered.json()["migrations"]] == ["resume-at-same-step"]
        body = await _until(api, execution_id, "migration")
        assert body["priority"] == 7 and body["version"] == 2
    async with browser_page() as (page, problems):
        await page.goto(f"{base_url}/#/executions/{execution_id}")
        await expect(page.get_by_test_id("fact-priority")).to_contain_text("7")
        migrated = page.get_by_test_id("fact-migrated")
        await expect(migrated).to_contain_text("v1 → v2 (resume-at-same-step, resume at hold)")
        await screenshot(page, ARTIFACTS, "execution-migrated")
    assert problems == []
