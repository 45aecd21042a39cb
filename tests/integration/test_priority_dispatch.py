"""Priority (issue 17 item 9): a backlogged function runs its waiting commands highest
priority first, FIFO within one priority, shared by replicas in Redis, none lost when the
dispatcher that took one dies. The queue against a real Redis; the order on the broker."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.integration import test_dispatcher
from tests.integration.test_dispatcher import (
    TopicReader,
    have_all,
    make_command,
    publish,
    running,
)
from tests.support.runtime import running_engine
from workflows.contracts import Actor, StartExecution, StepCommand, Topics, encode
from workflows.functions import FunctionRegistry, function
from workflows.services.core.limits import FunctionLimit
from workflows.services.dispatcher import Dispatcher
from workflows.services.infra.keys import Keys
from workflows.services.infra.limiter import FunctionLimits
from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.settings import Settings
from workflows.services.infra.waiting import WaitingCommands

pytestmark = pytest.mark.integration
WAIT_S = 60.0

topics = test_dispatcher.topics
results_reader = test_dispatcher.results_reader


def _with_priority(command: StepCommand, priority: int) -> StepCommand:
    return command.model_copy(update={"priority": priority})


async def _eventually(check: Any, within_s: float = WAIT_S) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not true within {within_s} s")
        await asyncio.sleep(0.02)


# -- the queue ---------------------------------------------------------------------------------
async def test_waiting_commands_go_highest_priority_first_fifo_within_one(
    redis: RedisClient, settings: Settings
) -> None:
    waiting = WaitingCommands(redis, Keys(settings.key_prefix))
    running_one = make_command("f", "running")
    assert (await waiting.enter(running_one, encode(running_one), "d1", 1, 10_000)).acquired
    low = [make_command("f", f"low{i}") for i in range(3)]
    high = [_with_priority(make_command("f", f"high{i}"), 5) for i in range(2)]
    for command in [low[0], high[0], low[1], high[1], low[2]]:
        decision = await waiting.enter(command, encode(command), "d1", 1, 10_000)
        assert decision.queued and not decision.acquired
    expected = [c.command_id for c in [*high, *low]]
    assert await waiting.ranked("f") == expected
    assert await waiting.take("f", "d2", 1, 10_000, 10_000) is None  # the slot is taken
    await redis.zrem(Keys(settings.key_prefix).function_lease("f"), f"d1/{running_one.command_id}")
    order = []
    for _ in expected:
        taken = await waiting.take("f", "d2", 1, 10_000, 10_000)
        assert taken is not None
        command_id = StepCommand.model_validate_json(taken.raw).command_id
        order.append(command_id)
        # its slot is leased to the taker: entering again is the same slot, no second one
        command = next(c for c in [*high, *low] if c.command_id == command_id)
        assert (await waiting.enter(command, taken.raw, "d2", 1, 10_000)).acquired
        await redis.zrem(Keys(settings.key_prefix).function_lease("f"), f"d2/{command_id}")
        await waiting.drop("f", command_id)
    assert order == expected
    assert await waiting.count("f") == 0


async def test_a_newcomer_takes_a_free_slot_only_when_it_outranks_the_waiting(
    redis: RedisClient, settings: Settings
) -> None:
    waiting, keys = WaitingCommands(redis, Keys(settings.key_prefix)), Keys(settings.key_prefix)
    holder = make_command("g", "holder")
    assert (await waiting.enter(holder, encode(holder), "d1", 1, 10_000)).acquired
    queued = make_command("g", "queued")
    assert (await waiting.enter(queued, encode(queued), "d1", 1, 10_000)).queued
    await redis.zrem(keys.function_lease("g"), f"d1/{holder.command_id}")  # the slot frees
    same = make_command("g", "same priority, later")
    assert (await waiting.enter(same, encode(same), "d1", 1, 10_000)).queued
    urgent = _with_priority(make_command("g", "urgent"), 1)
    assert (await waiting.enter(urgent, encode(urgent), "d1", 1, 10_000)).acquired
    assert await waiting.ranked("g") == [queued.command_id, same.command_id]


async def test_a_command_taken_by_a_dead_dispatcher_goes_back_with_its_rank(
    redis: RedisClient, settings: Settings
) -> None:
    waiting, keys = WaitingCommands(redis, Keys(settings.key_prefix)), Keys(settings.key_prefix)
    holder = make_command("h", "holder")
    assert (await waiting.enter(holder, encode(holder), "d1", 2, 10_000)).acquired
    assert (await waiting.enter(make_command("h", "x"), b"{}", "d1", 2, 10_000)).acquired
    first, second = make_command("h", "first"), make_command("h", "second")
    for command in (first, second):
        assert (await waiting.enter(command, encode(command), "d1", 2, 10_000)).queued
    await redis.zrem(keys.function_lease("h"), f"d1/{holder.command_id}")
    dead = await waiting.take("h", "dead", 2, 300, 300)  # its lease and claim: 300 ms
    assert dead is not None and StepCommand.model_validate_json(dead.raw) == first
    assert await waiting.count("h") == 2  # taken is not gone
    await _eventually(lambda: _later(waiting.take("h", "alive", 2, 10_000, 10_000), "h", first))


async def _later(taking: Any, function: str, expected: StepCommand) -> bool:
    taken = await taking
    if taken is None:
        return False
    assert StepCommand.model_validate_json(taken.raw) == expected  # ahead of `second` again
    return True


# -- on the broker -----------------------------------------------------------------------------
async def test_a_high_priority_execution_overtakes_a_backlog_of_a_concurrency_1_function(
    settings: Settings, redis: RedisClient
) -> None:
    """30 executions of priority 0 wait for `slow` (concurrency 1, 200 ms a call: its slot is
    always taken); one of priority 10 started behind them runs as soon as the call in
    progress is done. (Before, it competed with the backlog for each free slot at random.)"""
    registry = FunctionRegistry()
    calls: list[str] = []

    @function("slow", registry=registry)
    async def slow(value: Any) -> Any:
        calls.append(str(value["tag"]))
        await asyncio.sleep(0.2)
        return value

    await FunctionLimits(redis, Keys(settings.key_prefix)).put(
        "slow", FunctionLimit(concurrency=1, lease_seconds=10)
    )
    definition = {
        "name": "prioritized",
        "steps": [{"id": "s", "function": "slow", "input": {"tag": "{{input.tag}}"}}],
    }
    waiting = WaitingCommands(redis, Keys(settings.key_prefix))
    settings = settings.model_copy(update={"park_min_ms": 20, "park_max_ms": 100})
    async with running_engine(settings, registry) as engine:
        await engine.register(definition)

        async def start(tag: str, priority: int | None = None) -> str:
            message = StartExecution(
                execution_id=uuid.uuid4().hex,
                workflow="prioritized",
                input={"tag": tag},
                actor=Actor(kind="api"),
                priority=priority,
            )
            await engine.publish(engine.topics.start, message)
            return message.execution_id

        backlog = [await start(f"low{i}") for i in range(30)]

        async def backlogged() -> bool:  # waiting in the queue (or parked, as before it)
            parked = await redis.zcard(Keys(settings.key_prefix).parked)
            return len(calls) >= 2 and await waiting.count("slow") + parked >= 25

        await _eventually(backlogged)
        done_before = len(calls)
        urgent = await start("urgent", priority=10)
        assert (await engine.wait(urgent, timeout=WAIT_S)).status.value == "completed"
        for execution_id in backlog:
            assert (await engine.wait(execution_id, timeout=WAIT_S)).status.value == "completed"
    at = calls.index("urgent")
    print(f"urgent ran as call {at + 1} of {len(calls)}; {done_before} had run when it started")
    assert at <= done_before + 2, calls  # the call in progress, then it
    assert len(calls) == 31 and at < 10


async def test_a_waiting_command_taken_by_a_dispatcher_that_died_still_runs(
    settings: Settings, redis: RedisClient, topics: Topics, results_reader: TopicReader
) -> None:
    registry = FunctionRegistry()

    @function("once", registry=registry)
    async def once(value: Any) -> Any:
        return value

    keys = Keys(settings.key_prefix)
    await FunctionLimits(redis, keys).put("once", FunctionLimit(concurrency=1, lease_seconds=1))
    waiting = WaitingCommands(redis, keys)
    blocker, lost = make_command("once", "blocker"), make_command("once", "taken by the dead")
    assert (await waiting.enter(blocker, encode(blocker), "gone", 1, 60_000)).acquired
    assert (await waiting.enter(lost, encode(lost), "gone", 1, 60_000)).queued
    await redis.zrem(keys.function_lease("once"), f"gone/{blocker.command_id}")
    assert await waiting.take("once", "dead-replica", 1, 1_000, 1_000) is not None  # then dies
    after = make_command("once", "after")
    settings = settings.model_copy(update={"park_min_ms": 20, "park_max_ms": 200})
    async with running(Dispatcher(settings, redis, registry=registry)):
        await publish(settings, topics.step_commands, encode(after))
        await results_reader.wait_for(have_all(lost, after), within_s=WAIT_S)

        async def emptied() -> bool:
            return await waiting.count("once") == 0

        await _eventually(emptied)
