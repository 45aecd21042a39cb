"""The seed workflow's functions, made unreliable on purpose and counting their side effects.

Loaded by the chaos suite's workers (`--functions tests.chaos.chaos_functions`). Every
outcome is a pure function of the idempotency key (`execution:step:attempt`) or of the
input, so `expected_outcome()` can say in advance how each execution must end:

- any attempt fails with a retryable error when `draw(key, "transient") < TRANSIENT_RATE`;
- `scheduleKickoffCall` fails permanently (non-retryable) for the customers where
  `kickoff_refused(customerId)`, so the fallback `sendSchedulingLink` runs.

A successful attempt performs its side effect first: one MULTI with
`HINCRBY {p}:effects <idempotency key> 1` and `RPUSH {p}:effect_log "<key>|<pid>"`, so the
checker can tell an attempt whose effect happened twice and which processes did it.
Failing attempts do no side effect. Redis being down (a chaos restart) or refusing writes
(`--refuse-writes`, OOM) is waited out here rather than turned into a failed attempt, so the
outcome stays deterministic.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from pydantic import BaseModel

from examples import onboarding_functions
from tests.chaos.plan import KICKOFF, TRANSIENT_RATE, draw, kickoff_refused
from workflows.errors import FatalError, RetryableError
from workflows.functions import FunctionContext, default_registry

__all__: list[str] = []

REDIS_WAIT_S = 120.0


_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(
            os.environ["WORKFLOWS_REDIS_URL"], socket_timeout=5, socket_connect_timeout=2
        )
    return _client


def _side_effect(ctx: FunctionContext) -> None:
    prefix = os.environ["WORKFLOWS_KEY_PREFIX"]
    deadline = time.monotonic() + REDIS_WAIT_S
    while True:
        try:
            with _redis().pipeline(transaction=True) as pipe:
                pipe.hincrby(f"{prefix}:effects", ctx.idempotency_key, 1)
                pipe.rpush(f"{prefix}:effect_log", f"{ctx.idempotency_key}|{os.getpid()}")
                pipe.execute()
            return
        except (redis.ConnectionError, ValueError, redis.exceptions.OutOfMemoryError):
            # Redis restarting (a connection it dropped can also surface as "I/O operation on
            # closed file", a ValueError, in redis-py's sync client). If the MULTI reached
            # Redis before the connection dropped it may have been applied: the checker then
            # sees 2 for this key, from one pid.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _chaotic(name: str) -> None:
    entry = default_registry.get(name)
    assert entry is not None
    inner, model = entry.fn, entry.input_model

    def chaotic(data: dict[str, Any], ctx: FunctionContext) -> Any:
        if draw(ctx.idempotency_key, "transient") < TRANSIENT_RATE:
            raise RetryableError(f"{name}: transient failure (attempt {ctx.attempt})")
        if name == KICKOFF and kickoff_refused(str(data.get("customerEmail", "")).split("@")[0]):
            raise FatalError(f"{name}: the calendar refused the booking", type="Refused")
        value = model.model_validate(data) if model else data
        _side_effect(ctx)
        result = inner(value, ctx)
        return result.model_dump(mode="json") if isinstance(result, BaseModel) else result

    default_registry.register(chaotic, name)


for _name in list(default_registry.names()):
    _chaotic(_name)

assert onboarding_functions is not None


def _huge_amount(data: dict[str, Any], ctx: FunctionContext) -> dict[str, int]:
    """The `poisonKpi` workflow's step (tests/chaos/poison_executions.py): 400 digits."""
    return {"value": 10**400}


default_registry.register(_huge_amount, "chaosHugeAmount")
