"""Schedules over the HTTP API and the scheduler loop, against the real broker and Redis."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from tests.support.runtime import running_engine
from workflows.client import AsyncWorkflows
from workflows.client_errors import ApiError
from workflows.functions import FunctionRegistry
from workflows.services.infra.schedule_store import ScheduleStore
from workflows.services.infra.settings import Settings
from workflows.services.trigger import create_app
from workflows.services.trigger.background import TriggerBackground
from workflows.services.trigger.scheduler import Scheduler

pytestmark = pytest.mark.integration

WORKFLOW = {
    "name": "report",
    "input": {"type": "object", "properties": {"region": {"type": "string"}}},
    "steps": [{"id": "build", "function": "buildReport", "input": {"r": "{{input.region}}"}}],
}


@pytest.fixture
async def app(settings: Settings, redis: Redis) -> AsyncIterator[FastAPI]:
    app = create_app(settings.model_copy(update={"scheduler_poll_ms": 50}), redis)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def wf(app: FastAPI) -> AsyncIterator[AsyncWorkflows]:
    async with AsyncWorkflows("http://test", transport=httpx.ASGITransport(app=app)) as client:
        await client.register(WORKFLOW)
        yield client


async def test_create_list_get_pause_resume_delete(wf: AsyncWorkflows) -> None:
    created = await wf.schedule(
        "report",
        cron_expression="0 0 1 1,4,7,10 *",
        input={"region": "eu"},
        notifications={"onComplete": ["ops@example.com"]},
        timezone="Europe/Berlin",
        schedule_id="quarterly",
    )
    assert created["id"] == "quarterly" and created["catchUp"] == "none"
    times = [datetime.fromisoformat(t) for t in created["nextFireTimes"]]
    assert len(times) == 5
    for t in times:  # midnight in Berlin on the first day of a quarter
        assert (t.hour, t.minute, t.day, t.month) == (0, 0, 1, t.month)
        assert t.month in (1, 4, 7, 10) and t.utcoffset() in (
            timedelta(hours=1),
            timedelta(hours=2),
        )
    assert times == sorted(times)
    listed = await wf.list_schedules(upcoming=2)
    assert [s["id"] for s in listed] == ["quarterly"] and len(listed[0]["nextFireTimes"]) == 2
    got = await wf.get_schedule("quarterly")
    assert got["notifications"] == {
        "onStart": [],
        "onComplete": ["ops@example.com"],
        "onFailure": [],
    }
    paused = await wf.pause_schedule("quarterly")
    assert paused["paused"] is True and paused["nextFireTimes"] == []
    resumed = await wf.resume_schedule("quarterly")
    assert resumed["paused"] is False and resumed["nextFireTimes"] == created["nextFireTimes"]
    with pytest.raises(ApiError) as taken:
        await wf.schedule("report", "0 * * * *", {"region": "eu"}, schedule_id="quarterly")
    assert taken.value.status_code == 409
    await wf.delete_schedule("quarterly")
    with pytest.raises(ApiError) as gone:
        await wf.get_schedule("quarterly")
    assert gone.value.status_code == 404
    assert await wf.list_schedules() == []


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"cronExpression": "61 * * * *"}, 422, "invalid cron expression"),
        ({"cronExpression": "* * * * *", "every": "1m"}, 422, "exactly one"),
        ({}, 422, "exactly one"),
        ({"every": "soon"}, 422, "invalid interval"),
        ({"every": "1m", "timezone": "Mars/Olympus"}, 422, "unknown time zone"),
        ({"every": "1m", "input": {"region": 3}}, 422, "input does not match"),
        ({"every": "1m", "workflow": "nope"}, 404, "not registered"),
        ({"every": "1m", "catchUp": "some"}, 422, "invalid request"),
        (
            {"every": "1m", "startAt": "2030-01-02T00:00:00Z", "endAt": "2030-01-01T00:00:00Z"},
            422,
            "endAt must be after startAt",
        ),
    ],
)
async def test_invalid_schedules_are_refused(
    wf: AsyncWorkflows, body: dict[str, Any], status: int, fragment: str
) -> None:
    with pytest.raises(ApiError) as refused:
        await wf._send(_post({"workflow": "report", **body}))
    assert refused.value.status_code == status and fragment in str(refused.value), refused.value


def _post(body: dict[str, Any]) -> Any:
    from workflows.client import _Call

    return _Call("POST", "/schedules", json=body)


async def test_an_interval_schedule_starts_executions_with_its_actor_and_notifications(
    settings: Settings, app: FastAPI, wf: AsyncWorkflows
) -> None:
    registry = FunctionRegistry()
    registry.register(lambda data, ctx: {"report": f"for {data['r']}"}, "buildReport")
    notifications = {"onStart": ["webhook:http://127.0.0.1:9/x"], "onFailure": ["a@b.c"]}
    async with running_engine(settings, registry) as engine:
        created = await wf.schedule(
            "report", input={"region": "us"}, notifications=notifications, every="1s"
        )
        deadline = time.monotonic() + 30
        while (await wf.get_schedule(created["id"]))["fired"] < 2:
            assert time.monotonic() < deadline, "the schedule did not fire twice"
            await asyncio.sleep(0.05)
        await wf.pause_schedule(created["id"])
        got = await wf.get_schedule(created["id"])
        last = got["lastExecutionId"]
        assert last.startswith(f"sched-{created['id']}-")
        state = await engine.wait(last)
    assert state.status.value == "completed" and state.output == {"report": "for us"}
    assert state.actor == {"kind": "schedule", "id": created["id"]}
    assert state.notifications == notifications
    fire_time = datetime.fromisoformat(got["lastFireTime"])
    assert last == f"sched-{created['id']}-{fire_time.astimezone(UTC):%Y%m%dT%H%M%SZ}"


async def _schedule(app: FastAPI, wf: AsyncWorkflows, **body: Any) -> tuple[str, ScheduleStore]:
    created = await wf._send(_post({"workflow": "report", "input": {"region": "x"}, **body}))
    redis = app.state.ctx.redis
    return created["id"], ScheduleStore(redis, app.state.ctx.settings.key_prefix)


async def _accepted(app: FastAPI, schedule_id: str) -> list[str]:
    redis: Redis = app.state.ctx.redis
    prefix = app.state.ctx.settings.key_prefix
    keys = [k.decode() async for k in redis.scan_iter(f"{prefix}:accepted:sched-{schedule_id}-*")]
    return sorted(k.rsplit("-", 1)[1] for k in keys)


@pytest.mark.parametrize(
    ("catch_up", "fired"),
    [
        ("none", []),
        ("last", ["20300101T040000Z"]),
        ("all", [f"20300101T0{h}0000Z" for h in range(1, 5)]),
    ],
)
async def test_missed_occurrences_follow_catch_up(
    app: FastAPI, wf: AsyncWorkflows, catch_up: str, fired: list[str]
) -> None:
    """Down from 00:30 to 04:30: hourly fire times 01:00-04:00 were missed; 05:00 is next."""
    schedule_id, store = await _schedule(
        app, wf, cronExpression="0 * * * *", catchUp=catch_up, startAt="2030-01-01T00:30:00Z"
    )
    scheduler = Scheduler(app.state.ctx)
    assert await scheduler.tick(datetime(2030, 1, 1, 4, 30, tzinfo=UTC)) == len(fired)
    assert await _accepted(app, schedule_id) == fired
    runtime = await store.get(schedule_id)
    assert runtime is not None
    assert runtime.next_ms == int(datetime(2030, 1, 1, 5, tzinfo=UTC).timestamp() * 1000)
    assert (runtime.fired, runtime.skipped) == (len(fired), 4 - len(fired))


async def test_two_replicas_ticking_together_fire_each_occurrence_once(
    app: FastAPI, wf: AsyncWorkflows
) -> None:
    schedule_id, store = await _schedule(
        app, wf, every="1s", catchUp="all", startAt="2030-01-01T00:00:00Z"
    )
    replicas = [Scheduler(app.state.ctx) for _ in range(3)]
    start = datetime(2030, 1, 1, tzinfo=UTC)
    for second in range(20):
        now = start + timedelta(seconds=second, milliseconds=300)
        await asyncio.gather(*(r.tick(now) for r in replicas))
    assert sum(r.fired for r in replicas) == 20
    assert len(await _accepted(app, schedule_id)) == 20
    runtime = await store.get(schedule_id)
    assert runtime is not None and runtime.fired == 20 and runtime.skipped == 0


async def test_a_replica_dying_after_its_claim_delays_but_does_not_lose_the_occurrence(
    app: FastAPI, wf: AsyncWorkflows
) -> None:
    schedule_id, store = await _schedule(
        app, wf, every="1m", catchUp="all", startAt="2030-01-01T00:00:00Z"
    )
    execution_id = f"sched-{schedule_id}-20300101T000000Z"
    assert await store.claim(execution_id, "dead-replica", ttl_ms=300) == "claimed"
    survivor = Scheduler(app.state.ctx)
    now = datetime(2030, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert await survivor.tick(now) == 0  # the dead replica's claim still holds
    deadline = time.monotonic() + 10
    while await survivor.tick(now) == 0:
        assert time.monotonic() < deadline, "the claim never expired"
        await asyncio.sleep(0.05)
    assert await _accepted(app, schedule_id) == ["20300101T000000Z"]
    raw = await app.state.ctx.redis.get(
        f"{app.state.ctx.settings.key_prefix}:accepted:{execution_id}"
    )
    assert json.loads(raw) == {"workflow": "report", "version": 1}


async def test_background_stop_is_idempotent(app: FastAPI) -> None:
    background: TriggerBackground = app.state.triggers
    assert background.scheduler.fired == 0
    await background.stop()
    await background.stop()
    await background.start()  # the lifespan stops it again


async def test_schedules_in_words_presets_and_the_next_five(wf: AsyncWorkflows) -> None:
    """Issue 17 item 7: `every` in words and the $.Daily/$.Hourly/$.Weekly presets."""
    daily = await wf._send(
        _post({"workflow": "report", "every": "$.Daily", "timezone": "Europe/Berlin"})
    )
    times = [datetime.fromisoformat(t) for t in daily["nextFireTimes"]]
    assert len(times) == 5 and all((t.hour, t.minute, t.second) == (0, 0, 0) for t in times)
    assert all(t.utcoffset() in (timedelta(hours=1), timedelta(hours=2)) for t in times)
    assert all(1 <= (b - a).total_seconds() / 86400 <= 1.05 for a, b in itertools.pairwise(times))
    weekly = await wf._send(_post({"workflow": "report", "every": "$.Weekly"}))
    assert {datetime.fromisoformat(t).weekday() for t in weekly["nextFireTimes"]} == {0}
    hourly = await wf._send(_post({"workflow": "report", "every": "$.Hourly"}))
    assert {datetime.fromisoformat(t).minute for t in hourly["nextFireTimes"]} == {0}
    words = await wf._send(_post({"workflow": "report", "every": "every 5 minutes"}))
    gaps = {
        (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()
        for a, b in itertools.pairwise(words["nextFireTimes"])
    }
    assert gaps == {300.0} and len(words["nextFireTimes"]) == 5
    listed = {s["id"]: s for s in await wf.list_schedules()}
    assert len(listed[daily["id"]]["nextFireTimes"]) == 5  # the list shows the next five
    for every, fragment in (("$.Yearly", "unknown schedule"), ("5 fortnights", "invalid interval")):
        with pytest.raises(ApiError) as refused:
            await wf._send(_post({"workflow": "report", "every": every}))
        assert refused.value.status_code == 422 and fragment in str(refused.value)


async def test_run_immediately_fires_once_at_creation_and_disabled_waits_for_resume(
    settings: Settings, app: FastAPI, wf: AsyncWorkflows
) -> None:
    registry = FunctionRegistry()
    registry.register(lambda data, ctx: {"report": f"for {data['r']}"}, "buildReport")
    async with running_engine(settings, registry) as engine:
        now = datetime.now(UTC)
        created = await wf._send(
            _post(
                {"workflow": "report", "input": {"region": "eu"}, "every": "1 hour"}
                | {"runImmediately": True}
            )
        )
        assert created["runImmediately"] is True and created["enabled"] is True
        first = datetime.fromisoformat(created["nextFireTimes"][0])
        assert abs((first - now).total_seconds()) < 5  # the immediate one, then hourly
        assert (datetime.fromisoformat(created["nextFireTimes"][1]) - first).total_seconds() > 3000
        disabled = await wf._send(
            _post({"workflow": "report", "every": "1 second", "enabled": False} | {"id": "off"})
        )
        assert disabled["paused"] is True and disabled["nextFireTimes"] == []
        deadline = time.monotonic() + 30
        while (got := await wf.get_schedule(created["id"]))["fired"] < 1:
            assert time.monotonic() < deadline, "runImmediately did not fire"
            await asyncio.sleep(0.05)
        state = await engine.wait(got["lastExecutionId"])
        assert state.status.value == "completed" and state.output == {"report": "for eu"}
        assert got["fired"] == 1 and datetime.fromisoformat(got["nextFireTimes"][0]) > first
        assert (await wf.get_schedule("off"))["fired"] == 0  # disabled: nothing fired
        await wf.resume_schedule("off")
        while (await wf.get_schedule("off"))["fired"] < 1:
            assert time.monotonic() < deadline, "the resumed schedule did not fire"
            await asyncio.sleep(0.05)
        await wf.pause_schedule("off")


async def test_a_step_reads_its_schedules_fire_time(
    settings: Settings, app: FastAPI, wf: AsyncWorkflows
) -> None:
    """`{{trigger.schedule.scheduledAt}}` (issue 17 item 6): the occurrence's fire time."""
    stamped = {
        "name": "stamped",
        "steps": [
            {
                "id": "build",
                "function": "buildReport",
                "input": {"r": "{{trigger.schedule.scheduledAt}}|{{trigger.schedule.every}}"},
            }
        ],
    }
    await wf.register(stamped)
    registry = FunctionRegistry()
    registry.register(lambda data, ctx: {"report": data["r"]}, "buildReport")
    async with running_engine(settings, registry) as engine:
        created = await wf.schedule("stamped", input={}, every="1s")
        deadline = time.monotonic() + 30
        while (await wf.get_schedule(created["id"]))["fired"] < 1:
            assert time.monotonic() < deadline, "the schedule did not fire"
            await asyncio.sleep(0.05)
        await wf.pause_schedule(created["id"])
        got = await wf.get_schedule(created["id"])
        state = await engine.wait(got["lastExecutionId"])
    at, every = state.output["report"].split("|")
    assert datetime.fromisoformat(at) == datetime.fromisoformat(got["lastFireTime"])
    assert every == "1s"
