"""schemathesis against the trigger's own /openapi.json: no input makes the API answer 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fuzz import assert_no_server_errors
from tests.support.stack import ROOT, trigger_process
from workflows import AsyncWorkflows

pytestmark = pytest.mark.integration


@pytest.fixture
def trigger(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    with trigger_process(kafka_bootstrap, redis_url, tmp_path, "fuzz") as (url, _):
        yield url


@pytest.mark.timeout(300)
async def test_schemathesis_finds_no_server_errors(trigger: str) -> None:
    async with AsyncWorkflows(trigger) as wf:
        await wf.wait_ready(timeout=60)
        await wf.register(str(ROOT / "examples" / "customer_onboarding.yaml"))
    await assert_no_server_errors(trigger, 40)
