"""Per-function circuit breaker (issue 17 item 4) on the real broker and Redis: repeated
failures open it, an open circuit fails calls at once with CircuitOpen so the fallback runs,
GET /limits shows it, and after resetAfter a successful trial call closes it."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.support.runtime import running_engine
from workflows.errors import RetryableError
from workflows.functions import FunctionContext, FunctionRegistry
from workflows.services.core.limits import CircuitBreaker, FunctionLimit
from workflows.services.dispatcher.breaker import CircuitBreakers
from workflows.services.infra.keys import Keys
from workflows.services.infra.limiter import FunctionLimits
from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.settings import Settings
from workflows.services.trigger import create_app

pytestmark = pytest.mark.integration

WORKFLOW = {
    "name": "charge",
    "steps": [{"id": "pay", "function": "chargeCard", "input": {"n": "{{input.n}}"}}],
    "errorHandling": {
        "retryStrategy": {"maxAttempts": 1},
        "fallbackSteps": {"pay": "queueCharge"},
    },
}


async def _limits(settings: Settings, redis: RedisClient) -> dict[str, Any]:
    app = create_app(settings, redis)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/limits")
            assert response.status_code == 200, response.text
            [charge] = [f for f in response.json()["functions"] if f["name"] == "chargeCard"]
            return dict(charge["circuit"])


async def test_an_open_circuit_fails_fast_and_the_fallback_runs(
    settings: Settings, redis: RedisClient
) -> None:
    calls: Counter[str] = Counter()
    healthy = {"now": False}

    def charge(data: Any, ctx: FunctionContext) -> dict[str, Any]:
        calls["chargeCard"] += 1
        if not healthy["now"]:
            raise RetryableError("gateway timeout", type="GatewayTimeout")
        return {"charged": data["n"]}

    def queue(data: Any, ctx: FunctionContext) -> dict[str, Any]:
        calls["queueCharge"] += 1
        return {"queued": data["n"]}

    registry = FunctionRegistry()
    registry.register(charge, "chargeCard")
    registry.register(queue, "queueCharge")
    breaker = CircuitBreaker(failure_threshold=2, reset_after="3s", half_open_calls=1)
    await FunctionLimits(redis, Keys(settings.key_prefix)).put(
        "chargeCard", FunctionLimit(circuit_breaker=breaker)
    )
    async with running_engine(settings, registry) as engine:
        await engine.register(WORKFLOW)
        for n in (1, 2):  # two failures in a row open the circuit; the fallback covers both
            state = await engine.wait(await engine.start("charge", {"n": n}))
            assert state.status.value == "completed" and state.output == {"queued": n}
        assert calls == Counter({"chargeCard": 2, "queueCharge": 2})
        circuit = await _limits(settings, redis)
        assert circuit["state"] == "open" and circuit["opened"] == 1 and circuit["openUntil"]

        began = time.monotonic()
        state = await engine.wait(await engine.start("charge", {"n": 3}))
        assert state.output == {"queued": 3}
        assert calls["chargeCard"] == 2  # not called: failed at once
        failed = [e for e in state.history if e.type == "step.fallback"]
        assert failed, [e.type for e in state.history]
        errors = [e.data.get("error", {}).get("type") for e in state.history if e.data.get("error")]
        assert "CircuitOpen" in errors, errors
        assert time.monotonic() - began < 5

        healthy["now"] = True  # after resetAfter one trial call goes through and closes it
        open_until = datetime.fromisoformat(circuit["openUntil"])
        deadline = time.monotonic() + 10
        while datetime.now(UTC) <= open_until:  # the clock passing resetAfter
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        state = await engine.wait(await engine.start("charge", {"n": 4}))
        assert state.output == {"charged": 4} and calls["chargeCard"] == 3
        circuit = await _limits(settings, redis)
        assert circuit["state"] == "closed" and circuit["failures"] == 0


async def test_replicas_share_the_circuit_and_half_open_lets_n_trials_through(
    settings: Settings, redis: RedisClient
) -> None:
    """Two dispatchers' breakers over one Redis: what one records, the other decides on."""
    config = CircuitBreaker(failure_threshold=3, reset_after=1000, half_open_calls=2)
    a, b = CircuitBreakers(redis, settings.key_prefix), CircuitBreakers(redis, settings.key_prefix)
    now = 1_000_000
    for breakers in (a, b, a):
        assert (await breakers.admit("f", config, now)).allowed
        await breakers.record("f", config, False, now)
    refused = await b.admit("f", config, now + 10)
    assert (refused.allowed, refused.state, refused.retry_after_ms) == (False, "open", 990)
    trials = [await x.admit("f", config, now + 1000) for x in (a, b, a)]
    assert [t.allowed for t in trials] == [True, True, False]  # halfOpenCalls: 2
    assert await a.record("f", config, True, now + 1001) == "half_open"
    assert await b.record("f", config, True, now + 1002) == "closed"
    assert (await a.state("f"))["state"] == "closed"
    for _ in range(3):
        await b.record("f", config, False, now + 2000)
    assert (await a.admit("f", config, now + 3000)).state == "half_open"  # a trial
    assert await a.record("f", config, False, now + 3001) == "open"  # it failed: open again
    assert (await b.state("f"))["opened"] == 3
