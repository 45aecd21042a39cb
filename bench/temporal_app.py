"""The Temporal peer's workflows and activities (`bench/temporal_worker.py` serves them).

The workflows are the same shapes as this engine's: a chain of 10 no-op activities (each
optionally returning `size` bytes), and 1 -> 100 parallel no-op activities -> join. They run
in the SDK's default sandbox; this module imports only the SDK and the standard library.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow

CHAIN_STEPS = 10  # as bench.workloads (not imported: keep the sandboxed module minimal)
FANOUT_BRANCHES = 100
TIMEOUT = timedelta(seconds=60)


@activity.defn(name="noop")
async def noop(size: int) -> dict[str, Any]:
    return {"blob": "x" * size} if size else {}


@workflow.defn(name="BenchChain")
class BenchChain:
    @workflow.run
    async def run(self, size: int) -> int:
        for _ in range(CHAIN_STEPS):
            await workflow.execute_activity(noop, size, start_to_close_timeout=TIMEOUT)
        return CHAIN_STEPS


@workflow.defn(name="BenchFanout")
class BenchFanout:
    @workflow.run
    async def run(self) -> int:
        await workflow.execute_activity(noop, 0, start_to_close_timeout=TIMEOUT)
        branches = [
            workflow.execute_activity(noop, 0, start_to_close_timeout=TIMEOUT)
            for _ in range(FANOUT_BRANCHES)
        ]
        await asyncio.gather(*branches)
        await workflow.execute_activity(noop, 0, start_to_close_timeout=TIMEOUT)
        return FANOUT_BRANCHES
