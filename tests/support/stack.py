"""The engine's services as OS processes (`workflows run ...`), for e2e and integration tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from workflows.testing.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).parent / "workflows")
SEED_FUNCTIONS = "examples.onboarding_functions"


def service_env(
    kafka_bootstrap: str,
    redis_url: str,
    prefix: str,
    *,
    auth: str | None = "off",
    partitions: int | None = 2,
    **extra: str,
) -> dict[str, str]:
    """The process environment of services isolated by `prefix` (topics and keys).

    `auth`/`partitions` of None leave WORKFLOWS_AUTH/WORKFLOWS_PARTITIONS as they are; `extra`
    adds more variables (e.g. WORKFLOWS_METRICS_PORT="9100").
    """
    env = {
        **os.environ,
        "WORKFLOWS_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "WORKFLOWS_REDIS_URL": redis_url,
        "WORKFLOWS_TOPIC_PREFIX": f"{prefix}.",
        "WORKFLOWS_KEY_PREFIX": prefix,
        "PYTHONPATH": str(ROOT),
        **extra,
    }
    if auth is not None:
        env["WORKFLOWS_AUTH"] = auth
    if partitions is not None:
        env["WORKFLOWS_PARTITIONS"] = str(partitions)
    return env


def stack_commands(port: int, functions: str, *, notifier: bool = False) -> dict[str, list[str]]:
    """argv per process name: trigger on `port`, orchestrator, dispatcher, [notifier], worker."""
    commands = {
        "trigger": [EXE, "run", "trigger", "--port", str(port)],
        "orchestrator": [EXE, "run", "orchestrator"],
        "dispatcher": [EXE, "run", "dispatcher"],
    }
    if notifier:
        commands["notifier"] = [EXE, "run", "notifier"]
    commands["worker"] = [EXE, "run", "worker", "--functions", functions]
    return commands


@contextmanager
def processes(
    commands: Mapping[str, Sequence[str]],
    env: Mapping[str, str],
    logs: Path,
    *,
    check_exit: bool = True,
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Start each argv (output to `logs/<name>.log`); on exit SIGTERM all, kill after 20 s.

    With `check_exit`, a process that exits other than 0 or by SIGTERM fails with its log's tail.
    """
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, argv in commands.items():
            with (logs / f"{name}.log").open("wb") as log:
                procs[name] = subprocess.Popen(
                    list(argv), env=dict(env), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
                )
        yield procs
    finally:
        for proc in procs.values():
            proc.terminate()
        codes: dict[str, int] = {}
        for name, proc in procs.items():
            try:
                codes[name] = proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.wait()
        failed = {name: code for name, code in codes.items() if code not in (0, -15)}
        if check_exit and failed:
            name, code = next(iter(failed.items()))
            raise AssertionError(
                f"{name} exited with {code}: {(logs / f'{name}.log').read_text()[-3000:]}"
            )


@contextmanager
def service_stack(
    kafka_bootstrap: str,
    redis_url: str,
    logs: Path,
    *,
    tag: str,
    functions: str = SEED_FUNCTIONS,
    notifier: bool = False,
    partitions: int = 2,
) -> Iterator[tuple[str, str]]:
    """The services as processes under a fresh prefix `<tag>xxxxxx`; yields (base URL, prefix)."""
    prefix = f"{tag}{uuid.uuid4().hex[:6]}"
    port = free_port()
    env = service_env(kafka_bootstrap, redis_url, prefix, partitions=partitions)
    with processes(stack_commands(port, functions, notifier=notifier), env, logs):
        yield f"http://127.0.0.1:{port}", prefix


async def wait_ready(base_url: str, timeout: float = 60) -> None:
    """Poll the trigger's /readyz until it answers 200; TimeoutError at the deadline."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        while True:
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the trigger service at {base_url} did not become ready")
            await asyncio.sleep(0.1)


@contextmanager
def trigger_process(
    kafka_bootstrap: str,
    redis_url: str,
    logs: Path,
    prefix: str,
    *,
    auth: str = "off",
    partitions: int | None = None,
) -> Iterator[tuple[str, dict[str, str]]]:
    """`workflows run trigger` alone on a free port; yields its URL and its environment."""
    port = free_port()
    env = service_env(kafka_bootstrap, redis_url, prefix, auth=auth, partitions=partitions)
    argv = [EXE, "run", "trigger", "--port", str(port)]
    with processes({"trigger": argv}, env, logs, check_exit=False):
        yield f"http://127.0.0.1:{port}", env
