"""The definition language (issue 17) through the real orchestrator and dispatcher on Kafka."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.infra.settings import Settings
from tests.support.runtime import Engine, running_engine
from workflows.functions import FunctionContext, FunctionRegistry

pytestmark = pytest.mark.integration


class Calls:
    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.errors: dict[str, list[Exception]] = {}  # function -> errors to raise, in order


def registry_for(calls: Calls) -> FunctionRegistry:
    registry = FunctionRegistry()

    def make(name: str) -> None:
        def fn(data: Any, ctx: FunctionContext) -> dict[str, Any]:
            calls.count[name] += 1
            pending = calls.errors.get(name)
            if pending:
                raise pending.pop(0)
            return {"fn": name, "step": ctx.step_id, "input": data}

        registry.register(fn, name)

    for name in ("work", "charge", "refund", "notify", "review", "ship", "alert"):
        make(name)
    return registry


@pytest.fixture
async def calls() -> Calls:
    return Calls()


@pytest.fixture
async def engine(settings: Settings, calls: Calls) -> AsyncIterator[Engine]:
    async with running_engine(settings, registry_for(calls)) as running:
        yield running


async def test_fan_in_of_thirty_joins_once_after_every_branch(engine: Engine, calls: Calls) -> None:
    branches = [f"b{i}" for i in range(30)]
    steps: list[dict[str, Any]] = [{"id": "root", "function": "work"}]
    steps += [{"id": b, "function": "work", "dependsOn": ["root"]} for b in branches]
    steps.append(
        {
            "id": "join",
            "function": "notify",
            "dependsOn": branches,
            "input": {"last": "{{b29.step}}", "first": "{{b0.step}}"},
        }
    )
    await engine.register({"name": "fanIn30", "parallelism": "auto", "steps": steps})
    state = await engine.wait(await engine.start("fanIn30", {}))
    assert state.status.value == "completed", state.error
    assert calls.count["work"] == 31
    assert calls.count["notify"] == 1
    assert state.steps["join"].input == {"last": "b29", "first": "b0"}
    join_started = next(
        e.seq for e in state.history if e.type == "step.started" and e.step_id == "join"
    )
    for branch in branches:
        done = next(
            e.seq for e in state.history if e.type == "step.succeeded" and e.step_id == branch
        )
        assert done < join_started
