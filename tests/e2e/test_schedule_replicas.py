"""Exactly-once schedules across trigger replicas that are separate OS processes.

Two `workflows run trigger` processes (plus orchestrator and dispatcher processes) share a
per-second cron schedule. One trigger is SIGKILLed mid-way. Over the whole window every fire
time must have produced exactly one execution: none twice, none missing after the kill.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from workflows import AsyncWorkflows
from workflows.contracts import StartExecution, decode
from workflows.services.core.state import ExecutionState
from workflows.testing.embedded import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).parent / "workflows")
BEFORE_KILL = 4  # occurrences fired before one trigger replica is killed
AFTER_KILL = 8  # occurrences that must fire after it died
WORKFLOW = {
    "name": "everySecond",
    "steps": [{"id": "tick", "function": "tick", "input": {"n": 1}}],
}


class Cluster:
    def __init__(self, procs: dict[str, subprocess.Popen[bytes]], urls: list[str], prefix: str):
        self.procs = procs
        self.urls = urls
        self.prefix = prefix


@pytest.fixture
def cluster(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[Cluster]:
    prefix = f"e2es{uuid.uuid4().hex[:6]}"
    ports = [free_port(), free_port()]
    env = {
        **os.environ,
        "WORKFLOWS_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "WORKFLOWS_REDIS_URL": redis_url,
        "WORKFLOWS_TOPIC_PREFIX": f"{prefix}.",
        "WORKFLOWS_KEY_PREFIX": prefix,
        "WORKFLOWS_AUTH": "off",
        "WORKFLOWS_PARTITIONS": "4",
        "WORKFLOWS_SCHEDULER_POLL_MS": "100",
        "PYTHONPATH": str(ROOT),
    }
    commands = {
        "trigger1": ["run", "trigger", "--port", str(ports[0])],
        "trigger2": ["run", "trigger", "--port", str(ports[1])],
        "orchestrator": ["run", "orchestrator"],
        "dispatcher": ["run", "dispatcher", "--functions", "tests.e2e.tick_functions"],
    }
    procs = {}
    for name, args in commands.items():
        log = (tmp_path / f"{name}.log").open("wb")
        procs[name] = subprocess.Popen(
            [EXE, *args], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield Cluster(procs, [f"http://127.0.0.1:{p}" for p in ports], prefix)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for name, proc in procs.items():
            try:
                code = proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            assert code in (0, -15, -9), (
                f"{name} exited with {code}: {(tmp_path / f'{name}.log').read_text()[-3000:]}"
            )


async def _fired(wf: AsyncWorkflows, schedule_id: str) -> int:
    return int((await wf.get_schedule(schedule_id, upcoming=0))["fired"])


async def _until_fired(wf: AsyncWorkflows, schedule_id: str, count: int, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while await _fired(wf, schedule_id) < count:
        assert time.monotonic() < deadline, f"fewer than {count} occurrences fired"
        await asyncio.sleep(0.1)


async def _start_messages(bootstrap: str, topic: str, ids: set[str]) -> Counter[str]:
    """How many StartExecution commands were published for each of `ids`."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    counts: Counter[str] = Counter()
    try:
        deadline = time.monotonic() + 30
        idle = 0
        while time.monotonic() < deadline and idle < 5:
            batch = await consumer.getmany(timeout_ms=300)
            records = [r for rs in batch.values() for r in rs]
            idle = 0 if records else idle + 1
            for record in records:
                start = decode(StartExecution, record.value)
                if start.execution_id in ids:
                    counts[start.execution_id] += 1
    finally:
        await consumer.stop()
    return counts


def _fire_time(execution_id: str) -> datetime:
    return datetime.strptime(execution_id.rsplit("-", 1)[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


@pytest.mark.timeout(300)
async def test_a_per_second_schedule_fires_once_per_second_while_a_replica_dies(
    cluster: Cluster, kafka_bootstrap: str, redis_url: str
) -> None:
    first, second = (AsyncWorkflows(url, timeout=30) for url in cluster.urls)
    redis = Redis.from_url(redis_url)
    try:
        await first.wait_ready(timeout=60)
        await second.wait_ready(timeout=60)
        await first.register(WORKFLOW)
        created = await first.schedule(
            "everySecond", cron_expression="* * * * * *", catch_up="all", schedule_id="sec"
        )
        assert created["id"] == "sec"
        await _until_fired(second, "sec", BEFORE_KILL, 60)
        cluster.procs["trigger1"].send_signal(signal.SIGKILL)
        assert cluster.procs["trigger1"].wait(10) == -signal.SIGKILL
        killed_at = datetime.now(UTC)
        await _until_fired(second, "sec", BEFORE_KILL + AFTER_KILL, 60)
        paused = await second.pause_schedule("sec")
        fired = int(paused["fired"])

        keys = [k.decode() async for k in redis.scan_iter(f"{cluster.prefix}:exec:{{sched-sec-*}}")]
        ids = sorted(k.split("{", 1)[1].rstrip("}") for k in keys if k.endswith("}"))
        deadline = time.monotonic() + 60
        while len(ids) < fired:  # the orchestrator may still be creating the last ones
            assert time.monotonic() < deadline, f"{len(ids)} executions for {fired} fire times"
            await asyncio.sleep(0.1)
            keys = [
                k.decode() async for k in redis.scan_iter(f"{cluster.prefix}:exec:{{sched-sec-*}}")
            ]
            ids = sorted(k.split("{", 1)[1].rstrip("}") for k in keys if k.endswith("}"))
        assert len(ids) == fired, (len(ids), fired)

        # one execution per second, no gap from the first fire time to the last
        times = [_fire_time(i) for i in ids]
        span = int((times[-1] - times[0]).total_seconds()) + 1
        expected = [times[0] + timedelta(seconds=s) for s in range(span)]
        assert times == expected, f"missing: {sorted(set(expected) - set(times))}"
        assert sum(1 for t in times if t > killed_at) >= AFTER_KILL - 1

        # every execution ran, started by the schedule
        states: list[Any] = []
        deadline = time.monotonic() + 60
        while True:
            docs = [await redis.hget(f"{cluster.prefix}:exec:{{{i}}}", "doc") for i in ids]
            states = [ExecutionState.model_validate_json(d) for d in docs if d]
            if all(s.status.value == "completed" for s in states):
                break
            assert time.monotonic() < deadline, "not every scheduled execution completed"
            await asyncio.sleep(0.2)
        assert {s.actor["id"] for s in states if s.actor} == {"sec"}
        assert {s.actor["kind"] for s in states if s.actor} == {"schedule"}

        # published once each; a replica killed between the broker's ack and marking the
        # claim published may leave one duplicate command, which the orchestrator ignored
        counts = await _start_messages(
            kafka_bootstrap, f"{cluster.prefix}.wf.executions.start", set(ids)
        )
        assert set(counts) == set(ids)
        assert sum(1 for c in counts.values() if c > 1) <= 1 and max(counts.values()) <= 2
    finally:
        await first.aclose()
        await second.aclose()
        await redis.aclose()
