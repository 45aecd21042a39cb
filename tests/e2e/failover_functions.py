"""Five step functions for the broker-failover test (tests/e2e/test_kafka_failover.py).

Loaded by the worker (`--functions tests.e2e.failover_functions`). Each run performs its
side effect first - one MULTI with `HINCRBY {p}:effects <idempotency key> 1` (the key is
`execution:step:attempt`) and `RPUSH {p}:effect_log "<key>|<pid>"` - then returns
`{"value": input value + 1}`, so the test can tell every effect that happened twice and
check that the data went through all five steps.
"""

from __future__ import annotations

import os
from typing import Any

from workflows.functions import FunctionContext, default_registry
from workflows.services.infra.redis_client import connect_redis_url_sync

__all__ = ["FUNCTIONS", "STEPS", "definition"]

STEPS = [f"s{i}" for i in range(1, 6)]
FUNCTIONS = [f"failoverStep{i}" for i in range(1, 6)]

_clients: list[Any] = []  # made on first use: the test imports STEPS and definition too


def _redis() -> Any:
    if not _clients:
        _clients.append(connect_redis_url_sync(os.environ["WORKFLOWS_REDIS_URL"]))
    return _clients[0]


def definition(name: str) -> dict[str, Any]:
    """A sequential five-step workflow: s1..s5 each add one to the value of the step before."""
    steps = []
    for index, (step, function) in enumerate(zip(STEPS, FUNCTIONS, strict=True)):
        source = "{{input.value}}" if index == 0 else f"{{{{{STEPS[index - 1]}.value}}}}"
        steps.append({"id": step, "function": function, "input": {"value": source}})
    return {
        "name": name,
        "input": {
            "type": "object",
            "properties": {"value": {"type": "integer"}},
            "required": ["value"],
        },
        "steps": steps,
    }


def _step(name: str) -> None:
    def run(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        prefix = os.environ["WORKFLOWS_KEY_PREFIX"]
        with _redis().pipeline(transaction=True) as pipe:
            pipe.hincrby(f"{prefix}:effects", ctx.idempotency_key, 1)
            pipe.rpush(f"{prefix}:effect_log", f"{ctx.idempotency_key}|{os.getpid()}")
            pipe.execute()
        return {"value": int(data["value"]) + 1}

    default_registry.register(run, name)


for _name in FUNCTIONS:
    _step(_name)
