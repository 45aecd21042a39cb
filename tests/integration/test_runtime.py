"""The orchestrator and dispatcher over the real broker and Redis: the runtime semantics."""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.runtime import Engine, running_engine
from workflows.contracts import CancelExecution, RetryExecution, StepResult, command_id
from workflows.contracts.base import Actor
from workflows.errors import FatalError, RetryableError
from workflows.functions import FunctionContext, FunctionRegistry
from workflows.services.infra.settings import Settings

pytestmark = pytest.mark.integration

SEED: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "examples" / "customer_onboarding.yaml").read_text()
)
PRO = {"customerId": "c1", "plan": "professional", "industry": "health", "companySize": "medium"}
ENT = {**PRO, "plan": "enterprise"}


class Calls:
    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.fail: dict[str, int] = {}
        self.release = asyncio.Event()


def seed_registry(calls: Calls) -> FunctionRegistry:
    registry = FunctionRegistry()

    def make(name: str, output: dict[str, Any]) -> None:
        def fn(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
            calls.count[name] += 1
            if calls.fail.get(name, 0) != 0:
                calls.fail[name] -= 1
                raise RetryableError(f"{name} is down")
            return output

        registry.register(fn, name)

    make("setupCustomerAccount", {"customerEmail": "a@b.c", "companyName": "A", "accountUrl": "u"})
    make("sendPersonalizedEmail", {"sent": True})
    make("allocateResources", {"seats": 5})
    make("assignAccountManager", {"email": "am@x.com"})
    make("scheduleKickoffCall", {"meeting": "m"})
    make("sendSchedulingLink", {"link": "l"})
    make(
        "generateCustomerSuccessPlan",
        {"onboardingStatus": "in_progress", "nextSteps": ["x"], "estimatedTimeToValue": 10},
    )

    async def blocking(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        calls.count["blocking"] += 1
        await calls.release.wait()
        return {}

    def fatal_once(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        calls.count["fatalOnce"] += 1
        if calls.count["fatalOnce"] == 1:
            raise FatalError("bad data")
        return {"fixed": True}

    registry.register(blocking, "blocking")
    registry.register(fatal_once, "fatalOnce")
    return registry


@pytest.fixture
async def calls() -> Calls:
    return Calls()


@pytest.fixture
async def engine(settings: Settings, calls: Calls) -> AsyncIterator[Engine]:
    async with running_engine(settings, seed_registry(calls)) as running:
        await running.register(SEED)
        yield running
    calls.release.set()


def events(state: Any, step: str | None = None) -> list[str]:
    return [e.type for e in state.history if step is None or e.step_id == step]


async def test_seed_professional_skips_the_enterprise_steps(engine: Engine) -> None:
    state = await engine.wait(await engine.start("customerOnboardingWorkflow", PRO))
    assert state.status.value == "completed", state.error
    assert state.steps["assignAccountManager"].status.value == "skipped"
    assert state.steps["scheduleKickoff"].status.value == "skipped"
    assert state.output["estimatedTimeToValue"] == 10


async def test_seed_enterprise_runs_them(engine: Engine, calls: Calls) -> None:
    state = await engine.wait(await engine.start("customerOnboardingWorkflow", ENT))
    assert state.status.value == "completed", state.error
    assert state.steps["scheduleKickoff"].input["accountManagerEmail"] == "am@x.com"
    assert calls.count["scheduleKickoffCall"] == 1


async def test_retries_follow_the_configured_backoff(engine: Engine, calls: Calls) -> None:
    raw = copy.deepcopy(SEED)
    raw["name"] = "fastRetries"
    raw["errorHandling"]["retryStrategy"] = {
        "maxAttempts": 3,
        "backoff": {"initialDelay": 200, "multiplier": 2},
    }
    await engine.register(raw)
    calls.fail["allocateResources"] = 2
    state = await engine.wait(await engine.start("fastRetries", PRO))
    assert state.status.value == "completed", state.error
    trail = [e for e in state.history if e.step_id == "resourceAllocation"]
    assert [e.type for e in trail] == [
        "step.started",
        "step.retrying",
        "step.started",
        "step.retrying",
        "step.started",
        "step.succeeded",
    ]
    assert [e.data["delayMs"] for e in trail if e.type == "step.retrying"] == [200, 400]
    starts: list[datetime] = [e.at for e in trail if e.type == "step.started"]
    gaps = [(b - a).total_seconds() * 1000 for a, b in itertools.pairwise(starts)]
    assert gaps[0] >= 200 and gaps[1] >= 400, gaps
    assert calls.count["allocateResources"] == 3


async def test_fallback_takes_over_when_kickoff_keeps_failing(engine: Engine, calls: Calls) -> None:
    calls.fail["scheduleKickoffCall"] = -1  # always
    state = await engine.wait(await engine.start("customerOnboardingWorkflow", ENT), timeout=30)
    assert state.status.value == "completed", state.error
    kickoff = state.steps["scheduleKickoff"]
    assert kickoff.fallback and kickoff.function == "sendSchedulingLink"
    assert kickoff.output == {"link": "l"}
    assert calls.count["scheduleKickoffCall"] == 3 and calls.count["sendSchedulingLink"] == 1
    assert events(state, "scheduleKickoff")[-3:] == [
        "step.fallback",
        "step.started",
        "step.succeeded",
    ]


async def test_output_violating_the_schema_fails_clearly(engine: Engine) -> None:
    raw = copy.deepcopy(SEED)
    raw["name"] = "badOutput"
    raw["steps"][5]["function"] = "allocateResources"  # returns {"seats": 5}
    await engine.register(raw)
    state = await engine.wait(await engine.start("badOutput", PRO))
    assert state.status.value == "failed"
    assert state.error is not None and state.error["type"] == "OutputValidationError"
    assert "'onboardingStatus' is a required property" in state.error["message"]


async def test_step_timeout_is_enforced_by_the_orchestrator(engine: Engine) -> None:
    # No worker serves this function: the command waits on its topic, only the timer can end it.
    await engine.register(
        {"name": "slow", "steps": [{"id": "wait", "function": "nobodyServesThis", "timeout": 150}]}
    )
    state = await engine.wait(await engine.start("slow", {}))
    assert state.status.value == "failed"
    assert "no result within 150 ms" in state.error["message"]  # type: ignore[index]
    assert "step.timed_out" in events(state, "wait")


async def test_cancel_stops_a_running_execution(engine: Engine, calls: Calls) -> None:
    await engine.register(
        {
            "name": "long",
            "steps": [
                {"id": "a", "function": "blocking"},
                {"id": "b", "function": "allocateResources"},
            ],
        }
    )
    execution_id = await engine.start("long", {})
    await engine.wait(execution_id, status={"running"})
    await engine.publish(
        engine.topics.control,
        CancelExecution(
            execution_id=execution_id, reason="customer left", actor=Actor(kind="user", id="ops")
        ),
    )
    state = await engine.wait(execution_id)
    assert state.status.value == "cancelled"
    assert state.error == {"type": "Cancelled", "message": "customer left"}
    assert state.history[-1].actor == {"kind": "user", "id": "ops"}
    calls.release.set()
    assert calls.count["allocateResources"] == 0


async def test_retry_from_the_failed_step_links_lineage(engine: Engine, calls: Calls) -> None:
    await engine.register(
        {
            "name": "fixable",
            "steps": [
                {"id": "first", "function": "allocateResources"},
                {"id": "second", "function": "fatalOnce", "input": {"seats": "{{first.seats}}"}},
            ],
        }
    )
    old_id = await engine.start("fixable", {})
    failed = await engine.wait(old_id)
    assert failed.status.value == "failed" and "bad data" in failed.error["message"]  # type: ignore[index]
    await engine.publish(
        engine.topics.control,
        RetryExecution(
            execution_id=old_id, new_execution_id="retry-" + old_id, actor=Actor(kind="user")
        ),
    )
    new = await engine.wait("retry-" + old_id)
    assert new.status.value == "completed", new.error
    assert new.retry_of == old_id and new.output == {"fixed": True}
    assert calls.count["allocateResources"] == 1  # the step before was not re-run
    old = await engine.state(old_id)
    assert old is not None and old.retried_by == "retry-" + old_id


async def test_a_duplicated_step_result_changes_nothing(engine: Engine) -> None:
    execution_id = await engine.start("customerOnboardingWorkflow", PRO)
    state = await engine.wait(execution_id)
    before = state.model_dump_json()
    duplicate = StepResult(
        execution_id=execution_id,
        command_id=command_id(execution_id, "welcomeEmail", 1),
        step_id="welcomeEmail",
        attempt=1,
        ok=True,
        output={"sent": "again"},
    )
    await engine.publish(engine.topics.step_results, duplicate)
    probe = await engine.start("customerOnboardingWorkflow", PRO)  # same partition order is not
    await engine.wait(probe)  # guaranteed, so also wait for the consumer to move on
    deadline = asyncio.get_running_loop().time() + 2
    while asyncio.get_running_loop().time() < deadline:
        assert (await engine.state(execution_id)).model_dump_json() == before  # type: ignore[union-attr]
        await asyncio.sleep(0.05)
