"""One bad execution never stalls the others (issue 20, item 1).

Poison records are sent between healthy ones on the same partitions, on the real broker:
each kind used to fail the orchestrator's whole batch (or its timer loop) on every
redelivery, so the healthy executions behind it never finished. Now the record fails only
itself: its execution ends `failed` with the reason (or keeps running when the record was
harmless), the record is in the dead-letter topic, and the healthy executions complete.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord

from tests.support.runtime import Engine, running_engine, until
from workflows.contracts import Actor, StartExecution, StepResult, command_id, encode
from workflows.errors import RetryableError
from workflows.functions import FunctionContext, FunctionRegistry
from workflows.services.core.state import ExecutionState
from workflows.services.infra.dead_letters import read_dead_letters
from workflows.services.infra.kafka import fitted_dead_letter
from workflows.services.infra.settings import Settings
from workflows.services.orchestrator import handlers
from workflows.services.orchestrator.batch import Batch

pytestmark = pytest.mark.integration

HEALTHY = 12
BRANCHES = ("b1", "b2", "b3")
RETRYING = {  # b fails once, so every execution needs a durable timer to finish
    "name": "retrying",
    "steps": [
        {"id": "a", "function": "poisonStep"},
        {"id": "b", "function": "poisonStep"},
    ],
    "errorHandling": {"retryStrategy": {"maxAttempts": 2, "backoff": {"initialDelay": 50}}},
}
KPIS = {
    "name": "amounts",
    "steps": [{"id": "a", "function": "amount", "input": {"huge": "{{input.huge}}"}}],
    "metrics": [{"name": "amount", "value": "{{a.amount}}"}],
}


def _registry() -> FunctionRegistry:
    registry = FunctionRegistry()

    def step(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        if ctx.step_id == "b" and ctx.attempt == 1:
            raise RetryableError("first attempt of b")
        return {"step": ctx.step_id}

    def amount(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        return {"amount": 10**400 if data.get("huge") else 42}

    registry.register(step, "poisonStep")
    registry.register(amount, "amount")
    return registry


@pytest.fixture
def exploding(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Execution ids whose next transition raises, as a bug in the core would."""
    doomed: set[str] = set()
    real = handlers.transition_for

    def transition_for(message: Any, *args: Any, **kwargs: Any) -> Any:
        if message.execution_id in doomed and isinstance(message, StepResult):
            raise KeyError("a bug no test foresaw")
        return real(message, *args, **kwargs)

    monkeypatch.setattr("workflows.services.orchestrator.service.transition_for", transition_for)
    return doomed


async def _all_ended(engine: Engine, ids: list[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    states: dict[str, Any] = {}
    while time.monotonic() < deadline:
        states = {i: await engine.state(i) for i in ids}
        if all(s is not None and s.terminal for s in states.values()):
            return states
        await asyncio.sleep(0.05)
    pending = {
        i: s.status.value if s else None for i, s in states.items() if not s or not s.terminal
    }
    raise AssertionError(f"not ended after {timeout}s: {pending}")


async def test_poison_records_fail_only_themselves(settings: Settings, exploding: set[str]) -> None:
    async with running_engine(settings, _registry()) as engine:
        await engine.register(RETRYING)
        await engine.register(KPIS)
        healthy = [await engine.start("retrying", {}) for _ in range(HEALTHY // 2)]
        # the timer key's separator inside an execution id (the timer loop split on it)
        separator = await engine.start("retrying", {}, "tenant|with|pipes")
        # a KPI of 400 digits (float() raised while the execution finished)
        huge_kpi = await engine.start("amounts", {"huge": True})
        # a bug in a transition: the result of b raises for this one execution
        exploding.add("doomed-1")
        doomed = await engine.start("retrying", {}, "doomed-1")
        healthy += [await engine.start("retrying", {}) for _ in range(HEALTHY // 2)]
        healthy.append(await engine.start("amounts", {}))
        states = await _all_ended(engine, [*healthy, separator, huge_kpi, doomed], 60)

    for eid in healthy:
        assert states[eid].status.value == "completed", (eid, states[eid].error)
    assert states[separator].status.value == "completed", states[separator].error
    assert states[huge_kpi].status.value == "completed", states[huge_kpi].error
    ended = [e for e in states[huge_kpi].history if e.type == "execution.completed"]
    assert "out of range" in str(ended[0].data), ended[0].data  # the KPI says why it is not one

    failed = states[doomed]
    assert failed.status.value == "failed"
    assert failed.error is not None and failed.error["type"] == "InternalError"
    assert "the result of step a attempt 1" in failed.error["message"]
    assert "KeyError" in failed.error["message"]
    assert [e.type for e in failed.history][-1] == "execution.failed"

    letters = [e.letter for e in await read_dead_letters(settings) if e.letter is not None]
    poison = [letter for letter in letters if letter.error_type == "poison"]
    assert [letter.execution_id for letter in poison] == ["doomed-1"]
    assert "KeyError" in poison[0].reason


async def test_a_late_result_of_the_failed_execution_changes_nothing(
    settings: Settings, exploding: set[str]
) -> None:
    async with running_engine(settings, _registry()) as engine:
        await engine.register(RETRYING)
        exploding.add("doomed-2")
        doomed = await engine.start("retrying", {}, "doomed-2")
        first = await engine.wait(doomed)
        exploding.clear()
        late = StepResult(
            execution_id=doomed,
            command_id=command_id(doomed, "b", 1),
            step_id="b",
            attempt=1,
            ok=True,
            output={"late": True},
            worker_id="test",
        )
        await engine.publish(engine.topics.step_results, late)
        after = await engine.wait(await engine.start("retrying", {}))  # behind the late one
        again = await engine.state(doomed)
    assert after.status.value == "completed"
    assert first.status.value == "failed" and again is not None
    assert again.status.value == "failed" and len(again.history) == len(first.history)


def test_a_dead_letter_always_fits() -> None:
    """A start command close to the size limit made a letter (base64 + text copy) the broker
    refused, failing the batch on every redelivery; the copy is cut to fit instead."""
    limit = 1_000_000
    start = StartExecution(
        execution_id="big-1",
        workflow="wf",
        input={"blob": "\u0001" * 900_000},  # each escaped to six bytes in the text copy
        actor=Actor(kind="api"),
    )
    original = encode(start)
    letter = fitted_dead_letter(
        limit,
        original=original,
        source_topic="wf.executions.start",
        reason="rejected",
        error_type="rejected",
        service="orchestrator",
    )
    assert len(letter) <= limit
    assert b"original cut:" in letter and b'"executionId":"big-1"' in letter
    small = fitted_dead_letter(
        limit, original=b"{}", source_topic="t", reason="r", error_type="e", service="s"
    )
    assert b"original cut" not in small


FAN = {  # the branches run in an external worker nobody starts: the test sends their results
    "name": "fanned",
    "parallelism": "auto",
    "steps": [
        {"id": "split", "function": "poisonStep"},
        *({"id": b, "function": "externalBranch", "dependsOn": ["split"]} for b in BRANCHES),
        {"id": "join", "function": "poisonStep", "dependsOn": list(BRANCHES)},
    ],
}


async def test_a_record_raising_mid_batch_restarts_the_pass_from_the_document(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records of one execution are applied to its state in place and dumped once; the one
    that raises starts the pass again from the stored document without it: the records
    before it are applied once (not twice), it fails the execution, the one after changes
    nothing."""
    real = handlers.transition_for

    def transition_for(message: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(message, StepResult) and message.step_id == "b2":
            raise KeyError("a bug in b2's transition")
        return real(message, *args, **kwargs)

    monkeypatch.setattr("workflows.services.orchestrator.service.transition_for", transition_for)
    async with running_engine(settings, _registry()) as engine:
        await engine.register(FAN)
        eid = await engine.start("fanned", {})
        orchestrator = engine.orchestrator

        def dispatched() -> bool:
            """Split done and the branches dispatched, in the orchestrator's cache: what
            `_apply_execution` starts from. (The store shows the save before the live
            orchestrator, resumed after it, puts the new revision in its cache: polling the
            store, this test once ran on the revision before the branches.)"""
            cached = orchestrator.cache.get(eid)
            if cached is None or not cached.doc:
                return False
            state = ExecutionState.model_validate_json(cached.doc)
            return all(state.steps[b].attempt == 1 for b in BRANCHES)

        await until(dispatched, timeout=30)
        records = []
        for offset, branch in enumerate(BRANCHES):
            result = StepResult(
                execution_id=eid,
                command_id=command_id(eid, branch, 1),
                step_id=branch,
                attempt=1,
                ok=True,
                output={"branch": branch},
                worker_id="test",
            )
            value = encode(result)
            records.append(
                ConsumerRecord(
                    engine.topics.step_results,
                    0,
                    offset,
                    0,
                    0,
                    eid.encode(),
                    value,
                    None,
                    len(eid),
                    len(value),
                    (),
                )
            )
        passes = 0
        real_pass = orchestrator._apply_pass

        async def counted(*args: Any) -> Any:
            nonlocal passes
            passes += 1
            return await real_pass(*args)

        monkeypatch.setattr(orchestrator, "_apply_pass", counted)
        batch = Batch()
        await orchestrator._warm([eid], batch)
        items = [(record, orchestrator._decode(record)) for record in records]
        done = await orchestrator._apply_execution(eid, items, batch)

    assert passes == 2  # b2 raised in the first; the second started from the document
    assert done is not None and done.state is not None and done.doc is not None
    assert batch.refused == {id(records[1])}
    state = done.state
    assert state.status.value == "failed"
    assert state.error is not None and "the result of step b2 attempt 1" in state.error["message"]
    assert state.steps["b1"].status.value == "succeeded"  # applied before it, once
    assert state.steps["b1"].output == {"branch": "b1"}
    assert [e.step_id for e in state.history if e.type == "step.succeeded"] == ["split", "b1"]
    assert state.steps["b3"].status.value != "succeeded"  # came after the failure
    assert ExecutionState.model_validate_json(done.doc) == state  # the document is the state
    assert len(done.transitions) == 2  # b1's and the failure; b3's result changed nothing
