"""The dashboard logs in with an API key (headless Chromium; the trigger as a process, auth on).

The page shows a login form when the API answers 401, keeps the key for the tab, shows the
namespace's workflows only, and logs out.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from tests.support.browser import browser_page, needs_chromium, screenshot
from tests.support.stack import EXE, ROOT, trigger_process, wait_ready

pytestmark = [pytest.mark.e2e, needs_chromium]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"


def _sub(name: str) -> dict[str, object]:
    return {"name": name, "steps": [{"id": "a", "function": "noop", "input": {}}]}


@pytest.fixture
def trigger(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[str, dict]]:
    """The trigger with auth on; yields its URL and the environment (for `workflows keys`)."""
    prefix = f"login{uuid.uuid4().hex[:6]}"
    with trigger_process(
        kafka_bootstrap, redis_url, tmp_path, prefix, auth="on", partitions=2
    ) as started:
        yield started


def _key(env: dict, namespace: str, scope: str) -> str:
    argv = [EXE, "keys", "create", "--namespace", namespace, "--scope", scope, "--json"]
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return str(json.loads(done.stdout)["token"])


@pytest.mark.timeout(180)
async def test_the_dashboard_asks_for_a_key_and_shows_its_namespace_only(
    trigger: tuple[str, dict],
) -> None:
    base_url, env = trigger
    await wait_ready(base_url)
    acme_admin = _key(env, "acme", "admin")
    default_admin = _key(env, "default", "admin")
    acme_reader = _key(env, "acme", "read")
    for token, name in ((acme_admin, "acmeOrders"), (default_admin, "defaultOrders")):
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            auth = {"Authorization": f"Bearer {token}"}
            response = await http.post("/workflows", json=_sub(name), headers=auth)
            assert response.status_code == 201, response.text

    # the 401s that bring up the login form are logged by the browser as load errors
    async with browser_page(1280, 800) as (page, problems):
        await page.goto(f"{base_url}/")
        await expect(page.get_by_test_id("login")).to_be_visible()
        await expect(page.get_by_test_id("login-error")).to_have_text("")  # nothing sent yet
        await expect(page.get_by_test_id("logout")).to_be_hidden()

        await page.get_by_test_id("login-key").fill("wfk_nope_" + "x" * 43)
        await page.get_by_test_id("login-submit").click()
        await expect(page.get_by_test_id("login-error")).to_contain_text("not valid")

        await page.get_by_test_id("login-key").fill(acme_reader)
        await page.get_by_test_id("login-submit").click()
        await expect(page.get_by_test_id("workflow-row-acmeOrders")).to_be_visible()
        await expect(page.get_by_test_id("workflow-row-defaultOrders")).to_have_count(0)
        await expect(page.get_by_test_id("logout")).to_be_visible()
        await screenshot(page, ARTIFACTS, "logged-in", full_page=False)

        await page.reload()  # the key stays for the tab
        await expect(page.get_by_test_id("workflow-row-acmeOrders")).to_be_visible()

        await page.get_by_test_id("logout").click()
        await expect(page.get_by_test_id("login")).to_be_visible()
        await expect(page).to_have_url(re.compile(r"/(#.*)?$"))
    assert not problems, problems
