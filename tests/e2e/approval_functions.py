"""Functions of the approval e2e test; every run is counted in Redis (`{prefix}:calls`)."""

from __future__ import annotations

import os
from typing import Any

import redis

from workflows.functions import FunctionContext, function

_client = redis.Redis.from_url(os.environ["WORKFLOWS_REDIS_URL"])
_prefix = os.environ["WORKFLOWS_KEY_PREFIX"]


@function("fulfilOrder")
def fulfil_order(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    _client.hincrby(f"{_prefix}:calls", "fulfilOrder", 1)
    return {"fulfilled": data["orderId"], "decision": data.get("decision")}


@function("notifyTimeout")
def notify_timeout(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    _client.hincrby(f"{_prefix}:calls", "notifyTimeout", 1)
    return {"notified": data["orderId"]}
