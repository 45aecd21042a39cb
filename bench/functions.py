"""Benchmark step functions (the dispatcher loads them: --functions bench.functions)."""

from __future__ import annotations

from typing import Any

from workflows.functions import FunctionContext, function


@function("benchNoop")
async def bench_noop(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    """Does nothing: the step work is zero, so the measured time is engine overhead."""
    return {}


@function("benchPayload")
async def bench_payload(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    """Returns an output of `size` bytes (a string field), to measure payload cost."""
    size = int(data.get("size", 0))
    return {"blob": "x" * size}
