"""`workflows dev` keeps its state across restarts, prints its export lines, and the operator
commands (`keys`, `dlq`) follow it instead of a default 127.0.0.1:6379.

`workflows dev` runs as a user starts it (a process, Tansu embedded), with a private
XDG_DATA_HOME so the default data folder is the test's own.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from workflows.client import Workflows
from workflows.testing.embedded import free_port, repo_root

pytestmark = pytest.mark.e2e
EXE = str(Path(sys.executable).parent / "workflows")
SEED = repo_root() / "examples" / "customer_onboarding.yaml"
CUSTOMER = {"customerId": "c1", "plan": "professional", "industry": "x", "companySize": "small"}
EXPORT = re.compile(
    r"^  export WORKFLOWS_KAFKA_BOOTSTRAP=(127\.0\.0\.1:\d+) "
    r"WORKFLOWS_REDIS_URL=(redis://127\.0\.0\.1:\d+/0) WORKFLOWS_API_URL=(http://127\.0\.0\.1:\d+)"
    r"( WORKFLOWS_FETCH_MAX_WAIT_MS=5)?$"  # on Tansu, which holds every fetch for its max wait
)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOWS_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    return env


@contextmanager
def dev(
    env: dict[str, str], *extra: str, functions: str = "examples.onboarding_functions"
) -> Iterator[tuple[re.Match[str], list[str]]]:
    """Run `workflows dev` until its export line; yield (that line's match, its output)."""
    argv = [EXE, "dev", "--port", str(free_port()), "--functions", functions]
    proc = subprocess.Popen(
        [*argv, *extra],
        cwd=repo_root(),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        found = None
        while found is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"dev exited with {proc.wait()}: {''.join(lines)}")
            lines.append(line)
            found = EXPORT.match(line.rstrip("\n"))
        assert found is not None, "".join(lines)
        yield found, lines
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(40) in (0, -15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise


def _cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *argv], cwd=repo_root(), env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.timeout(240)
def test_dev_keeps_its_state_and_keys_and_dlq_follow_it(tmp_path: Path) -> None:
    env = _env(tmp_path)
    data = tmp_path / "xdg" / "workflows" / "dev"  # the default: the user's data folder
    with dev(env) as (found, lines):
        bootstrap, redis_url, api, fetch = found.groups()
        assert fetch, "a worker on dev's Tansu must poll as often as dev's services do"
        assert f"state kept in {data}" in "".join(lines)
        with Workflows(api, timeout=30) as wf:
            wf.wait_ready(60)
            wf.register(str(SEED))
            execution_id = wf.start("customerOnboardingWorkflow", CUSTOMER)
            assert wf.wait(execution_id, timeout=60)["status"] == "completed"

        created = _cli(env, "keys", "create", "--scope", "read", "--name", "kept", "--json")
        assert created.returncode == 0, created.stderr
        assert created.stderr.startswith("using the running `workflows dev` (pid ")
        assert f"redisUrl {redis_url}" in created.stderr
        key_id = json.loads(created.stdout)["id"]
        letters = _cli(env, "dlq", "list")
        assert letters.returncode == 0, letters.stderr
        assert f"bootstrap {bootstrap}" in letters.stderr
        assert letters.stdout.strip() == "the dead-letter topic is empty"
        listed = _cli(env, "list")  # the API commands find dev's port too
        assert listed.returncode == 0 and execution_id in listed.stdout, listed.stderr

        busy = _cli(env, "dev", "--port", str(free_port()))
        assert busy.returncode == 1
        assert (
            busy.stderr.strip()
            .splitlines()[-1]
            .endswith(
                f"already runs on the data dir {data}: stop it, or pass another --data-dir "
                "(or --ephemeral)"
            )
        )

    with dev(env) as (found, _):  # started again: new ports, the same data
        api = found.group(3)
        with Workflows(api, timeout=30) as wf:
            wf.wait_ready(60)
            assert [w["name"] for w in wf.list_workflows()] == ["customerOnboardingWorkflow"]
            assert wf.get_status(execution_id)["status"] == "completed"
        keys = _cli(env, "keys", "list")
        assert key_id in keys.stdout and "kept" in keys.stdout

    with dev(env, "--ephemeral") as (found, lines):
        assert "nothing kept (--ephemeral)" in "".join(lines)
        with Workflows(found.group(3), timeout=30) as wf:
            wf.wait_ready(60)
            assert wf.list_workflows() == []

    assert not (tmp_path / "xdg" / "workflows" / "dev.json").exists()  # removed at exit
    alone = _cli(env, "keys", "list")  # no dev running: the environment's (default) Redis
    assert "using the running" not in alone.stderr
