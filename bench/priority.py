"""Priority behind a backlog (issue 17 item 9): `python -m bench.priority`.

A function with concurrency 1 (5 ms a call), 1,000 executions of priority 0 started at once,
then, once the backlog waits in the function's queue, one of priority 100. Printed: where the
urgent call ran among all calls, when it finished against the backlog's last, on a fresh
Apache Kafka and redis-server, orchestrator and dispatcher as tasks of this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

from tests.support.runtime import running_engine
from workflows.contracts import Actor, StartExecution
from workflows.functions import FunctionRegistry, function
from workflows.services.core.limits import FunctionLimit
from workflows.services.infra.keys import Keys
from workflows.services.infra.limiter import FunctionLimits
from workflows.services.infra.logs import configure_logging
from workflows.services.infra.redis_client import connect_redis
from workflows.services.infra.settings import Settings
from workflows.services.infra.waiting import WaitingCommands
from workflows.testing.apache_kafka import kafka_cluster
from workflows.testing.embedded import redis_server

BACKLOG, CALL_S = 1000, 0.005


async def _run(bootstrap: str, redis_url: str) -> None:
    tag = uuid.uuid4().hex[:6]
    settings = Settings(
        kafka_bootstrap=bootstrap,
        redis_url=redis_url,
        topic_prefix=f"p{tag}.",
        key_prefix=f"p{tag}",
        partitions=2,
        auth="off",
        park_min_ms=20,
        park_max_ms=100,
    )
    registry = FunctionRegistry()
    calls: list[str] = []

    @function("slow", registry=registry)
    async def slow(value: Any) -> Any:
        calls.append(str(value["tag"]))
        await asyncio.sleep(CALL_S)
        return value

    redis = connect_redis(settings)
    keys = Keys(settings.key_prefix)
    await FunctionLimits(redis, keys).put("slow", FunctionLimit(concurrency=1, lease_seconds=30))
    waiting = WaitingCommands(redis, keys)
    definition = {
        "name": "prioritized",
        "steps": [{"id": "s", "function": "slow", "input": {"tag": "{{input.tag}}"}}],
    }
    async with running_engine(settings, registry) as engine:
        await engine.register(definition)

        async def start(name: str, priority: int | None = None) -> str:
            message = StartExecution(
                execution_id=uuid.uuid4().hex,
                workflow="prioritized",
                input={"tag": name},
                actor=Actor(kind="api"),
                priority=priority,
            )
            await engine.bus.publish(
                engine.topics.start, message.model_dump_json().encode(), message.execution_id
            )
            return message.execution_id

        began = time.perf_counter()
        backlog = [await start(f"low{i}") for i in range(BACKLOG)]
        await engine.bus.flush()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # poll with a deadline: the queue is in Redis
            if await waiting.count("slow") >= BACKLOG // 2:
                break
            await asyncio.sleep(0.01)
        queued, done_before = await waiting.count("slow"), len(calls)
        urgent_at = time.perf_counter()
        urgent = await start("urgent", priority=100)
        await engine.bus.flush()
        urgent_state = await engine.wait(urgent, timeout=300)
        urgent_done = time.perf_counter()
        last = 0.0
        for execution_id in backlog:
            state = await engine.wait(execution_id, timeout=300)
            assert state.status.value == "completed", state.status
        last = time.perf_counter()
    await redis.aclose()
    rank = calls.index("urgent") + 1
    print(
        f"backlog {BACKLOG} executions (priority 0), function concurrency 1, "
        f"{CALL_S * 1000:g} ms a call"
    )
    print(f"urgent (priority 100) started with {queued} commands queued, {done_before} calls done")
    print(f"urgent ran as call {rank} of {len(calls)}; status {urgent_state.status.value}")
    print(
        f"urgent finished {urgent_done - urgent_at:.2f} s after its start; "
        f"the backlog's last finished {last - began:.2f} s after the backlog began "
        f"({last - urgent_done:.2f} s after the urgent one)"
    )


def main() -> None:
    configure_logging("WARNING")
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(kafka_cluster(1))
        redis_url = stack.enter_context(redis_server())
        asyncio.run(_run(cluster.bootstrap, redis_url))


if __name__ == "__main__":
    main()
