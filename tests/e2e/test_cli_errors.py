"""What a user gets wrong or what is down gives one line on stderr and a non-zero exit.

Each case runs the `workflows` command as a user would (a subprocess, its own environment)
and checks the last stderr line word for word where it names the address, and that no
traceback or aiokafka "Unclosed" warning is printed. The services' start-up retry is shown
both ways: giving up after --connect-timeout, and carrying on once Redis comes up.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from workflows.testing.embedded import free_port, redis_server, repo_root

pytestmark = pytest.mark.e2e
EXE = str(Path(sys.executable).parent / "workflows")


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    """The user's environment without any WORKFLOWS_ setting of this machine; a fresh data
    folder, so no state from another `workflows dev` is found."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOWS_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env.update(values)
    return env


def _fails(argv: list[str], env: dict[str, str], timeout: float = 60) -> tuple[str, str]:
    """Run `workflows ARGV`; assert exit 1, a clean stderr; (the last stderr line, stderr)."""
    done = subprocess.run(
        [EXE, *argv], capture_output=True, text=True, env=env, timeout=timeout, cwd=repo_root()
    )
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    return lines[-1], done.stderr


@pytest.fixture
def dead_port() -> int:
    """A port nothing listens on."""
    return free_port()


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_list_with_no_trigger_names_the_url_and_how_to_start_it(
    tmp_path: Path, dead_port: int
) -> None:
    url = f"http://127.0.0.1:{dead_port}"
    line, _ = _fails(["list"], _env(tmp_path, WORKFLOWS_API_URL=url))
    assert line == (
        f"error: cannot reach the trigger service at {url}: start it (`workflows dev`, or "
        "`workflows run trigger`) or pass --url / set WORKFLOWS_API_URL "
        "([Errno 111] Connection refused)"
    )


def test_execute_with_bad_json_input_names_the_option_and_the_column(tmp_path: Path) -> None:
    line, _ = _fails(["execute", "seed", "--input", "{bad"], _env(tmp_path))
    assert line == (
        "error: --input is not valid JSON: Expecting property name enclosed in double quotes "
        """(column 2); pass JSON, e.g. --input '{"customerId": "c1"}'"""
    )


def test_run_orchestrator_with_no_broker_retries_then_names_the_bootstrap(
    tmp_path: Path, redis_url: str, dead_port: int
) -> None:
    bootstrap = f"127.0.0.1:{dead_port}"
    env = _env(tmp_path, WORKFLOWS_KAFKA_BOOTSTRAP=bootstrap, WORKFLOWS_REDIS_URL=redis_url)
    line, stderr = _fails(["run", "orchestrator", "--connect-timeout", "2"], env)
    assert re.fullmatch(
        rf"error: no Kafka broker answers at {bootstrap} \(retried for 1\.\d s\): cannot "
        r"connect; start a broker \(`make kafka`, or `workflows dev` and its export lines\) "
        r"or set WORKFLOWS_KAFKA_BOOTSTRAP",
        line,
    ), line
    retries = [entry for entry in stderr.splitlines() if '"waiting_for_broker"' in entry]
    assert len(retries) >= 2 and '"retry_in_s": 0.4' in retries[1]  # the delay doubles


@pytest.mark.parametrize("command", [["run", "worker", "--connect-timeout", "1"], ["keys", "list"]])
def test_redis_down_names_the_url(tmp_path: Path, dead_port: int, command: list[str]) -> None:
    url = f"redis://127.0.0.1:{dead_port}/0"
    line, _ = _fails(command, _env(tmp_path, WORKFLOWS_REDIS_URL=url))
    assert re.fullmatch(
        rf"error: Redis at {re.escape(url)} does not answer( \(retried for \d\.\d s\))?: "
        rf"Error 111 connecting to 127\.0\.0\.1:{dead_port}\. Connect call failed "
        rf"\('127\.0\.0\.1', {dead_port}\); start redis-server \(or `workflows dev` and its "
        r"export lines\) or set WORKFLOWS_REDIS_URL",
        line,
    ), line


def test_dlq_list_without_a_broker_names_the_bootstrap(tmp_path: Path, dead_port: int) -> None:
    bootstrap = f"127.0.0.1:{dead_port}"
    line, _ = _fails(["dlq", "list"], _env(tmp_path, WORKFLOWS_KAFKA_BOOTSTRAP=bootstrap))
    assert line == (
        f"error: no Kafka broker answers at {bootstrap}: cannot connect; start a broker "
        "(`make kafka`, or `workflows dev` and its export lines) or set WORKFLOWS_KAFKA_BOOTSTRAP"
    )


def test_dev_on_a_busy_port_names_it_and_the_option(tmp_path: Path, busy_port: int) -> None:
    line, _ = _fails(["dev", "--port", str(busy_port)], _env(tmp_path))
    assert line == (
        f"error: port {busy_port} on 127.0.0.1 is already in use (the HTTP API): "
        "stop what holds it or pass --port N"
    )


@pytest.mark.timeout(120)
def test_a_service_started_before_redis_waits_for_it_and_then_runs(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    """`run worker` with Redis not up yet logs each retry; once Redis listens it connects."""
    port = free_port()
    env = _env(
        tmp_path,
        WORKFLOWS_KAFKA_BOOTSTRAP=kafka_bootstrap,
        WORKFLOWS_REDIS_URL=f"redis://127.0.0.1:{port}/0",
        WORKFLOWS_TOPIC_PREFIX=f"t{port}.",
    )
    proc = subprocess.Popen(
        [EXE, "run", "worker", "--connect-timeout", "60"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=repo_root(),
    )
    assert proc.stderr is not None
    seen: list[str] = []

    def wait_for(event: str, deadline: float) -> None:
        assert proc.stderr is not None
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                raise AssertionError(f"worker exited ({proc.poll()}): {''.join(seen)}")
            seen.append(line)
            if f'"event": "{event}"' in line:
                return
        raise AssertionError(f"no {event} line: {''.join(seen)}")

    try:
        wait_for("waiting_for_redis", time.monotonic() + 30)
        with redis_server(port):
            wait_for("connected", time.monotonic() + 60)
            assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(30)
