"""Waits, signals, child workflows and compensation over the real broker and Redis."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.support.runtime import Engine, running_engine
from workflows.contracts import Actor, CancelExecution, StartExecution, encode
from workflows.errors import FatalError
from workflows.functions import FunctionContext, FunctionRegistry
from workflows.services.infra.settings import Settings
from workflows.services.infra.waits import deliver_event_to_waits, signal_message

pytestmark = pytest.mark.integration


def registry(calls: list[str]) -> FunctionRegistry:
    reg = FunctionRegistry()

    def make(name: str, fail: bool = False) -> None:
        def fn(data: Any, ctx: FunctionContext) -> dict[str, Any]:
            calls.append(name)
            if fail:
                raise FatalError(f"{name} refused")
            return {"by": name, "got": data}

        reg.register(fn, name)

    for name in ("bookFlight", "bookHotel", "cancelFlight", "cancelHotel", "cancelCar", "f"):
        make(name)
    make("bookCar", fail=True)

    def double(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        calls.append("double")
        return {"x": data["n"] * 2}

    reg.register(double, "double")
    return reg


def name() -> str:
    return f"w{uuid.uuid4().hex[:8]}"


async def until(engine: Engine, execution_id: str, check: Any, timeout: float = 20) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        state = await engine.state(execution_id)
        if state is not None and check(state):
            return state
        await asyncio.sleep(0.02)
    raise AssertionError(f"{execution_id}: condition not met: {await engine.state(execution_id)}")


async def test_sleep_survives_an_orchestrator_restart(settings: Settings) -> None:
    calls: list[str] = []
    wf = name()
    definition = {
        "name": wf,
        "steps": [
            {"id": "nap", "function": "sleep", "input": {"duration": "1500ms"}},
            {"id": "after", "function": "f"},
        ],
    }
    async with running_engine(settings, registry(calls)) as engine:
        await engine.register(definition)
        eid = await engine.start(wf, {})
        state = await until(engine, eid, lambda s: s.steps["nap"].status.value == "waiting")
    # everything stopped while the step sleeps; the timer is durable in Redis
    await asyncio.sleep(0.5)
    async with running_engine(settings, registry(calls)) as engine:
        state = await engine.wait(eid, timeout=30)
    assert state.status.value == "completed", state.error
    slept = state.steps["nap"]
    assert slept.finished_at is not None and slept.started_at is not None
    assert (slept.finished_at - slept.started_at).total_seconds() >= 1.5
    assert calls == ["f"]


async def test_early_signals_are_buffered_until_the_wait_registers(settings: Settings) -> None:
    wf = name()
    definition = {
        "name": wf,
        "input": {"type": "object", "properties": {"orderId": {"type": "string"}}},
        "steps": [
            {"id": "nap", "function": "sleep", "input": {"duration": 800}},
            {
                "id": "paid",
                "function": "waitForEvent",
                "input": {
                    "event": "order.paid",
                    "correlation": "{{input.orderId}}",
                    "timeout": "30s",
                },
            },
            {"id": "confirmed", "function": "waitForEvent", "input": {"event": "manual.ok"}},
        ],
        "outputMapping": {"paid": "{{paid}}", "ok": "{{confirmed}}"},
    }
    order = uuid.uuid4().hex
    async with running_engine(settings, registry([])) as engine:
        await engine.register(definition)
        eid = await engine.start(wf, {"orderId": order})
        await until(engine, eid, lambda s: s.steps["nap"].status.value == "waiting")
        targets, buffered = await deliver_event_to_waits(
            engine.redis, engine.bus, settings, "order.paid", {"amount": 5}, order
        )
        assert (targets, buffered) == ([], True)  # nobody waits yet: buffered
        direct = signal_message(eid, "manual.ok", {"by": "ops"}, actor=Actor(kind="api"))
        await engine.publish(engine.topics.control, direct)  # early, straight to the execution
        state = await engine.wait(eid, timeout=30)
    assert state.status.value == "completed", state.error
    assert state.output == {"paid": {"amount": 5}, "ok": {"by": "ops"}}
    signalled = [e for e in state.history if e.type == "step.signalled"]
    assert [e.step_id for e in signalled] == ["paid", "confirmed"]


async def test_child_workflow_output_flows_to_the_parent(settings: Settings) -> None:
    calls: list[str] = []
    kid, parent = name(), name()
    async with running_engine(settings, registry(calls)) as engine:
        await engine.register(
            {"name": kid, "steps": [{"id": "d", "function": "double", "input": "{{input}}"}]}
        )
        await engine.register(
            {
                "name": parent,
                "steps": [
                    {"id": "child", "function": f"workflow:{kid}", "input": {"n": 21}},
                    {"id": "use", "function": "f", "input": {"x": "{{child.x}}"}},
                ],
            }
        )
        eid = await engine.start(parent, {})
        state = await engine.wait(eid)
        child = await engine.state(f"{eid}-child-1")
    assert state.status.value == "completed", state.error
    assert state.steps["child"].output == {"x": 42}
    assert state.output == {"by": "f", "got": {"x": 42}}
    assert child is not None and child.parent == {
        "executionId": eid,
        "stepId": "child",
        "attempt": 1,
    }


async def test_a_child_workflow_joins_the_parents_trace(settings: Settings) -> None:
    """The parent's W3C trace context (its start record's traceparent) goes on the child's
    start record, so the child's step commands carry the same trace."""
    kid, parent = name(), name()
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with running_engine(settings, registry([])) as engine:
        await engine.register(
            {"name": kid, "steps": [{"id": "d", "function": "double", "input": "{{input}}"}]}
        )
        await engine.register(
            {
                "name": parent,
                "steps": [{"id": "child", "function": f"workflow:{kid}", "input": {"n": 1}}],
            }
        )
        eid = uuid.uuid4().hex
        start = StartExecution(execution_id=eid, workflow=parent, input={}, actor=Actor(kind="api"))
        trace = {"traceparent": traceparent}
        await engine.bus.publish(engine.topics.start, encode(start), eid, trace)
        await engine.bus.flush()
        state = await engine.wait(eid)
        child = await engine.state(f"{eid}-child-1")
    assert state.status.value == "completed", state.error
    assert state.trace_context == {"traceparent": traceparent}
    assert child is not None and child.trace_context == {"traceparent": traceparent}


async def test_unknown_child_workflow_fails_the_parent_step(settings: Settings) -> None:
    parent = name()
    async with running_engine(settings, registry([])) as engine:
        await engine.register({"name": parent, "steps": [{"id": "c", "function": "workflow:nope"}]})
        state = await engine.wait(await engine.start(parent, {}))
    assert state.status.value == "failed"
    assert state.error is not None and state.error["type"] == "ChildWorkflowFailed"


async def test_cancelling_the_parent_cancels_the_child(settings: Settings) -> None:
    kid, parent = name(), name()
    async with running_engine(settings, registry([])) as engine:
        await engine.register(
            {
                "name": kid,
                "steps": [{"id": "w", "function": "waitForEvent", "input": {"event": "never"}}],
            }
        )
        await engine.register(
            {"name": parent, "steps": [{"id": "c", "function": f"workflow:{kid}"}]}
        )
        eid = await engine.start(parent, {})
        child_id = f"{eid}-c-1"
        await until(engine, child_id, lambda s: s.steps["w"].status.value == "waiting")
        await engine.publish(
            engine.topics.control,
            CancelExecution(execution_id=eid, reason="no longer needed", actor=Actor(kind="api")),
        )
        state = await engine.wait(eid)
        child = await engine.wait(child_id)
    assert state.status.value == "cancelled"
    assert child.status.value == "cancelled"
    assert child.error is not None and "parent" in child.error["message"]


async def test_saga_compensates_in_reverse_order(settings: Settings) -> None:
    calls: list[str] = []
    wf = name()
    async with running_engine(settings, registry(calls)) as engine:
        await engine.register(
            {
                "name": wf,
                "steps": [
                    {"id": "flight", "function": "bookFlight", "compensate": "cancelFlight"},
                    {"id": "hotel", "function": "bookHotel", "compensate": "cancelHotel"},
                    {"id": "car", "function": "bookCar", "compensate": "cancelCar"},
                ],
            }
        )
        state = await engine.wait(await engine.start(wf, {}))
    assert state.status.value == "failed"
    assert state.error is not None and state.error["stepId"] == "car"
    assert calls == ["bookFlight", "bookHotel", "bookCar", "cancelHotel", "cancelFlight"]
    trail = [(e.type, e.step_id) for e in state.history if e.type.startswith("step.compens")]
    assert trail == [
        ("step.compensating", "hotel"),
        ("step.compensated", "hotel"),
        ("step.compensating", "flight"),
        ("step.compensated", "flight"),
    ]
    compensated = [e for e in state.history if e.type == "step.compensated"]
    assert compensated[0].data["output"]["got"]["output"]["by"] == "bookHotel"
    assert state.history[-1].type == "execution.failed"
