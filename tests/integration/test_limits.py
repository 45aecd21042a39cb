"""Leases and limits against a real Redis; the dispatcher and worker under limits on Tansu."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.integration import test_dispatcher
from tests.integration.test_dispatcher import (
    TopicReader,
    have_all,
    make_command,
    publish,
    results_for,
    running,
)
from workflows.contracts import Topics, encode
from workflows.functions import FunctionRegistry, function
from workflows.services.core.limits import FunctionLimit, RateLimit
from workflows.services.dispatcher import Dispatcher
from workflows.services.infra.keys import Keys
from workflows.services.infra.leases import Leases, ParkedCommands
from workflows.services.infra.limiter import FunctionLimits, Limiter, ParkedStatus
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import StateStore
from workflows.services.worker import Worker

pytestmark = pytest.mark.integration
WAIT_S = 30.0


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = WAIT_S) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not true within {within_s} s: {check.__name__}")
        await asyncio.sleep(0.02)


# the dispatcher tests' fixtures: the engine's topics, and a reader of the step results
topics = test_dispatcher.topics
results_reader = test_dispatcher.results_reader


# -- leases -----------------------------------------------------------------------------------
async def test_a_lease_limit_admits_up_to_its_size_then_says_when_to_retry(
    redis: Redis, settings: Settings
) -> None:
    leases, key = Leases(redis), f"{settings.key_prefix}:lease:fn:f"
    assert (await leases.acquire(key, "a", 2, 10_000)).acquired
    assert (await leases.acquire(key, "b", 2, 10_000)).acquired
    assert (await leases.acquire(key, "a", 2, 10_000)).acquired  # re-entrant: a renewal
    refused = await leases.acquire(key, "c", 2, 10_000)
    assert not refused.acquired
    assert 9_000 < refused.retry_after_ms <= 10_000
    held = await leases.lease_holders(key, "fn:f")
    assert sorted(h.holder for h in held) == ["a", "b"]
    await leases.release(key, "a")
    assert (await leases.acquire(key, "c", 2, 10_000)).acquired
    assert 0 < await redis.pttl(key) <= 10_000  # the key goes away with its last lease


async def test_a_dead_holders_slot_frees_when_its_lease_expires(
    redis: Redis, settings: Settings
) -> None:
    leases, key = Leases(redis), f"{settings.key_prefix}:lease:fn:f"
    assert (await leases.acquire(key, "dead-worker/e:s:1", 1, 300)).acquired  # never renewed
    assert not (await leases.acquire(key, "live/e2:s:1", 1, 10_000)).acquired

    async def slot_freed() -> bool:
        return (await leases.acquire(key, "live/e2:s:1", 1, 10_000)).acquired

    await eventually(slot_freed, within_s=5)
    assert [h.holder for h in await leases.lease_holders(key, "fn:f")] == ["live/e2:s:1"]


async def test_renewing_keeps_a_lease_and_retakes_a_lost_one(
    redis: Redis, settings: Settings
) -> None:
    leases, key = Leases(redis), f"{settings.key_prefix}:lease:fn:f"
    await leases.acquire(key, "a", 1, 1_000)
    assert await leases.renew(key, "a", 60_000)
    assert (await leases.lease_holders(key, "fn:f"))[0].expires_at_ms > 0
    await leases.release(key, "a")
    assert not await leases.renew(key, "a", 60_000)  # was gone: taken back, reported
    assert [h.holder for h in await leases.lease_holders(key, "fn:f")] == ["a"]


async def test_a_rate_window_counts_each_holder_once(redis: Redis, settings: Settings) -> None:
    leases, key = Leases(redis), f"{settings.key_prefix}:rate:wf:w"
    assert (await leases.admit(key, "e1", 2, 400, 60_000)).acquired
    assert (await leases.admit(key, "e2", 2, 400, 60_000)).acquired
    assert (await leases.admit(key, "e1", 2, 400, 60_000)).acquired  # admitted before
    refused = await leases.admit(key, "e3", 2, 400, 60_000)
    assert not refused.acquired and 0 < refused.retry_after_ms <= 400
    assert {h.holder for h in await leases.window_holders(key, "wf:w", 400)} == {"e1", "e2"}

    async def admitted_later() -> bool:
        return (await leases.admit(key, "e3", 2, 400, 60_000)).acquired

    await eventually(admitted_later, within_s=5)
    assert (await leases.admit(key, "e1", 2, 400, 60_000)).acquired  # still remembered


async def test_parked_commands_come_back_when_due_and_survive_a_dead_claimer(
    redis: Redis, settings: Settings
) -> None:
    parked = ParkedCommands(redis, Keys(settings.key_prefix).parked)
    await parked.park(b"later", 60_000)
    await parked.park(b"now", 0)
    assert await parked.claim_due(lease_ms=200) == [b"now"]
    assert await parked.claim_due(lease_ms=200) == []  # claimed: leased, not due again yet

    async def due_again() -> bool:  # the claimer "died" without drop(): it comes back
        return await parked.claim_due(lease_ms=60_000) == [b"now"]

    await eventually(due_again, within_s=5)
    await parked.drop([b"now"])
    assert await parked.count() == 1


async def test_a_command_parked_again_while_claimed_is_not_dropped(
    redis: Redis, settings: Settings
) -> None:
    """The unparker publishes a claimed command; the replica that gets it back parks it again
    before the unparker drops its claim: the new parking stays."""
    limiter = Limiter(redis, settings, "d1")
    assert await limiter.next_parked() == ParkedStatus(0, None)
    await limiter.parked.park(b"busy", 0)
    await limiter.parked.park(b"done", 0)
    await limiter.parked.park(b"later", 60_000)
    status = await limiter.next_parked()
    assert status.count == 3 and status.due_in_ms == 0
    lease_end, due = await limiter.claim_parked(lease_ms=30_000)
    assert sorted(due) == [b"busy", b"done"]
    await limiter.parked.park(b"busy", 50)  # came back, no slot yet: parked again
    await limiter.drop_claimed(lease_end, due)
    status = await limiter.next_parked()
    assert status.count == 2 and status.due_in_ms is not None and status.due_in_ms <= 50

    async def busy_due() -> bool:
        return (await limiter.claim_parked(lease_ms=30_000))[1] == [b"busy"]

    await eventually(busy_due, within_s=5)


async def test_limit_checks_cost_no_redis_round_trip_per_command(
    redis: Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No limit applies: after the first look, `check` and `slot` are answered from memory
    (function limits and workflow rate limits cached, one read at a time)."""
    store = StateStore(redis, Keys(settings.key_prefix))
    await store.register_definition(
        "plain", json.dumps({"name": "plain", "steps": [{"id": "s1", "function": "f"}]}), {}
    )
    calls: list[str] = []
    real = redis.execute_command

    async def counted(*args: Any, **options: Any) -> Any:
        calls.append(str(args[0]))
        return await real(*args, **options)

    monkeypatch.setattr(redis, "execute_command", counted)
    limiter = Limiter(redis, settings, "d1")
    registered = make_command("f").model_copy(update={"workflow": "plain"})
    unknown = make_command("f")  # workflow "wf" is not registered: no limits either

    async def slot(command: Any) -> None:
        async with limiter.slot(command) as decision:
            assert decision.acquired

    await asyncio.gather(*(slot(c) for _ in range(50) for c in (registered, unknown)))
    first_look = len(calls)
    assert first_look <= 4, calls  # limits hash, the two definitions
    for _ in range(100):
        await slot(registered)
        assert (await limiter.check(unknown)).acquired
    assert len(calls) == first_look, calls


# -- the dispatcher ---------------------------------------------------------------------------
async def test_a_slow_function_does_not_stall_other_executions(
    settings: Settings, redis: Redis, topics: Topics, results_reader: TopicReader
) -> None:
    """While one call is stuck, commands fetched after it run and their results go out."""
    registry = FunctionRegistry()
    slow_started, release = asyncio.Event(), asyncio.Event()

    @function("slow", registry=registry)
    async def slow(_: Any) -> dict[str, bool]:
        slow_started.set()
        await release.wait()
        return {"slow": True}

    @function("fast", registry=registry)
    async def fast(value: Any) -> Any:
        return value

    dispatcher = Dispatcher(settings, redis, registry=registry)
    blocker = make_command("slow")
    quick = [make_command("fast", i) for i in range(20)]
    async with running(dispatcher):
        await publish(settings, topics.step_commands, encode(blocker))
        await asyncio.wait_for(slow_started.wait(), WAIT_S)
        await publish(settings, topics.step_commands, *(encode(c) for c in quick))
        await results_reader.wait_for(have_all(*quick))
        assert blocker.command_id not in results_for(results_reader.values, blocker)
        release.set()
        await results_reader.wait_for(have_all(blocker))


async def test_function_concurrency_holds_across_two_dispatchers_without_blocking(
    settings: Settings, redis: Redis, topics: Topics, results_reader: TopicReader
) -> None:
    """`concurrency: 2` is never exceeded by two replicas; the waiting calls get parked."""
    registry = FunctionRegistry()
    running_now: list[int] = [0]
    peak: list[int] = [0]

    @function("limited", registry=registry)
    async def limited(value: Any) -> Any:
        running_now[0] += 1
        peak[0] = max(peak[0], running_now[0])
        try:
            await asyncio.sleep(0.2)  # the work itself
        finally:
            running_now[0] -= 1
        return value

    @function("free", registry=registry)
    async def free(value: Any) -> Any:
        return value

    await FunctionLimits(redis, Keys(settings.key_prefix)).put(
        "limited", FunctionLimit(concurrency=2, lease_seconds=5)
    )
    settings = settings.model_copy(update={"park_min_ms": 20, "park_max_ms": 100})
    first = Dispatcher(settings.model_copy(update={"worker_id": "d1"}), redis, registry=registry)
    second = Dispatcher(settings.model_copy(update={"worker_id": "d2"}), redis, registry=registry)
    calls = [make_command("limited", i) for i in range(8)]
    others = [make_command("free", i) for i in range(5)]
    async with running(first), running(second):
        await publish(settings, topics.step_commands, *(encode(c) for c in [*calls, *others]))
        await results_reader.wait_for(have_all(*others))
        await results_reader.wait_for(have_all(*calls))
    assert peak[0] == 2
    parked = [
        d.metrics.engine.registry.get_sample_value(
            "workflows_limit_parked_total", {"limit": "fn:limited"}
        )
        for d in (first, second)
    ]
    assert sum(p or 0 for p in parked) > 0
    found = results_for(results_reader.values, *calls)
    assert all(found[c.command_id][0].ok for c in calls)
    assert (
        await Leases(redis).lease_holders(Keys(settings.key_prefix).function_lease("limited"), "x")
        == []
    )


async def test_a_workflow_rate_limit_admits_executions_per_period(
    settings: Settings, redis: Redis, topics: Topics, results_reader: TopicReader
) -> None:
    """`rateLimit: {limit: 1, periodSeconds: 1}`: the second execution's step waits a period;
    a later step of the admitted execution does not."""
    store = StateStore(redis, Keys(settings.key_prefix))
    doc = {
        "name": "wf",
        "steps": [{"id": "s1", "function": "echo"}, {"id": "s2", "function": "echo"}],
        "rateLimit": RateLimit(limit=1, period_seconds=1).model_dump(by_alias=True),
    }
    await store.register_definition("wf", json.dumps(doc), {})
    registry = FunctionRegistry()
    ran_at: dict[str, float] = {}
    loop = asyncio.get_running_loop()

    @function("echo", registry=registry)
    async def echo(value: Any) -> Any:
        ran_at[str(value)] = loop.time()
        return value

    settings = settings.model_copy(update={"park_min_ms": 20, "park_max_ms": 200})
    first = make_command("echo", "first")
    again = first.model_copy(
        update={
            "step_id": "s2",
            "command_id": f"{first.execution_id}:s2:1",
            "idempotency_key": f"{first.execution_id}:s2",
            "input": "again",
        }
    )
    second = make_command("echo", "second")
    async with running(Dispatcher(settings, redis, registry=registry)):
        await publish(settings, topics.step_commands, encode(first))
        await results_reader.wait_for(have_all(first))
        await publish(settings, topics.step_commands, encode(second), encode(again))
        await results_reader.wait_for(have_all(first, second, again))
    assert ran_at["again"] - ran_at["first"] < 0.9
    assert ran_at["second"] - ran_at["first"] >= 0.9


async def test_the_worker_parks_and_the_dispatcher_brings_back(
    settings: Settings, redis: Redis, topics: Topics, results_reader: TopicReader
) -> None:
    """A forwarded function with `concurrency: 1` run by a Python worker: one call at a time."""
    registry = FunctionRegistry()
    running_now, peak = [0], [0]

    @function("one_at_a_time", registry=registry)
    async def one_at_a_time(value: Any) -> Any:
        running_now[0] += 1
        peak[0] = max(peak[0], running_now[0])
        await asyncio.sleep(0.1)
        running_now[0] -= 1
        return value

    await FunctionLimits(redis, Keys(settings.key_prefix)).put(
        "one_at_a_time", FunctionLimit(concurrency=1)
    )
    settings = settings.model_copy(update={"park_min_ms": 20, "park_max_ms": 100})
    calls = [make_command("one_at_a_time", i) for i in range(4)]
    async with (
        running(Dispatcher(settings, redis)),
        running(Worker(settings, redis, registry=registry)),
    ):
        await publish(settings, topics.step_commands, *(encode(c) for c in calls))
        await results_reader.wait_for(have_all(*calls))
    assert peak[0] == 1


async def test_fast_executions_finish_while_a_5_s_step_runs_on_the_same_dispatcher(
    settings: Settings,
) -> None:
    """The figure: fast 2-step executions started during a 5 s step each take well under 1 s."""
    from tests.support.runtime import running_engine

    registry = FunctionRegistry()

    @function("sleepFive", registry=registry)
    async def sleep_five(_: Any) -> dict[str, bool]:
        await asyncio.sleep(5)  # the slow work itself
        return {"slept": True}

    @function("quick", registry=registry)
    async def quick(value: Any) -> Any:
        return value

    slow_flow = {"name": "slowFlow", "steps": [{"id": "s", "function": "sleepFive"}]}
    fast_flow = {
        "name": "fastFlow",
        "steps": [{"id": "a", "function": "quick"}, {"id": "b", "function": "quick"}],
    }
    async with running_engine(settings, registry) as engine:
        await engine.register(slow_flow)
        await engine.register(fast_flow)
        loop = asyncio.get_running_loop()
        slow_id = await engine.start("slowFlow", {})
        await engine.wait(slow_id, status={"running"})
        took = []
        for _ in range(10):
            began = loop.time()
            fast_id = await engine.start("fastFlow", {})
            assert (await engine.wait(fast_id)).status.value == "completed"
            took.append(loop.time() - began)
        slow = await engine.state(slow_id)
        assert slow is not None and slow.status.value == "running", "the slow step is still on"
        assert (await engine.wait(slow_id, timeout=30)).status.value == "completed"
    print(f"fast executions during a 5 s step: max {max(took) * 1000:.0f} ms")
    assert max(took) < 2.0


async def test_a_slot_held_by_a_dead_dispatcher_frees_when_its_lease_expires(
    settings: Settings, redis: Redis, topics: Topics, results_reader: TopicReader
) -> None:
    """A replica killed mid-call never releases its slot; the lease runs out and work resumes."""
    registry = FunctionRegistry()

    @function("single", registry=registry)
    async def single(value: Any) -> Any:
        return value

    keys = Keys(settings.key_prefix)
    await FunctionLimits(redis, keys).put("single", FunctionLimit(concurrency=1, lease_seconds=2))
    await Leases(redis).acquire(keys.function_lease("single"), "killed-replica/e0:s1:1", 1, 1_500)
    settings = settings.model_copy(update={"park_min_ms": 20, "park_max_ms": 200})
    call = make_command("single", "after the lease")
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with running(Dispatcher(settings, redis, registry=registry)):
        await publish(settings, topics.step_commands, encode(call))
        await results_reader.wait_for(have_all(call))
    assert loop.time() - began >= 1.0  # it waited for the dead holder's lease
