"""The embedded default and its Apache Kafka alternative, as a user runs them.

`make demo` (and `workflows dev`) keep Tansu, which needs no Java; this is the one place the
suite runs on it. `workflows dev --broker kafka` starts Apache Kafka instead and prints its
bootstrap address, which a foreign client (kcat, librdkafka) can use.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workflows.client import Workflows
from workflows.testing.embedded import free_port, repo_root

pytestmark = pytest.mark.e2e
EXE = str(Path(sys.executable).parent / "workflows")
SEED = repo_root() / "examples" / "customer_onboarding.yaml"
CUSTOMER = {
    "customerId": "cust_12345",
    "plan": "professional",
    "industry": "healthcare",
    "companySize": "medium",
}


@pytest.mark.timeout(180)
def test_make_demo_runs_the_seed_on_the_embedded_tansu_broker() -> None:
    """`python -m workflows.demo` (what `make demo` runs) completes both seed executions."""
    done = subprocess.run(
        [sys.executable, "-m", "workflows.demo"],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "demo finished: both executions completed" in done.stdout
    assert done.stdout.count("status: completed") == 2


def _wait_line(proc: subprocess.Popen[str], pattern: str, deadline: float) -> re.Match[str]:
    assert proc.stdout is not None
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"no line matching {pattern!r}; got: {''.join(seen)[-3000:]}")


@pytest.mark.timeout(240)
def test_dev_with_broker_kafka_runs_the_seed_and_prints_a_bootstrap_kcat_can_use(
    tmp_path: Path,
) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            EXE,
            "dev",
            "--ephemeral",  # leave the user's data folder alone (tests/e2e/test_dev_state.py)
            "--broker",
            "kafka",
            "--port",
            str(port),
            "--functions",
            "examples.onboarding_functions",
        ],
        cwd=repo_root(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        found = _wait_line(
            proc, r"broker Apache Kafka [\d.]+ at (127\.0\.0\.1:\d+)", time.monotonic() + 120
        )
        bootstrap = found.group(1)
        with Workflows(f"http://127.0.0.1:{port}", timeout=60) as wf:
            wf.wait_ready(60)
            wf.register(str(SEED))
            execution_id = wf.start("customerOnboardingWorkflow", CUSTOMER)
            status = wf.wait(execution_id, timeout=60)
        assert status["status"] == "completed", status
        kcat = shutil.which("kcat")
        if kcat is not None:  # a librdkafka client lists the engine's topics on that address
            listing = subprocess.run(
                [kcat, "-b", bootstrap, "-L"], capture_output=True, text=True, timeout=30
            )
            assert listing.returncode == 0, listing.stderr
            assert "wf.steps.commands" in listing.stdout
    finally:
        proc.terminate()
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
