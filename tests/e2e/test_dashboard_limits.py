"""The dashboard's Limits page (issue 17 item 4: the circuit breaker shown in the dashboard),
headless Chromium against the services as processes: a function limit with a circuit breaker
declared through the API, three failed calls recorded by the breaker the dispatchers share,
and the page shows the limit and the open circuit with when trial calls may go through."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect
from redis.asyncio import Redis

from tests.support.browser import browser_page, needs_chromium, screenshot
from tests.support.stack import ROOT, service_stack, wait_ready
from workflows.services.core.limits import CircuitBreaker
from workflows.services.dispatcher.breaker import CircuitBreakers

pytestmark = [pytest.mark.e2e, needs_chromium]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
BREAKER = {"failureThreshold": 3, "resetAfter": "30s", "halfOpenCalls": 1}


@pytest.fixture
def stack(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    with service_stack(kafka_bootstrap, redis_url, tmp_path, tag="lim") as running:
        yield running


@pytest.mark.timeout(240)
async def test_the_limits_page_shows_an_open_circuit(
    stack: tuple[str, str], redis_url: str
) -> None:
    base_url, prefix = stack
    await wait_ready(base_url)
    async with httpx.AsyncClient(base_url=base_url) as api:
        limit = {"concurrency": 4, "circuitBreaker": BREAKER}
        put = await api.put("/limits/functions/chargeCard", json=limit)
        assert put.status_code == 200, put.text
    redis = Redis.from_url(redis_url)
    try:
        breakers = CircuitBreakers(redis, prefix)
        config = CircuitBreaker.model_validate(BREAKER)
        now_ms = int(time.time() * 1000)
        for _ in range(3):  # what the dispatcher records after three failed calls
            await breakers.record("chargeCard", config, False, now_ms)
    finally:
        await redis.aclose()
    async with browser_page() as (page, problems):
        await page.goto(f"{base_url}/")
        await page.get_by_test_id("nav-limits").click()
        await expect(page).to_have_url(re.compile(r"#/limits$"))
        row = page.get_by_test_id("limit-chargeCard")
        await expect(row).to_contain_text("concurrency 4")
        await expect(row).to_contain_text("opens after 3 failures, for 30000 ms")
        await expect(page.get_by_test_id("circuit-chargeCard")).to_have_attribute(
            "data-state", "open"
        )
        await expect(page.get_by_test_id("circuit-chargeCard")).to_contain_text("trial calls from")
        await screenshot(page, ARTIFACTS, "limits-open-circuit")
    assert problems == []
