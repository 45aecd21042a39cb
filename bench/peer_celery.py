"""Celery as a benchmark target: a chain of 10 tasks, a chord for fan-out/fan-in."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import redis

from bench import workloads
from bench.harness import Harness

__all__ = ["CeleryTarget"]

ROOT = Path(__file__).resolve().parents[1]


class CeleryTarget:
    name = "celery"

    def __init__(
        self, redis_url: str, log_dir: Path, redis_pids: list[int], concurrency: int = 2
    ) -> None:
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.redis_pids = redis_pids
        self.concurrency = concurrency
        self.harness: Harness | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="celery-send")
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()
        os.environ["BENCH_CELERY_REDIS"] = redis_url
        from bench import celery_app

        self.app = celery_app
        # The driver never calls .get(): skip the Redis backend's per-send pub/sub
        # subscription to the result channel (pure driver overhead, not Celery's work).
        # `app.backend` is thread-local (sends happen in a thread): patch its class, in
        # this driver process only.
        backend = type(celery_app.app.backend)
        backend.on_task_call = lambda self, *args, **kwargs: None
        backend.remove_pending_result = lambda self, result: result

    def processes(self) -> dict[str, list[int]]:
        worker = [self.worker.pid] if self.worker else []
        with contextlib.suppress(psutil.Error, IndexError):
            worker += [c.pid for c in psutil.Process(worker[0]).children(recursive=True)]
        return {"celery-worker": worker, "redis": self.redis_pids, "driver": [os.getpid()]}

    def __enter__(self) -> CeleryTarget:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / "celery-worker.log").open("wb")
        self.worker = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "bench.celery_app",
                "worker",
                "-P",
                "prefork",
                "-c",
                str(self.concurrency),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                os.environ.get("BENCH_CELERY_LOG", "warning"),
            ],
            env={**os.environ, "BENCH_CELERY_REDIS": self.redis_url, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._client = client = redis.Redis.from_url(self.redis_url)  # keep: GC closes it
        pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        pubsub.subscribe(self.app.DONE_CHANNEL)

        def listen() -> None:
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=0.2)
                if message and self.harness is not None:
                    self.harness.done(message["data"].decode())
            pubsub.close()

        self._listener = threading.Thread(target=listen, name="celery-done", daemon=True)
        self._listener.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.worker is not None:
            self.worker.terminate()
            try:
                self.worker.wait(20)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def check_alive(self) -> None:
        if self.worker is not None and self.worker.poll() is not None:
            raise RuntimeError(f"celery worker exited with code {self.worker.returncode}")

    def _send(self, kind: str, run_id: str, size: int) -> None:
        from celery import chain, chord

        noop, last = self.app.noop, self.app.last
        if kind == "fanout":
            branches = [noop.si(run_id) for _ in range(workloads.FANOUT_BRANCHES)]
            chain(noop.si(run_id), chord(branches, last.si(run_id))).apply_async()
            return
        steps = [noop.si(run_id, size) for _ in range(workloads.CHAIN_STEPS - 1)]
        chain(*steps, last.si(run_id, size)).apply_async()

    async def start(self, kind: str, run_id: str, size: int) -> None:
        # one sender thread: Celery's producer is synchronous (a Redis LPUSH per apply_async)
        await asyncio.get_running_loop().run_in_executor(self._pool, self._send, kind, run_id, size)

    async def ready(self, harness: Harness, timeout: float = 60.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            self.check_alive()
            try:
                await harness.closed_loop("chain", 1, timeout=10)
                return
            except TimeoutError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
