"""schemathesis against the trigger's own /openapi.json: no input makes the API answer 5xx."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from workflows import AsyncWorkflows
from workflows.embedded import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture
def trigger(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "WORKFLOWS_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "WORKFLOWS_REDIS_URL": redis_url,
        "WORKFLOWS_TOPIC_PREFIX": "fuzz.",
        "WORKFLOWS_KEY_PREFIX": "fuzz",
    }
    log = (tmp_path / "trigger.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "workflows"), "run", "trigger", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.mark.timeout(300)
async def test_schemathesis_finds_no_server_errors(trigger: str) -> None:
    async with AsyncWorkflows(trigger) as wf:
        await wf.wait_ready(timeout=60)
        await wf.register(str(ROOT / "examples" / "customer_onboarding.yaml"))
    command = [
        str(BIN / "st"),
        "run",
        f"{trigger}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "40",
        "--generation-deterministic",
    ]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
    summary = done.stdout[-2500:]
    print(summary)  # the run's summary is part of the test log
    assert done.returncode == 0, summary
    assert "generated" in summary and " passed" in summary
