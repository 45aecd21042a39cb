"""`/healthz` and `/readyz` of the metrics port, as the Kubernetes probes use them.

A process running orchestrator and dispatcher (`workflows run ... --metrics-port N`) against
the real broker and Redis turns ready once both consumers started; a probe whose Redis is
down, or whose consumer has not started, is not ready; SIGTERM stops the process in time.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from tests.support.stack import EXE, ROOT, service_env
from workflows.services.infra.health import HealthProbe
from workflows.services.infra.metrics import EngineMetrics
from workflows.services.infra.redis_client import connect_redis_url
from workflows.services.infra.settings import Settings
from workflows.testing.embedded import free_port

pytestmark = pytest.mark.integration


def poll_ready(url: str, timeout: float) -> dict[str, Any]:
    """The first 200 answer of `url/readyz`; AssertionError with the last answer at the deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            reply = httpx.get(f"{url}/readyz", timeout=5)
            last = (reply.status_code, reply.text)
            if reply.status_code == 200:
                body: dict[str, Any] = reply.json()
                return body
        except httpx.TransportError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{url}/readyz not 200 after {timeout}s; last answer: {last!r}")


@pytest.mark.timeout(120)
def test_a_process_is_ready_once_its_consumers_started_and_stops_on_sigterm(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    prefix = f"h{uuid.uuid4().hex[:6]}"
    port = free_port()
    env = service_env(
        kafka_bootstrap, redis_url, prefix, auth=None, WORKFLOWS_METRICS_PORT=str(port)
    )
    log = tmp_path / "process.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [EXE, "run", "orchestrator", "dispatcher"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        body = poll_ready(url, 60)
        assert body["checks"] == {"redis": True, "orchestrator": True, "dispatcher": True}
        # the only member of each group holds every partition (2 per topic) of its topics
        assert body["partitions"]["dispatcher"] >= 2, body
        assert body["partitions"]["orchestrator"] >= 6, body  # start, results, control
        assert httpx.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
        metrics = httpx.get(f"{url}/metrics", timeout=5)
        assert metrics.status_code == 200 and "workflows_consumer_lag_messages" in metrics.text

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        stopped_s = time.monotonic() - started
        assert code == 0, log.read_text()[-3000:]
        # terminationGracePeriodSeconds of deploy/k8s leaves room for more than this idle drain
        assert stopped_s < 15, f"SIGTERM took {stopped_s:.1f}s"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_not_ready_while_redis_is_down_or_a_consumer_has_not_started(
    settings: Settings,
) -> None:
    engine = EngineMetrics.of(CollectorRegistry())
    waiting = engine.service("notifier")  # never fetched: its consumer has not started
    down = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    up = connect_redis_url(settings.redis_url)
    loop = asyncio.get_running_loop()
    try:
        no_redis = await HealthProbe(loop, down, [], timeout_s=1).check()
        assert no_redis.body()["error"] == "not ready: redis"
        no_consumer = await HealthProbe(loop, up, [waiting], timeout_s=1).check()
        assert no_consumer.body()["checks"] == {"redis": True, "notifier": False}
        # from another thread, as the metrics server asks it
        probe = HealthProbe(loop, up, [waiting], timeout_s=1)
        answer = await asyncio.to_thread(probe.check_threadsafe)
        assert answer.status_code == 503 and answer.checks == no_consumer.checks
    finally:
        await down.aclose()
        await up.aclose()
