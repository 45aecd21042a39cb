"""The seed runs with `sendPersonalizedEmail` served by the Go worker (franz-go)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_node_worker import SIGNED, WORKERS, run_seed, seed_stack

pytestmark = pytest.mark.e2e
GO_DIR = WORKERS / "go"


def build_go_worker() -> Path:
    """`go build` the example into examples/workers/go/bin (the Go build cache makes it quick)."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("needs the Go toolchain")
    binary = GO_DIR / "bin" / "email-worker"
    subprocess.run(
        [go, "build", "-o", str(binary), "./cmd/email-worker"],
        cwd=GO_DIR,
        check=True,
        timeout=300,
    )
    return binary


@pytest.fixture
def services(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    worker = [str(build_go_worker())]
    with seed_stack(kafka_bootstrap, redis_url, tmp_path, "go", worker, SIGNED) as url:
        yield url


@pytest.mark.timeout(240)
async def test_seed_runs_with_the_go_worker_sending_the_email(services: str) -> None:
    await run_seed(services, "go")
