"""Large payloads over the real broker and Redis: claim check and the hard limit.

A 1 MB step output is stored in Redis and passed by reference: the next step's template
still reads it, while the state document and every Kafka message stay small. An output or
input above the hard limit fails the step with an error that says why, and nothing that big
reaches the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition
from redis.asyncio import Redis

from tests.support.api import topic_reader
from tests.support.runtime import Engine, running_engine
from workflows.contracts import Actor, RetryExecution
from workflows.errors import FatalError
from workflows.functions import FunctionContext, FunctionRegistry
from workflows.services.core.payload_refs import PayloadLimits, claim_value
from workflows.services.infra.keys import Keys
from workflows.services.infra.payloads import Payloads
from workflows.services.infra.settings import Settings
from workflows.services.trigger import create_app
from workflows.services.worker import Worker

pytestmark = pytest.mark.integration

MB = 1_000_000
SMALL_MESSAGE = 16 * 1024  # every message of these tests must stay below this


def registry() -> FunctionRegistry:
    functions = FunctionRegistry()

    def produce(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        return {"blob": "x" * int(data["size"]), "tag": "p"}

    def consume(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        return {"length": len(data["data"]), "tag": data.get("tag")}

    functions.register(produce, "produce")
    functions.register(consume, "consume")
    return functions


CHAIN = {
    "name": "bigChain",
    "input": {"type": "object", "properties": {"size": {"type": "integer"}}},
    "errorHandling": {"retryStrategy": {"maxAttempts": 3, "backoff": {"initialDelay": 10}}},
    "steps": [
        {"id": "p", "function": "produce", "input": {"size": "{{input.size}}"}},
        {"id": "c", "function": "consume", "input": {"data": "{{p.blob}}", "tag": "{{p.tag}}"}},
    ],
    "outputMapping": {"length": "{{c.length}}"},
}


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    async with running_engine(settings, registry()) as running:
        await running.register(CHAIN)
        yield running


async def message_sizes(settings: Settings, topics: list[str]) -> dict[str, int]:
    """The largest record (bytes) on each topic, reading every partition to its end."""
    async with topic_reader(settings, *topics) as consumer:
        deadline = time.monotonic() + 15
        largest = dict.fromkeys(topics, 0)
        ends: dict[TopicPartition, int] = {}
        while not ends or [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            assert time.monotonic() < deadline, "could not read the topics to their end"
            batch = await consumer.getmany(timeout_ms=200)
            for tp, records in batch.items():
                for record in records:
                    largest[tp.topic] = max(largest[tp.topic], len(record.value or b""))
            if not ends and len(consumer.assignment()) > 0:
                ends = await consumer.end_offsets(list(consumer.assignment()))
        return largest


def all_topics(engine: Engine) -> list[str]:
    t = engine.topics
    return [t.start, t.step_commands, t.step_results, t.events]


async def test_a_1_mb_output_goes_by_reference_and_the_next_template_reads_it(
    engine: Engine, settings: Settings
) -> None:
    eid = await engine.start("bigChain", {"size": MB})
    state = await engine.wait(eid)
    assert state.status.value == "completed", state.error
    assert state.output == {"length": MB}
    assert state.steps["c"].output == {"length": MB, "tag": "p"}
    ref = state.steps["p"].output
    assert set(ref) == {"$claim", "size", "execution"} and ref["size"] > MB
    assert set(state.steps["c"].input) == {"$claim", "size", "execution"}  # large input too

    doc = await engine.store.get_state(eid)
    assert doc is not None and len(doc) < 16 * 1024, len(doc or "")
    blob_key = Keys(settings.key_prefix).blob(eid, ref["$claim"])
    assert await engine.redis.strlen(blob_key) == ref["size"]
    assert 0 < await engine.redis.ttl(blob_key) <= settings.state_ttl_s
    sizes = await message_sizes(settings, all_topics(engine))
    assert max(sizes.values()) < SMALL_MESSAGE, sizes


async def test_an_output_above_the_hard_limit_fails_the_step_without_retrying(
    settings: Settings,
) -> None:
    limited = settings.model_copy(update={"payload_max_bytes": 256 * 1024})
    async with running_engine(limited, registry()) as engine:
        await engine.register(CHAIN)
        state = await engine.wait(await engine.start("bigChain", {"size": 300_000}))
        assert state.status.value == "failed"
        run = state.steps["p"]
        assert run.attempt == 1  # the same output would be refused again: no retry
        assert run.error is not None and run.error["type"] == "PayloadTooLarge"
        assert "output of step 'p' is 293 KB, above the hard limit of 256 KB" in str(
            state.error["message"] if state.error else ""
        )
        assert "(WORKFLOWS_PAYLOAD_MAX_BYTES)" in run.error["message"]
        sizes = await message_sizes(limited, all_topics(engine))
        assert max(sizes.values()) < SMALL_MESSAGE, sizes


async def test_an_input_above_the_hard_limit_fails_the_step_before_it_is_sent(
    settings: Settings,
) -> None:
    limited = settings.model_copy(update={"payload_max_bytes": 256 * 1024})
    twice = {
        "name": "twice",
        "steps": [
            {"id": "p", "function": "produce", "input": {"size": 200_000}},
            {"id": "c", "function": "consume", "input": {"data": ["{{p.blob}}", "{{p.blob}}"]}},
        ],
    }
    async with running_engine(limited, registry()) as engine:
        await engine.register(twice)
        state = await engine.wait(await engine.start("twice", {}))
        assert state.status.value == "failed"
        run = state.steps["c"]
        assert run.error is not None and run.error["type"] == "PayloadTooLarge"
        message = str(run.error["message"])
        assert "input of step 'c' is 390.6 KB, above the hard limit of 256 KB" in message
        assert run.input == {"$omitted": "too large", "size": 400_016}  # {"data":["x…","x…"]}
        assert state.steps["p"].status.value == "succeeded"
        sizes = await message_sizes(limited, all_topics(engine))
        assert max(sizes.values()) < SMALL_MESSAGE, sizes


async def test_external_workers_get_inputs_inline_and_their_large_outputs_go_by_reference(
    settings: Settings,
) -> None:
    engine_functions = registry()
    engine_functions.unregister("consume")  # served by a worker on wf.fn.consume
    worker_functions = FunctionRegistry()

    def consume(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        assert isinstance(data["data"], str)  # the dispatcher inlined the reference
        return {"length": len(data["data"]), "echo": data["data"]}

    worker_functions.register(consume, "consume")
    async with running_engine(settings, engine_functions) as engine:
        await engine.register(CHAIN)
        worker = Worker(settings, engine.redis, registry=worker_functions)
        task = asyncio.create_task(worker.run())
        try:
            state = await engine.wait(await engine.start("bigChain", {"size": 200_000}), 60)
        finally:
            worker.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 20)
        assert state.status.value == "completed", state.error
        assert state.output == {"length": 200_000}
        assert set(state.steps["c"].output) == {"$claim", "size", "execution"}


async def test_the_api_shows_referenced_outputs(engine: Engine, settings: Settings) -> None:
    eid = await engine.start("bigChain", {"size": 100_000})
    await engine.wait(eid)
    app = create_app(settings, engine.redis)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            view = (await client.get(f"/executions/{eid}")).json()
    assert view["steps"]["p"]["output"] == {"blob": "x" * 100_000, "tag": "p"}


async def test_references_cross_into_child_workflows_and_back(settings: Settings) -> None:
    kid = {
        "name": "kid",
        "steps": [
            {"id": "k", "function": "consume", "input": {"data": "{{input.data}}"}},
            {"id": "m", "function": "produce", "input": {"size": 150_000}},
        ],
    }
    parent = {
        "name": "parent",
        "steps": [
            {"id": "p", "function": "produce", "input": {"size": 200_000}},
            {"id": "child", "function": "workflow:kid", "input": {"data": "{{p.blob}}"}},
            {"id": "use", "function": "consume", "input": {"data": "{{child.blob}}"}},
        ],
    }
    async with running_engine(settings, registry()) as engine:
        await engine.register(kid)
        await engine.register(parent)
        eid = await engine.start("parent", {})
        state = await engine.wait(eid)
        child = await engine.state(f"{eid}-child-1")
    assert state.status.value == "completed", state.error
    assert child is not None and child.steps["k"].output == {"length": 200_000, "tag": None}
    assert state.steps["child"].output["execution"] == child.execution_id  # the child's blob
    assert state.steps["use"].output == {"length": 150_000, "tag": None}


async def test_a_retried_execution_reads_the_outputs_it_keeps(settings: Settings) -> None:
    functions = registry()
    failures = [FatalError("bad data")]

    def picky(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        if failures:
            raise failures.pop()
        return {"length": len(data["data"])}

    functions.register(picky, "consume")
    async with running_engine(settings, functions) as engine:
        await engine.register(CHAIN)
        old_id = await engine.start("bigChain", {"size": 200_000})
        assert (await engine.wait(old_id)).status.value == "failed"
        retry = RetryExecution(
            execution_id=old_id, new_execution_id=f"retry-{old_id}", actor=Actor(kind="user")
        )
        await engine.publish(engine.topics.control, retry)
        new = await engine.wait(f"retry-{old_id}")
    assert new.status.value == "completed", new.error
    assert new.output == {"length": 200_000}
    assert new.steps["p"].output["execution"] == old_id  # kept, not re-run


async def test_values_above_the_display_size_show_a_note(settings: Settings, redis: Redis) -> None:
    payloads = Payloads(redis, settings)
    big, small = {"blob": "x" * 5000}, {"blob": "y" * 100}
    refs = []
    for value in (big, small):
        ref, blob = claim_value("e1", value, PayloadLimits(64, 1 << 20))
        assert blob is not None
        await payloads.store([blob])
        refs.append(ref)
    shown = await payloads.for_display({"a": refs[0], "b": [refs[1]]}, max_bytes=1024)
    assert shown["b"] == [small]
    assert shown["a"]["note"] == "4.9 KB value, too large to show here"
    gone = {**refs[0], "execution": "other"}
    shown = await payloads.for_display([gone, refs[1]])
    assert shown == [{**gone, "note": "4.9 KB value, no longer stored"}, small]


async def test_an_input_too_large_to_forward_inline_fails_the_step(settings: Settings) -> None:
    limited = settings.model_copy(update={"max_message_bytes": 100_000})
    functions = registry()
    functions.unregister("consume")  # an external worker's function: no one needs to run it
    async with running_engine(limited, functions) as engine:
        await engine.register(CHAIN)
        state = await engine.wait(await engine.start("bigChain", {"size": 150_000}))
    run = state.steps["c"]
    assert state.status.value == "failed" and run.attempt == 1
    assert run.error is not None and run.error["type"] == "PayloadTooLarge"
    assert "input of step 'c' is 146.9 KB inline, above the 97.7 KB" in run.error["message"]
