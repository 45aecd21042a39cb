"""The example onboarding functions, wrapped to count every run in Redis (for the e2e test).

Each run does `HINCRBY {prefix}:calls <function> 1` and records the idempotency key, so
the test can check each step ran exactly once per execution.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel

from examples import onboarding_functions
from workflows.functions import FunctionContext, default_registry
from workflows.services.infra.redis_client import connect_redis_url_sync

_client = connect_redis_url_sync(os.environ["WORKFLOWS_REDIS_URL"])
_prefix = os.environ["WORKFLOWS_KEY_PREFIX"]


def _counted(name: str) -> None:
    entry = default_registry.get(name)
    assert entry is not None
    inner, model = entry.fn, entry.input_model

    def counted(data: dict[str, Any], ctx: FunctionContext) -> Any:
        _client.hincrby(f"{_prefix}:calls", name, 1)
        _client.hincrby(f"{_prefix}:runs", ctx.idempotency_key, 1)
        result = inner(model.model_validate(data) if model else data, ctx)
        return result.model_dump(mode="json") if isinstance(result, BaseModel) else result

    default_registry.register(counted, name)


for _name in list(default_registry.names()):
    _counted(_name)

assert onboarding_functions is not None
