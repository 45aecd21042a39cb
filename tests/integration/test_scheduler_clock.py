"""Scheduler clocks (issue 20, item 8): what is due is decided on the reference clock
(Redis TIME); a replica whose clock runs 45 s ahead fires nothing early, and says so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from workflows.services.infra.schedule_store import ScheduleStore
from workflows.services.infra.settings import Settings
from workflows.services.trigger import create_app
from workflows.services.trigger import scheduler as scheduler_module

pytestmark = pytest.mark.integration

WORKFLOW = {
    "name": "report",
    "input": {"type": "object"},
    "steps": [{"id": "build", "function": "buildReport"}],
}


@pytest.fixture
async def app(settings: Settings, redis: Redis) -> AsyncIterator[FastAPI]:
    # the background loop ticks rarely: the test drives the ticks
    app = create_app(settings.model_copy(update={"scheduler_poll_ms": 600_000}), redis)
    async with app.router.lifespan_context(app):
        yield app


def _skewed(offset: timedelta) -> type[datetime]:
    class Skewed(datetime):
        @classmethod
        def now(cls, tz: object = None) -> Skewed:
            return datetime.now(UTC) + offset  # type: ignore[return-value]  # a datetime is enough

    return Skewed


async def test_a_clock_45s_ahead_fires_nothing_early(
    app: FastAPI, redis: Redis, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as api:
        assert (await api.post("/workflows", json=WORKFLOW)).status_code == 201
        seconds, _ = await redis.time()
        start = datetime.fromtimestamp(int(seconds) + 30, UTC).isoformat()  # due in 30 s
        body = {"workflow": "report", "every": "1h", "startAt": start, "id": "hourly"}
        assert (await api.post("/schedules", json=body)).status_code == 201
        scheduler = app.state.triggers.scheduler
        store = ScheduleStore(redis, settings.key_prefix)

        monkeypatch.setattr(scheduler_module, "datetime", _skewed(timedelta(seconds=45)))
        assert await scheduler.tick() == 0  # on this host's clock it was due 15 s ago
        runtime = await store.get("hourly")
        assert runtime is not None and runtime.fired == 0
        metrics = (await api.get("/metrics")).text
        line = next(x for x in metrics.splitlines() if x.startswith("workflows_scheduler_clock"))
        assert 44 < float(line.split()[-1]) < 46

        monkeypatch.setattr(scheduler_module, "datetime", _skewed(timedelta(seconds=2)))
        assert await scheduler.tick() == 0  # within the bound: the reference says not yet
        runtime = await store.get("hourly")
        assert runtime is not None and runtime.fired == 0
