"""SIGTERM to a dispatcher process in the middle of a slow call: the call finishes, its result
is published, the offsets are committed, the lease is released and the process exits 0."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from redis.asyncio import Redis

from workflows.contracts import Actor, StartExecution, Topics, encode
from workflows.services.core.limits import FunctionLimit
from workflows.services.infra.kafka import Bus, ensure_topics
from workflows.services.infra.keys import Keys
from workflows.services.infra.leases import Leases
from workflows.services.infra.limiter import FunctionLimits
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import StateStore
from workflows.services.orchestrator import Orchestrator

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).parent / "workflows")
WAIT_S = 60.0


async def until(what: str, check: Callable[[], Awaitable[bool]], within_s: float = WAIT_S) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.timeout(180)
async def test_sigterm_lets_the_running_call_finish_then_exits_0(
    settings: Settings, redis: Redis, tmp_path: Path
) -> None:
    topics = Topics.with_prefix(settings.topic_prefix)
    await ensure_topics(settings, topics.fixed().values())
    keys = Keys(settings.key_prefix)
    doc = {"name": "slowflow", "steps": [{"id": "s1", "function": "slowStep", "input": {"x": 1}}]}
    await StateStore(redis, keys).register_definition("slowflow", json.dumps(doc), {})
    await FunctionLimits(redis, keys).put("slowStep", FunctionLimit(concurrency=1))
    env = {
        **os.environ,
        "WORKFLOWS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "WORKFLOWS_REDIS_URL": settings.redis_url,
        "WORKFLOWS_TOPIC_PREFIX": settings.topic_prefix,
        "WORKFLOWS_KEY_PREFIX": settings.key_prefix,
        "WORKFLOWS_PARTITIONS": str(settings.partitions),
        "WORKFLOWS_DRAIN_TIMEOUT_S": "30",
        "SLOW_FUNCTION_SECONDS": "3",
        "PYTHONPATH": str(ROOT),
    }
    log_path = tmp_path / "dispatcher.log"
    dispatcher = start_dispatcher(env, log_path)
    orchestrator = Orchestrator(settings, redis)
    orchestrating = asyncio.create_task(orchestrator.run())
    try:
        execution_id = f"e-{uuid.uuid4().hex[:8]}"
        start = StartExecution(
            execution_id=execution_id, workflow="slowflow", actor=Actor(kind="system")
        )
        bus = Bus(settings, "test")
        await bus.start()
        await bus.publish(topics.start, encode(start), execution_id)
        await bus.flush()
        await bus.stop()

        async def started() -> bool:
            return await redis.hget(f"{settings.key_prefix}:slow", "calls") is not None

        await until("the slow call to start", started)
        signalled = asyncio.get_running_loop().time()
        dispatcher.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(dispatcher.wait, 60)
        print(
            f"dispatcher exited {asyncio.get_running_loop().time() - signalled:.2f} s after SIGTERM"
        )
        assert code == 0, log_path.read_text()[-3000:]
        assert await redis.hget(f"{settings.key_prefix}:slow", "finished") == b"1"

        async def completed() -> bool:
            state = await StateStore(redis, keys).get_state(execution_id)
            return state is not None and json.loads(state)["status"] == "completed"

        await until("the execution to complete", completed)
        assert await redis.hget(f"{settings.key_prefix}:slow", "calls") == b"1"
        lease = keys.function_lease("slowStep")
        assert await Leases(redis).lease_holders(lease, "fn:slowStep") == []
        assert await committed(settings, topics.step_commands) == 1
        assert "drain" in log_path.read_text()
    finally:
        if dispatcher.poll() is None:
            dispatcher.kill()
            dispatcher.wait()
        orchestrator.stop()
        await asyncio.wait_for(orchestrating, 30)


def start_dispatcher(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [EXE, "run", "dispatcher", "--functions", "tests.e2e.slow_functions"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def committed(settings: Settings, topic: str) -> int:
    """The dispatcher group's committed offsets on `topic`, summed over partitions."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"{settings.topic_prefix}wf-dispatcher",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        total = 0
        for partition in range(settings.partitions):
            total += await consumer.committed(TopicPartition(topic, partition)) or 0
        return total
    finally:
        await consumer.stop()
