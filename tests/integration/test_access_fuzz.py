"""schemathesis with auth on, as an admin of a namespace: the namespace paths never answer 5xx."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fuzz import assert_no_server_errors
from tests.support.stack import ROOT, trigger_process
from workflows import AsyncWorkflows
from workflows.services.infra.api_keys import ApiKeyStore
from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import connect_redis_url

pytestmark = pytest.mark.integration


@pytest.fixture
def trigger(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The trigger with auth on; yields its URL and key prefix."""
    prefix = f"afuzz{uuid.uuid4().hex[:6]}"
    with trigger_process(kafka_bootstrap, redis_url, tmp_path, prefix, auth="on") as (url, _):
        yield url, prefix


@pytest.mark.timeout(300)
async def test_schemathesis_as_a_namespace_admin_finds_no_server_errors(
    trigger: tuple[str, str], redis_url: str
) -> None:
    url, prefix = trigger
    redis = connect_redis_url(redis_url)
    try:
        created = await ApiKeyStore(redis, Keys(prefix)).create("fuzz", ["admin"], "fuzz")
    finally:
        await redis.aclose()
    async with AsyncWorkflows(url, api_key=created.token) as wf:
        await wf.wait_ready(timeout=60)
        await wf.register(str(ROOT / "examples" / "customer_onboarding.yaml"))
    await assert_no_server_errors(url, 25, f"Authorization: Bearer {created.token}")
