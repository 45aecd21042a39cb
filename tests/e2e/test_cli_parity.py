"""The CLI does what the API and the dashboard do: pause/resume, schedules, workflows
(list/show/source/diff), metrics, events; --version, bare help, "did you mean".

Against `workflows dev --ephemeral` (Tansu), each command run as a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from workflows.client import Workflows
from workflows.testing.embedded import free_port, repo_root

pytestmark = pytest.mark.e2e
EXE = str(Path(sys.executable).parent / "workflows")
SEED = repo_root() / "examples" / "customer_onboarding.yaml"
CUSTOMER = {"customerId": "c1", "plan": "professional", "industry": "x", "companySize": "small"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    home = tmp_path_factory.mktemp("parity")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOWS_")}
    env["XDG_DATA_HOME"] = str(home)
    port = free_port()
    argv = [EXE, "dev", "--ephemeral", "--port", str(port)]
    log = (home / "dev.log").open("wb")
    proc = subprocess.Popen(
        [*argv, "--functions", "examples.onboarding_functions"],
        cwd=repo_root(),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with Workflows(url, timeout=30) as wf:
            wf.wait_ready(60)
        yield url, {**env, "WORKFLOWS_API_URL": url}
    finally:
        proc.terminate()
        proc.wait(40)


def cli(env: dict[str, str], *argv: str, code: int = 0) -> str:
    done = subprocess.run(
        [EXE, *argv], cwd=repo_root(), env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == code, (argv, done.stdout, done.stderr)
    return done.stdout + done.stderr


def test_version_bare_help_and_did_you_mean(api: tuple[str, dict[str, str]]) -> None:
    _, env = api
    assert re.fullmatch(r"workflows \d+\.\d+\.\d+\n", cli(env, "--version"))
    assert cli(env).startswith("usage: workflows")
    assert "did you mean 'list'?" in cli(env, "lsit", code=2)
    assert "did you mean 'create'?" in cli(env, "schedules", "creat", code=2)
    assert "invalid choice: 'bogus'" in cli(env, "list", "--status", "bogus", code=2)


@pytest.mark.timeout(180)
def test_workflows_metrics_schedules_events_pause_and_resume(
    api: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = api
    cli(env, "register", str(SEED))
    # v2 edits one line of the file, as a person does: the diff compares the texts as registered
    text = SEED.read_text()
    description = yaml.safe_load(text)["description"]
    second = tmp_path / "second.yaml"
    second.write_text(text.replace(description, "Onboarding, second take", 1))
    cli(env, "register", str(second))

    listed = cli(env, "workflows", "list")
    assert re.search(r"customerOnboardingWorkflow\s+2\s+Onboarding, second take", listed)
    shown = cli(env, "workflows", "show", "customerOnboardingWorkflow", "--version", "1")
    assert "v1 (versions 1, 2)" in shown and "setupCustomerAccount" in shown
    assert re.search(r"timeToValue\s+days", shown)
    source = cli(env, "workflows", "source", "customerOnboardingWorkflow", "--version", "1")
    assert yaml.safe_load(source)["name"] == "customerOnboardingWorkflow"
    diff = cli(env, "workflows", "diff", "customerOnboardingWorkflow", "1", "2")
    assert "version 1 -> 2, 1 changed" in diff and "+" in diff and "unchanged lines" in diff
    assert "second take" in diff

    with Workflows(url, timeout=30) as wf:
        execution_id = wf.start("customerOnboardingWorkflow", CUSTOMER)
        assert wf.wait(execution_id, timeout=60)["status"] == "completed"
    metrics = cli(env, "metrics", "customerOnboardingWorkflow")
    assert "1 ended executions (completed 1)" in metrics and "completion rate: 100 %" in metrics
    assert re.search(r"timeToValue\s+days\s+1\s+0\s+10 days", metrics)

    created = json.loads(
        cli(env, "schedules", "create", "customerOnboardingWorkflow", "--cron", "0 9 * * *",
            "--timezone", "Europe/Paris", "--input", json.dumps(CUSTOMER))
    )  # fmt: skip
    schedule_id = created.get("scheduleId") or created["id"]
    refused = cli(env, "schedules", "create", "customerOnboardingWorkflow", "--cron", "0 9 * * *",
                  "--on-failure", "ops-at-example", code=1)  # fmt: skip
    assert "recipient 'ops-at-example' is neither an e-mail address" in refused
    schedules = cli(env, "schedules", "list")
    assert schedule_id in schedules and "Europe/Paris" in schedules and "active" in schedules
    cli(env, "schedules", "pause", schedule_id)
    assert "paused" in cli(env, "schedules", "list")
    cli(env, "schedules", "resume", schedule_id)
    cli(env, "schedules", "delete", schedule_id)
    assert schedule_id not in cli(env, "schedules", "list")

    published = json.loads(cli(env, "events", "publish", "order.created", "--data", '{"a": 1}'))
    assert published["executions"] == []  # no workflow is triggered by it
    assert "--data is not valid JSON" in cli(env, "events", "publish", "x.y", "--data", "{", code=1)

    with Workflows(url, timeout=30) as wf:  # an execution waiting on approval can be paused
        wf.register(
            {
                "name": "held",
                "steps": [
                    {"id": "ok", "function": "approval", "input": {"approvers": ["ann"]}},
                ],
            }
        )
        held = wf.start("held", {})
        cli(env, "pause", held)
        _until(lambda: wf.get_status(held)["paused"] is True, "paused")
        cli(env, "resume", held)
        _until(lambda: wf.get_status(held)["paused"] is False, "resumed")
    assert json.loads(cli(env, "status", held, "--json"))["status"] == "running"


def _until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not {what} after {timeout} s"
        time.sleep(0.05)
