"""Executions whose state expired leave the search index and the listing without anyone
searching: the orchestrator purges them every PURGE_INTERVAL_S (a soak of 34,000 executions
kept ~1.7 KB of index rows and listing entries per execution after their states expired).

On real Kafka and Redis: an execution runs to its end, its state is set to expire, and the
orchestrator's purge (with the clock of the index moved past the expiry) drops its row and
its place in `executions`; before the expiry both stay."""

from __future__ import annotations

import time
import types
import uuid
from typing import Any

import pytest

from tests.support.runtime import running_engine
from workflows.contracts import Actor, StartExecution, encode
from workflows.functions import FunctionContext, FunctionRegistry
from workflows.services.infra import search_index
from workflows.services.infra.settings import Settings

pytestmark = pytest.mark.integration

ONE = {"name": "one", "steps": [{"id": "a", "function": "noop"}]}


async def test_the_orchestrator_purges_expired_executions_from_the_index_and_listing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings.model_copy(update={"state_ttl_s": 60})
    registry = FunctionRegistry()

    def noop(data: Any, ctx: FunctionContext) -> dict[str, str]:
        return {}

    registry.register(noop, "noop")
    async with running_engine(settings, registry) as engine:
        await engine.register(ONE)
        ended = uuid.uuid4().hex
        start = StartExecution(execution_id=ended, workflow="one", actor=Actor(kind="api"))
        await engine.bus.publish(engine.topics.start, encode(start), ended)
        await engine.bus.flush()
        assert (await engine.wait(ended)).status.value == "completed"
        store, orchestrator = engine.store, engine.orchestrator
        assert orchestrator is not None
        listed = await store.recent_executions(100)
        assert ended in listed
        rows = store.search.base("default") + "rows"
        assert await engine.redis.hexists(rows, ended)

        await orchestrator._purge()  # not due yet (every PURGE_INTERVAL_S): nothing goes
        orchestrator._purged_at = 0.0
        await orchestrator._purge()  # due, but the state has not expired: nothing goes
        assert ended in await store.recent_executions(100)

        later = time.time() + 61  # the index's clock past the state's expiry
        monkeypatch.setattr(search_index, "time", types.SimpleNamespace(time=lambda: later))
        orchestrator._purged_at = 0.0
        await orchestrator._purge()
        assert ended not in await store.recent_executions(100)
        assert not await engine.redis.hexists(rows, ended)
