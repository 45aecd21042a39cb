"""A one-step workflow's function for the KPI export test: scores an order, or declines it."""

from __future__ import annotations

from typing import Any

from workflows.errors import FatalError
from workflows.functions import FunctionContext, function


@function("scoreOrder")
def score_order(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    if data.get("decline"):
        raise FatalError("order declined", type="Declined")
    return {"score": data["score"]}
