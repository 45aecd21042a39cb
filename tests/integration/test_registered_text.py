"""What was registered is what is shown (issue 21 item 7): `source`, the editor and the version
diff show the text as it was sent (comments, key order and explicit defaults kept), and the
dashboard's diff folds unchanged lines. Real broker and Redis; the browser part drives
headless Chromium against a trigger on a port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import expect
from redis.asyncio import Redis

from tests.support.api import app_client
from tests.support.browser import browser_page, needs_chromium, screenshot
from tests.support.stack import ROOT
from workflows.cli.resources import diff_text
from workflows.services.infra.settings import Settings
from workflows.services.trigger import TriggerService

pytestmark = pytest.mark.integration
YAML = {"content-type": "application/yaml"}
FILLER = "".join(f"      note{i}: filler line {i}\n" for i in range(20))
V1 = f"""\
# Onboarding, as the team writes it: comments stay.
name: textWorkflow
description: first
parallelism: sequential   # the default, written out on purpose
input:
  type: object
steps:
  - id: account
    function: setupCustomerAccount   # from the CRM
    input:
      customerId: '{{{{input.customerId}}}}'
{FILLER}"""
V2 = V1.replace("description: first", "description: second")


@pytest.fixture
async def api(settings: Settings, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, redis) as client:
        yield client


async def _register(api: httpx.AsyncClient, text: str, headers: dict[str, str]) -> int:
    response = await api.post("/workflows", content=text, headers=headers)
    assert response.status_code in (200, 201), response.text
    version: int = response.json()["version"]
    return version


async def test_source_and_diff_show_the_text_as_registered(api: httpx.AsyncClient) -> None:
    assert await _register(api, V1, YAML) == 1
    assert await _register(api, V1 + "# a comment only\n", YAML) == 1  # same definition
    assert await _register(api, V2, YAML) == 2

    source = (await api.get("/workflows/textWorkflow/source", params={"version": 1})).json()
    assert source["text"] == V1 and source["format"] == "yaml" and source["asRegistered"]
    as_json = await api.get("/workflows/textWorkflow/source", params={"format": "json"})
    assert as_json.json()["asRegistered"] is False
    assert '"description": "second"' in as_json.json()["text"]

    diff = (await api.get("/workflows/textWorkflow/diff", params={"from": 1, "to": 2})).json()
    assert diff["asRegistered"] is True and diff["changed"] == 1
    [changed] = [row for row in diff["rows"] if row["kind"] != "same"]
    assert changed["left"] == {"line": 2 + 1, "text": "description: first"}
    assert changed["right"]["text"] == "description: second"
    lines = diff_text(diff).splitlines()
    assert lines[1:] == [
        "  (2 unchanged lines)",
        "-    3 description: first",
        "+    3 description: second",
        f"  ({len(V1.splitlines()) - 3} unchanged lines)",
    ]
    kept = {row["left"]["text"] for row in diff["rows"] if row["kind"] == "same"}
    assert "# Onboarding, as the team writes it: comments stay." in kept
    assert "parallelism: sequential   # the default, written out on purpose" in kept


async def test_a_json_registration_shows_its_json(api: httpx.AsyncClient) -> None:
    text = '{"name": "jsonWorkflow", "parallelism": "sequential",\n'
    text += ' "steps": [{"id": "a", "function": "f"}]}'
    await _register(api, text, {"content-type": "application/json"})
    source = (await api.get("/workflows/jsonWorkflow/source")).json()
    assert (source["format"], source["text"], source["asRegistered"]) == ("json", text, True)
    as_yaml = (await api.get("/workflows/jsonWorkflow/source", params={"format": "yaml"})).json()
    assert as_yaml["asRegistered"] is False and as_yaml["text"].startswith("name: jsonWorkflow")


@needs_chromium
async def test_the_editor_and_the_versions_page_show_it(settings: Settings) -> None:
    service = TriggerService(settings.model_copy(update={"http_port": 0}))
    task = asyncio.create_task(service.run())
    try:
        deadline = time.monotonic() + 15
        while not service.started:
            assert not task.done() and time.monotonic() < deadline, "the trigger did not start"
            await asyncio.sleep(0.02)
        base = f"http://127.0.0.1:{service.port}"
        async with httpx.AsyncClient(base_url=base) as client:
            for text in (V1, V2):
                assert (await client.post("/workflows", content=text, headers=YAML)).is_success
        async with browser_page() as (page, problems):
            await page.goto(f"{base}/#/editor/textWorkflow?version=1")
            content = page.locator(".cm-content")
            await expect(content).to_contain_text("# Onboarding, as the team writes it")
            await expect(content).to_contain_text("# the default, written out on purpose")
            # saved from the editor, the text goes as it is: its comments stay in the new version
            await content.click()
            await page.keyboard.press("Control+Home")
            for _ in range(2):
                await page.keyboard.press("ArrowDown")
            await page.keyboard.press("End")
            await page.keyboard.type(" (edited)")
            await expect(page.get_by_test_id("validation-status")).to_contain_text("✓ valid")
            await page.get_by_test_id("editor-save").click()
            saved = page.get_by_test_id("saved-message")
            await expect(saved).to_have_text("Registered textWorkflow v3")
            async with httpx.AsyncClient(base_url=base) as client:
                v3 = (await client.get("/workflows/textWorkflow/source")).json()
            assert v3["version"] == 3 and v3["asRegistered"]
            assert "description: first (edited)\n" in v3["text"]
            assert "# Onboarding, as the team writes it: comments stay." in v3["text"]
            await page.goto(f"{base}/#/versions/textWorkflow?from=1&to=2")
            await expect(page.get_by_test_id("diff-summary")).to_have_text("1 line differs")
            rows = page.get_by_test_id("diff-row")
            folds = page.get_by_test_id("diff-fold")
            await expect(folds).to_have_count(1)  # 2 lines above the change, 20+ below
            await expect(folds).to_contain_text(f"{len(V1.splitlines()) - 3 - 3} unchanged lines")
            await expect(rows).to_have_count(2 + 1 + 3)
            await screenshot(page, ROOT / "test-artifacts" / "dashboard", "versions-diff-folded")
            await folds.get_by_role("button").click()
            await expect(rows).to_have_count(len(V1.splitlines()))
            assert problems == []
    finally:
        service.stop()
        await asyncio.wait_for(task, 20)
