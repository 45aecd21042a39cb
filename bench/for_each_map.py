"""A 10,000-item forEach map on the real broker: makespan, peak Redis memory, largest message.

    .venv/bin/python -m bench.for_each_map [--items 10000] [--concurrency 50] [--runs 1]

Starts its own Apache Kafka broker and redis-server, runs an orchestrator and a dispatcher
in this process (the dispatcher runs the in-process functions), and per run starts one
execution of `seed -> map (forEach over seed.items) -> total`: `seed` returns N small
objects, `map` calls `double` once per item, `total` sums the outputs. Prints, per run:

- makespan: from publishing StartExecution to the execution's completed state in Redis;
- the map step alone (its step.started to step.succeeded);
- Redis `used_memory_peak` of INFO memory (a fresh server: the peak of the whole run) and
  `used_memory` before and after;
- the largest record on any of the run's topics (read back from the start of each) and the
  execution's state document size, next to the same for a 10-item run for comparison.

Run it alone (it is not part of `make bench`); it takes under a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
import uuid
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from workflows.contracts import Actor, StartExecution, encode
from workflows.contracts.topics import Topics
from workflows.functions import FunctionRegistry
from workflows.services.core.state import ExecutionState
from workflows.services.dispatcher import Dispatcher
from workflows.services.infra.kafka import Bus, ensure_topics
from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import connect_redis
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import StateStore
from workflows.services.orchestrator import Orchestrator
from workflows.testing.apache_kafka import apache_kafka
from workflows.testing.embedded import redis_server

WORKFLOW = "forEachBench"


def definition(concurrency: int) -> dict[str, Any]:
    return {
        "name": WORKFLOW,
        "steps": [
            {"id": "seed", "function": "seed", "input": {"n": "{{input.n}}"}},
            {
                "id": "map",
                "function": "double",
                "forEach": "{{seed.items}}",
                "input": {"x": "{{item.x}}", "at": "{{index}}"},
                "maxConcurrency": concurrency,
            },
            {"id": "total", "function": "total", "input": {"sum": "{{sum(pluck(map, 'y'))}}"}},
        ],
    }


def registry() -> FunctionRegistry:
    functions = FunctionRegistry()

    def seed(data: Any, ctx: Any) -> dict[str, Any]:
        return {"items": [{"x": i, "name": f"user-{i:05}"} for i in range(data["n"])]}

    async def double(data: Any, ctx: Any) -> dict[str, Any]:
        await asyncio.sleep(0)  # an async call that yields, like real I/O would
        return {"y": data["x"] * 2, "at": data["at"]}

    functions.register(seed, "seed")
    functions.register(double, "double")
    functions.register(lambda data, ctx: data, "total")
    return functions


async def largest_record(settings: Settings) -> tuple[int, str]:
    """(bytes, topic) of the largest record on the prefix's topics, read from the start."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False
    )
    await consumer.start()
    try:
        topics = list(Topics.with_prefix(settings.topic_prefix).fixed().values())
        parts = [TopicPartition(t, p) for t in topics for p in range(settings.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        best, where = 0, ""
        while any([await consumer.position(p) < ends[p] for p in parts]):
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batch.items():
                for record in records:
                    size = len(record.value or b"")
                    if size > best:
                        best, where = size, tp.topic
        return best, where
    finally:
        await consumer.stop()


async def run(items: int, concurrency: int, runs: int) -> dict[str, Any]:
    with apache_kafka() as bootstrap, redis_server() as redis_url:
        settings = Settings(
            kafka_bootstrap=bootstrap,
            redis_url=redis_url,
            topic_prefix=f"b{uuid.uuid4().hex[:6]}.",
            auth="off",
        )
        redis = connect_redis(settings)
        await ensure_topics(settings, Topics.with_prefix(settings.topic_prefix).fixed().values())
        store = StateStore(redis, Keys(settings.key_prefix))
        await store.register_definition(WORKFLOW, json.dumps(definition(concurrency)), {})
        orchestrator, dispatcher = (
            Orchestrator(settings, redis),
            Dispatcher(settings, redis, registry=registry()),
        )
        tasks = [asyncio.create_task(orchestrator.run()), asyncio.create_task(dispatcher.run())]
        bus = Bus(settings, "bench")
        await bus.start()
        out: dict[str, Any] = {"items": items, "maxConcurrency": concurrency, "runs": []}
        try:
            out["used_memory_before"] = (await redis.info("memory"))["used_memory"]
            for n in [10] + [items] * runs:
                execution_id = uuid.uuid4().hex
                start = StartExecution(
                    execution_id=execution_id, workflow=WORKFLOW, input={"n": n},
                    actor=Actor(kind="api"),
                )  # fmt: skip
                began = time.monotonic()
                await bus.publish(
                    Topics.with_prefix(settings.topic_prefix).start, encode(start), execution_id
                )
                await bus.flush()
                state = await _wait(store, execution_id, 300)
                makespan = time.monotonic() - began
                doc = await store.get_state(execution_id) or ""
                started = next(
                    e.at for e in state.history if e.type == "step.started" and e.step_id == "map"
                )
                done = next(
                    e.at for e in state.history if e.type == "step.succeeded" and e.step_id == "map"
                )
                assert state.steps["total"].output == {"sum": n * (n - 1)}, state.steps["total"]
                out["runs"].append(
                    {
                        "items": n,
                        "status": state.status.value,
                        "makespan_s": round(makespan, 3),
                        "map_step_s": round((done - started).total_seconds(), 3),
                        "state_document_bytes": len(doc),
                    }
                )
            memory = await redis.info("memory")
            out["used_memory_after"] = memory["used_memory"]
            out["used_memory_peak"] = memory["used_memory_peak"]
            out["largest_record_bytes"], out["largest_record_topic"] = await largest_record(
                settings
            )
        finally:
            orchestrator.stop()
            dispatcher.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            await bus.stop()
            await redis.aclose()
        return out


async def _wait(store: StateStore, execution_id: str, timeout: float) -> ExecutionState:
    deadline = time.monotonic() + timeout
    while True:
        doc = await store.get_state(execution_id)
        if doc:
            state = ExecutionState.model_validate_json(doc)
            if state.terminal:
                return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_id} did not finish in {timeout} s")
        await asyncio.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.for_each_map", description=__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    print(json.dumps(asyncio.run(run(args.items, args.concurrency, args.runs)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
