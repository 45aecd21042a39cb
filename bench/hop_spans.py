"""Where a serial step hop's wall time goes, in one process: `python -m bench.hop_spans`.

Orchestrator and dispatcher run as tasks of this process (tests.support.runtime) on a fresh
Apache Kafka and redis-server; 30 ten-step chains run one at a time, with the in-memory
handoff (commands and results, `workflows.services.infra.handoff`) on and then off. Printed
as p50/mean of wall time: the orchestrator's `process` (one batch), its `save_many` (one
Redis pipeline), `Bus.flush` (awaiting acks=all, any service) and the dispatcher's `_handle`
(one command). Per hop = (finished - created) of the execution's state / 10. Numbers in
bench/NOTES.md ("Hop spans", "Local handoff").
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
import uuid
from typing import Any

from tests.support.runtime import running_engine
from workflows.contracts import Actor, StartExecution, encode
from workflows.functions import FunctionContext, FunctionRegistry
from workflows.services.dispatcher import service as dispatcher_service
from workflows.services.infra import kafka, store
from workflows.services.infra.logs import configure_logging
from workflows.services.infra.settings import Settings
from workflows.services.orchestrator import service as orchestrator_service
from workflows.testing.apache_kafka import kafka_cluster
from workflows.testing.embedded import redis_server

CHAIN = {"name": "chain", "steps": [{"id": f"s{i}", "function": "hop"} for i in range(10)]}
RUNS, WARMUP = 30, 5
spans: dict[str, list[float]] = collections.defaultdict(list)


def _timed(cls: Any, name: str, label: str) -> None:
    original = getattr(cls, name)

    async def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return await original(self, *args, **kwargs)
        finally:
            spans[label].append((time.perf_counter() - began) * 1000)

    setattr(cls, name, timed)


async def _chains(bootstrap: str, redis_url: str, handoff: bool) -> list[float]:
    tag = uuid.uuid4().hex[:6]
    settings = Settings(
        kafka_bootstrap=bootstrap,
        redis_url=redis_url,
        topic_prefix=f"h{tag}.",
        key_prefix=f"h{tag}",
        partitions=2,
        auth="off",
    )
    registry = FunctionRegistry()

    async def hop(data: Any, ctx: FunctionContext) -> dict[str, Any]:
        return {}

    registry.register(hop, "hop")
    per_hop: list[float] = []
    async with running_engine(settings, registry, local_handoff=handoff) as engine:
        await engine.register(CHAIN)
        for i in range(WARMUP + RUNS):
            if i == WARMUP:
                spans.clear()
            eid = uuid.uuid4().hex
            start = StartExecution(execution_id=eid, workflow="chain", actor=Actor(kind="api"))
            await engine.bus.publish(engine.topics.start, encode(start), eid)
            await engine.bus.flush()
            state = await engine.wait(eid)
            if i >= WARMUP and state.finished_at is not None:
                per_hop.append((state.finished_at - state.created_at).total_seconds() * 100)
    return sorted(per_hop)


async def main() -> None:
    configure_logging("WARNING")
    _timed(orchestrator_service.Orchestrator, "process", "orchestrator.process")
    _timed(store.StateStore, "save_many", "store.save_many")
    _timed(kafka.Bus, "flush", "bus.flush")
    _timed(dispatcher_service.Dispatcher, "_handle", "dispatcher._handle")
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(kafka_cluster(1))
        redis_url = stack.enter_context(redis_server())
        for handoff in (True, False):
            hops = await _chains(cluster.bootstrap, redis_url, handoff)
            print(f"handoff={handoff}: per hop p50 {hops[len(hops) // 2]:.2f} ms")
            for label, values in sorted(spans.items()):
                values.sort()
                mean = sum(values) / len(values)
                p50 = values[len(values) // 2]
                print(f"  {label:22s} n={len(values):5d} p50={p50:.3f} ms mean={mean:.3f} ms")


if __name__ == "__main__":
    asyncio.run(main())
