"""The scenarios every system runs: serial chain, saturation ramp, fan-out, payload sizes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bench import workloads
from bench.harness import Harness, Profile

__all__ = ["run_scenarios"]


async def run_scenarios(
    engine: Any, profile: Profile, log: Callable[[str], None]
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    harness = Harness(engine, loop)
    engine.harness = harness
    await engine.ready(harness)
    await harness.closed_loop("chain", profile.warmup_runs)
    out: dict[str, Any] = {}

    log("  serial chain")
    hist = await harness.closed_loop("chain", profile.serial_runs)
    out["serial"] = _serial(hist.summary())
    if hasattr(engine, "breakdown"):
        log("  hop breakdown")
        out["hop_breakdown"] = await engine.breakdown(harness, max(20, profile.serial_runs // 5))

    log("  saturation ramp")
    out["saturation"] = await harness.ramp(
        "chain", profile.rates, profile.step_seconds, profile.drain_timeout, log=log
    )

    log("  fan-out/fan-in")
    await harness.closed_loop("fanout", 1)
    fan = await harness.closed_loop("fanout", profile.fanout_runs)
    out["fanout"] = _fanout(fan.summary())

    out["payload"] = {}
    for size, rates in profile.payload_rates.items():
        log(f"  payload {size} B")
        await harness.closed_loop("payload", 2, size=size)
        out["payload"][str(size)] = await harness.ramp(
            "payload", rates, profile.step_seconds, profile.drain_timeout, size=size, log=log
        )
    return out


def _serial(summary: dict[str, Any]) -> dict[str, Any]:
    steps = workloads.CHAIN_STEPS
    return {
        "runs": summary["count"],
        "steps": steps,
        "step_work_ms": 0.0,
        "latency_ms": summary,
        "per_hop_ms": {k: round(summary[k] / steps, 3) for k in ("p50", "p95", "p99", "mean")},
    }


def _fanout(summary: dict[str, Any]) -> dict[str, Any]:
    branches = workloads.FANOUT_BRANCHES
    return {
        "runs": summary["count"],
        "branches": branches,
        "makespan_ms": summary,
        "per_branch_ms": {k: round(summary[k] / branches, 3) for k in ("p50", "p95", "p99")},
    }
