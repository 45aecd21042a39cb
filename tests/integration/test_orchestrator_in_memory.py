"""The orchestrator's glue over the in-memory bus (workflows.services.infra.memory_bus): real
Redis, no Kafka. The real-broker tests (test_runtime, test_dlq, ...) stay as they are."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from workflows.contracts import (
    Actor,
    LifecycleEvent,
    StartExecution,
    StepCommand,
    StepResult,
    command_id,
    decode,
    encode,
)
from workflows.services.infra.batch_loop import BatchLoop
from workflows.services.infra.memory_bus import InMemoryBroker, InMemoryBus
from workflows.services.infra.redis_client import RedisClient, connect_redis
from workflows.services.infra.settings import Settings
from workflows.services.orchestrator import Orchestrator

FLOW = {"name": "hop", "steps": [{"id": "a", "function": "fa"}, {"id": "b", "function": "fb"}]}


@pytest.fixture
def memory_settings(redis_url: str) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return Settings(
        kafka_bootstrap="in-memory:0",
        redis_url=redis_url,
        topic_prefix=f"m{tag}.",
        key_prefix=f"wf{tag}",
        partitions=2,
    )


@pytest.fixture
async def redis(memory_settings: Settings) -> AsyncIterator[RedisClient]:
    client = connect_redis(memory_settings)
    yield client
    await client.aclose()


async def _orchestrator(settings: Settings, redis: RedisClient) -> tuple[Orchestrator, InMemoryBus]:
    orchestrator = Orchestrator(settings, redis)
    bus = InMemoryBus(InMemoryBroker(settings.partitions), settings, "orchestrator")
    orchestrator.bus = bus
    await orchestrator.store.register_definition("hop", json.dumps(FLOW), {})
    return orchestrator, bus


async def _run_until(orchestrator: Orchestrator, bus: InMemoryBus, done: Any) -> BatchLoop:
    topics = orchestrator.topics
    consumer = bus.consumer([topics.start, topics.step_results, topics.control], "g")
    await consumer.start()
    stopping = asyncio.Event()
    process = orchestrator.process

    async def watched(records: list[Any]) -> None:
        await process(records)
        if done():
            stopping.set()

    loop = BatchLoop(consumer, watched, name="o", max_batch=50, commit_interval_ms=0)
    await asyncio.wait_for(loop.run(stopping), 10)
    return loop


def _commands(bus: InMemoryBus) -> list[StepCommand]:
    return [decode(StepCommand, r.value) for r in bus.broker.records(bus.topics.step_commands)]


async def test_a_start_becomes_a_step_command(
    memory_settings: Settings, redis: RedisClient
) -> None:
    orchestrator, bus = await _orchestrator(memory_settings, redis)
    start = StartExecution(execution_id="e1", workflow="hop", input={}, actor=Actor(kind="api"))
    await bus.publish(bus.topics.start, encode(start), "e1")
    await _run_until(orchestrator, bus, lambda: bool(_commands(bus)))
    (command,) = _commands(bus)
    assert (command.execution_id, command.step_id) == ("e1", "a")


async def test_a_malformed_record_goes_to_the_dlq_and_the_next_is_applied(
    memory_settings: Settings, redis: RedisClient
) -> None:
    orchestrator, bus = await _orchestrator(memory_settings, redis)
    await bus.publish(bus.topics.start, b"{broken", "e0")
    start = StartExecution(execution_id="e2", workflow="hop", input={}, actor=Actor(kind="api"))
    await bus.publish(bus.topics.start, encode(start), "e2")
    await _run_until(orchestrator, bus, lambda: bool(_commands(bus)))
    (letter,) = bus.broker.records(bus.topics.dlq)
    assert b"broken" in letter.value and b"reason" in letter.value
    assert [c.execution_id for c in _commands(bus)] == ["e2"]


def _result(step: str) -> StepResult:
    return StepResult(
        execution_id="e3",
        command_id=command_id("e3", step, 1),
        step_id=step,
        attempt=1,
        ok=True,
        output={"step": step},
        worker_id="test",
    )


async def test_a_result_becomes_the_next_step_and_a_failed_batch_commits_only_after_its_save(
    memory_settings: Settings, redis: RedisClient
) -> None:
    orchestrator, bus = await _orchestrator(memory_settings, redis)
    start = StartExecution(execution_id="e3", workflow="hop", input={}, actor=Actor(kind="api"))
    await bus.publish(bus.topics.start, encode(start), "e3")
    await _run_until(orchestrator, bus, lambda: bool(_commands(bus)))
    await bus.publish(bus.topics.step_results, encode(_result("a")), "e3")
    saves = orchestrator.store.save_many
    commits_at_failure: list[dict[Any, int]] = []
    consumer_commits = bus.broker.committed

    async def failing_once(*args: Any, **kwargs: Any) -> Any:
        if not commits_at_failure:
            commits_at_failure.append(dict(consumer_commits.get("g", {})))
            raise ConnectionError("redis away")
        return await saves(*args, **kwargs)

    orchestrator.store.save_many = failing_once  # type: ignore[method-assign]
    loop = await _run_until(orchestrator, bus, lambda: len(_commands(bus)) == 2)
    assert [c.step_id for c in _commands(bus)] == ["a", "b"]
    assert loop.batches_failed == 1
    results = bus.topics.step_results
    assert all(tp.topic != results for tp in commits_at_failure[0])  # not committed then
    assert [v for tp, v in consumer_commits["g"].items() if tp.topic == results] == [1]


async def test_timers_listing_and_kpi_samples_go_beside_the_flush_and_a_failed_write_reapplies(
    memory_settings: Settings, redis: RedisClient
) -> None:
    """The writes a batch's outbox entries make beside its messages (the listing, the KPI
    sample of an ended execution) go in one round trip while the messages are acknowledged;
    when that write fails the batch is not done: it is applied again and nothing is missing.
    The flushed outbox entries are trimmed later (the next batch's save, or when idle)."""
    orchestrator, bus = await _orchestrator(memory_settings, redis)
    store = orchestrator.store
    start = StartExecution(execution_id="e3", workflow="hop", input={}, actor=Actor(kind="api"))
    await bus.publish(bus.topics.start, encode(start), "e3")
    await _run_until(orchestrator, bus, lambda: bool(_commands(bus)))
    assert await store.recent_executions(10) == ["e3"]  # the listing, written beside the flush
    flushed = orchestrator._trims["e3"]  # the start's entries: flushed, trimmed later
    assert flushed > 0 and await redis.llen(store.keys.outbox("e3")) == flushed
    written = store.write_flushed
    calls: list[int] = []

    async def failing_once(timers: Any, index: Any, outcomes: Any) -> None:
        calls.append(len(outcomes))
        if len(calls) == 1 and outcomes:
            raise ConnectionError("redis away")
        await written(timers, index, outcomes)

    store.write_flushed = failing_once  # type: ignore[method-assign]
    await bus.publish(bus.topics.step_results, encode(_result("a")), "e3")
    await bus.publish(bus.topics.step_results, encode(_result("b")), "e3")
    loop = await _run_until(orchestrator, bus, lambda: sum(1 for n in calls if n) >= 2)
    assert loop.batches_failed == 1  # the failed write failed its batch
    (sample,) = await store.outcomes("hop")  # recorded once, by the batch applied again
    assert (sample["id"], sample["status"]) == ("e3", "completed")
    events = [decode(LifecycleEvent, r.value) for r in bus.broker.records(bus.topics.events)]
    assert "execution.completed" in [e.type for e in events]


async def test_a_start_is_applied_without_a_load_and_one_delivered_again_changes_nothing(
    memory_settings: Settings, redis: RedisClient
) -> None:
    """A start is taken as a new execution without loading it; a start delivered again for an
    execution the orchestrator no longer has in memory is fenced by the save's revision
    check, loaded, and recognized as the duplicate it is: one command, the state as saved."""
    orchestrator, bus = await _orchestrator(memory_settings, redis)
    store = orchestrator.store
    loads: list[list[str]] = []
    load_many = store.load_many

    async def counted(ids: list[str], *args: Any) -> Any:
        loads.append(list(ids))
        return await load_many(ids, *args)

    store.load_many = counted  # type: ignore[method-assign]
    start = StartExecution(execution_id="e5", workflow="hop", input={}, actor=Actor(kind="api"))
    await bus.publish(bus.topics.start, encode(start), "e5")
    await _run_until(orchestrator, bus, lambda: bool(_commands(bus)))
    assert all("e5" not in ids for ids in loads)  # new: not loaded
    saved = await redis.hget(store.keys.state("e5"), "rev")

    await orchestrator._trim_now()  # as a stopping orchestrator does
    orchestrator.cache.clear()  # as after a restart or a rebalance
    batches = 0
    process = orchestrator.process

    async def one_more(records: list[Any]) -> None:
        nonlocal batches
        await process(records)
        batches += 1

    orchestrator.process = one_more  # type: ignore[method-assign]
    await bus.publish(bus.topics.start, encode(start), "e5")
    await _run_until(orchestrator, bus, lambda: batches >= 1)
    assert [c.step_id for c in _commands(bus)] == ["a"]  # no second command
    assert await redis.hget(store.keys.state("e5"), "rev") == saved  # nothing saved
    assert any("e5" in ids for ids in loads)  # the fenced save made it load the execution
    assert "e5" in orchestrator.cache  # and it is now known as stored


async def test_a_rejected_start_leaves_nothing_known_in_memory(
    memory_settings: Settings, redis: RedisClient
) -> None:
    """A start taken as new without a load and refused is not remembered as absent: it was
    never looked up, so the next record for that id loads it."""
    orchestrator, bus = await _orchestrator(memory_settings, redis)
    bad = StartExecution(execution_id="e6", workflow="nope", input={}, actor=Actor(kind="api"))
    good = StartExecution(execution_id="e7", workflow="hop", input={}, actor=Actor(kind="api"))
    await bus.publish(bus.topics.start, encode(bad), "e6")
    await bus.publish(bus.topics.start, encode(good), "e7")
    await _run_until(orchestrator, bus, lambda: bool(_commands(bus)))
    (letter,) = bus.broker.records(bus.topics.dlq)
    assert b"unknown workflow" in letter.value
    assert "e6" not in orchestrator.cache  # taken as new, nothing saved: not cached as absent
    assert "e7" in orchestrator.cache
