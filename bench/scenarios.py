"""The scenarios every system runs: idle, serial chain, saturation ramp, fan-out, payload sizes.

A `Fixture` hands out a ready target per scenario. The peers use one target for the whole
suite (`SharedFixture`); this engine gets fresh topics and keys per scenario (services
restarted with a new prefix, `bench/suite_ours.py`), so no scenario runs on a grown log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

from bench import workloads
from bench.harness import Harness, Profile

__all__ = ["SCENARIOS", "Fixture", "SharedFixture", "run_scenarios"]

SCENARIOS = ("serial", "saturation", "fanout", "payload")


class Fixture(Protocol):
    def session(self, scenario: str) -> contextlib.AbstractAsyncContextManager[tuple[Harness, Any]]:
        """A target that is up, has completed a run and its warm-up, and its harness."""
        ...


class SharedFixture:
    """One target (already entered) for every scenario: readied and warmed up once."""

    def __init__(self, target: Any, profile: Profile) -> None:
        self.target = target
        self.profile = profile
        self.harness: Harness | None = None

    @contextlib.asynccontextmanager
    async def session(self, scenario: str) -> AsyncIterator[tuple[Harness, Any]]:
        if self.harness is None:
            harness = Harness(self.target, asyncio.get_running_loop())
            self.target.harness = harness
            await self.target.ready(harness)
            await harness.closed_loop("chain", self.profile.warmup_runs)
            self.harness = harness
        yield self.harness, self.target


async def run_scenarios(
    fixture: Fixture,
    profile: Profile,
    log: Callable[[str], None],
    include: Sequence[str] = SCENARIOS,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "serial" in include:
        async with fixture.session("serial") as (harness, target):
            log("  idle")
            out["idle"] = {
                "seconds": profile.idle_seconds,
                "cpu_percent": await harness.idle(profile.idle_seconds),
            }
            log(f"  idle cpu={out['idle']['cpu_percent']}")
            marks = await target.mark() if hasattr(target, "breakdown") else None
            log("  serial chain")
            hist = await harness.closed_loop("chain", profile.serial_runs)
            out["serial"] = _serial(hist.summary())
            log(f"  serial e2e {hist.summary()}")
            if marks is not None:
                log("  hop breakdown (record timestamps of every serial execution)")
                out["hop_breakdown"] = await target.breakdown(marks, profile.serial_runs)

    if "saturation" in include:
        async with fixture.session("saturation") as (harness, _):
            log("  saturation ramp")
            out["saturation"] = await harness.ramp(
                "chain", profile.rates, profile.step_seconds, profile.drain_timeout, log=log
            )

    if "fanout" in include:
        async with fixture.session("fanout") as (harness, _):
            log("  fan-out/fan-in")
            await harness.closed_loop("fanout", 1)
            fan = await harness.closed_loop("fanout", profile.fanout_runs)
            out["fanout"] = _fanout(fan.summary())

    if "payload" in include:
        out["payload"] = {}
        for size, rates in profile.payload_rates.items():
            async with fixture.session(f"payload{size // 1024}k") as (harness, _):
                log(f"  payload {size} B")
                await harness.closed_loop("payload", 2, size=size)
                out["payload"][str(size)] = await harness.ramp(
                    "payload",
                    rates,
                    profile.step_seconds,
                    profile.drain_timeout,
                    size=size,
                    log=log,
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
