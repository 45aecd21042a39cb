"""A trivial function for the schedule e2e test: `tick` returns the input it was given."""

from __future__ import annotations

from typing import Any

from workflows.functions import FunctionContext, function


@function("tick")
def tick(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"ticked": data.get("n", 0), "execution": ctx.execution_id}
