"""The seed runs with `sendPersonalizedEmail` served by the Python worker on librdkafka
(confluent-kafka, examples/workers/python), not by the engine's own Python worker."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_node_worker import WORKERS, run_seed, seed_stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def services(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    pytest.importorskip("confluent_kafka", reason="pip install -e '.[dev]' brings confluent-kafka")
    worker = [sys.executable, str(WORKERS / "python" / "email_worker.py")]
    with seed_stack(kafka_bootstrap, redis_url, tmp_path, "python", worker) as url:
        yield url


@pytest.mark.timeout(180)
async def test_seed_runs_with_the_confluent_kafka_worker_sending_the_email(services: str) -> None:
    await run_seed(services, "python")
