"""The seed runs with `sendPersonalizedEmail` served by the bash worker on kcat and jq."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_node_worker import SIGNED, WORKERS, run_seed, seed_stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def services(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    if not (shutil.which("kcat") and shutil.which("jq") and shutil.which("bash")):
        pytest.skip("needs kcat, jq and bash (Debian packages; .ci/run installs kcat)")
    worker = ["bash", str(WORKERS / "kcat" / "email-worker.sh")]
    with seed_stack(kafka_bootstrap, redis_url, tmp_path, "kcat", worker, SIGNED) as url:
        yield url


@pytest.mark.timeout(180)
async def test_seed_runs_with_the_kcat_worker_sending_the_email(services: str) -> None:
    await run_seed(services, "kcat")
