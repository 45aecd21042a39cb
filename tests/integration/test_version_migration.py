"""New versions and running executions (issue 17 item 10) on the real broker and Redis.

An execution of v1 waits mid-way (a `waitForEvent` step); v2 is registered through the
API with each `migration` policy; the registration response lists the plan, and the
orchestrator carries it out: finish-current keeps v1, cancel-and-restart cancels and starts
`<id>-v2`, resume-at-same-step moves the execution onto v2 at the waiting step."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.api import app_client
from tests.support.runtime import Engine, running_engine
from workflows.contracts import Actor
from workflows.functions import FunctionContext, FunctionRegistry
from workflows.services.core.state import ExecutionState
from workflows.services.infra.settings import Settings
from workflows.services.infra.waits import signal_message

pytestmark = pytest.mark.integration


def _registry(calls: list[str]) -> FunctionRegistry:
    reg = FunctionRegistry()

    def make(fn_name: str) -> None:
        def fn(data: Any, ctx: FunctionContext) -> dict[str, Any]:
            calls.append(fn_name)
            return {"by": fn_name}

        reg.register(fn, fn_name)

    for fn_name in ("fa", "fb", "fx", "fc"):
        make(fn_name)
    return reg


def _definition(name: str, ids: list[str], migration: str | None = None) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    for step_id in ids:
        if step_id == "hold":
            steps.append({"id": "hold", "function": "waitForEvent", "input": {"event": "go"}})
        else:
            steps.append({"id": step_id, "function": f"f{step_id}"})
    out: dict[str, Any] = {"name": name, "steps": steps}
    if migration is not None:
        out["migration"] = migration
    return out


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[tuple[Engine, httpx.AsyncClient, list[str]]]:
    calls: list[str] = []
    async with (
        running_engine(settings, _registry(calls)) as engine,
        app_client(settings, engine.redis) as api,
    ):
        yield engine, api, calls


async def _until(engine: Engine, eid: str, check: Any, timeout: float = 20) -> ExecutionState:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        state = await engine.state(eid)
        if state is not None and check(state):
            return state
        await asyncio.sleep(0.02)
    raise AssertionError(f"{eid}: condition not met: {await engine.state(eid)}")


async def _waiting_on_v1(
    engine: Engine, api: httpx.AsyncClient, name: str
) -> tuple[str, ExecutionState]:
    registered = await api.post("/workflows", json=_definition(name, ["a", "hold", "b"]))
    assert registered.status_code == 201, registered.text
    started = await api.post(f"/workflows/{name}/execute", json={"n": 1})
    assert started.status_code == 202, started.text
    eid = started.json()["executionId"]
    state = await _until(engine, eid, lambda s: s.steps["hold"].status.value == "waiting")
    return eid, state


async def _go(engine: Engine, eid: str) -> None:
    await engine.publish(
        engine.topics.control, signal_message(eid, "go", {}, actor=Actor(kind="api"))
    )


def _name() -> str:
    return f"mig{uuid.uuid4().hex[:8]}"


async def test_finish_current_keeps_the_version_it_started_with(
    stack: tuple[Engine, httpx.AsyncClient, list[str]],
) -> None:
    engine, api, calls = stack
    name = _name()
    eid, _ = await _waiting_on_v1(engine, api, name)
    v2 = await api.post("/workflows", json=_definition(name, ["a", "hold", "c"], "finish-current"))
    assert v2.status_code == 201, v2.text
    assert v2.json()["migrations"] == [
        {"executionId": eid, "fromVersion": 1, "toVersion": 2, "policy": "finish-current"}
    ]
    await _go(engine, eid)
    state = await engine.wait(eid)
    assert state.status.value == "completed" and state.workflow_version == 1
    assert calls == ["fa", "fb"] and state.migration is None


async def test_cancel_and_restart_starts_the_new_version_linking_both(
    stack: tuple[Engine, httpx.AsyncClient, list[str]],
) -> None:
    engine, api, calls = stack
    name = _name()
    eid, _ = await _waiting_on_v1(engine, api, name)
    definition = _definition(name, ["a", "hold", "c"], "cancel-and-restart")
    v2 = await api.post("/workflows", json=definition)
    assert v2.status_code == 201, v2.text
    new_id = f"{eid}-v2"
    assert v2.json()["migrations"] == [
        {
            "executionId": eid,
            "fromVersion": 1,
            "toVersion": 2,
            "policy": "cancel-and-restart",
            "restartedAs": new_id,
        }
    ]
    old = await engine.wait(eid)
    assert old.status.value == "cancelled"
    assert old.migration == {
        "from": 1,
        "to": 2,
        "policy": "cancel-and-restart",
        "restartedAs": new_id,
    }
    assert [e.data.get("restartedAs") for e in old.history if e.type == "execution.migrated"] == [
        new_id
    ]
    restarted = await _until(engine, new_id, lambda s: s.steps["hold"].status.value == "waiting")
    assert restarted.workflow_version == 2 and restarted.input == {"n": 1}
    assert restarted.migration is not None and restarted.migration["restartedFrom"] == eid
    await _go(engine, new_id)
    done = await engine.wait(new_id)
    assert done.status.value == "completed"
    assert calls == ["fa", "fa", "fc"]  # the restart runs from the start, on v2
    view = (await api.get(f"/executions/{new_id}")).json()
    assert view["migration"]["restartedFrom"] == eid and view["version"] == 2


async def test_resume_at_same_step_continues_on_the_new_version(
    stack: tuple[Engine, httpx.AsyncClient, list[str]],
) -> None:
    engine, api, calls = stack
    name = _name()
    eid, _ = await _waiting_on_v1(engine, api, name)
    definition = _definition(name, ["a", "hold", "x", "b"], "resume-at-same-step")
    v2 = await api.post("/workflows", json=definition)
    assert v2.status_code == 201, v2.text
    [plan] = v2.json()["migrations"]
    assert plan == {
        "executionId": eid,
        "fromVersion": 1,
        "toVersion": 2,
        "policy": "resume-at-same-step",
        "resumeAt": "hold",
        "kept": ["a"],
        "skipped": [],
        "dropped": [],
    }
    moved = await _until(engine, eid, lambda s: s.workflow_version == 2)
    assert moved.migration == {
        "from": 1,
        "to": 2,
        "policy": "resume-at-same-step",
        "resumeAt": "hold",
    }
    [entry] = [e for e in moved.history if e.type == "execution.migrated"]
    assert (entry.data["from"], entry.data["to"], entry.data["resumeAt"]) == (1, 2, "hold")
    await _go(engine, eid)
    state = await engine.wait(eid)
    assert state.status.value == "completed", state.error
    assert calls == ["fa", "fx", "fb"]  # a ran once, before; x is v2's
    assert state.steps["a"].output == {"by": "fa"} and state.steps["a"].attempt == 1
    view = (await api.get(f"/executions/{eid}")).json()
    assert view["version"] == 2 and view["migration"]["from"] == 1


async def test_resume_at_same_step_is_refused_when_step_ids_do_not_line_up(
    stack: tuple[Engine, httpx.AsyncClient, list[str]],
) -> None:
    engine, api, _ = stack
    name = _name()
    eid, _ = await _waiting_on_v1(engine, api, name)
    text = (
        f"name: {name}\n"
        "migration: resume-at-same-step\n"
        "steps:\n"
        "  - id: b\n    function: fb\n"
        "  - id: a\n    function: fa\n"
    )
    refused = await api.post(
        "/workflows", content=text, headers={"content-type": "application/yaml"}
    )
    assert refused.status_code == 422, refused.text
    [issue] = refused.json()["issues"]
    assert issue["path"] == "steps[0].id" and (issue["line"], issue["column"]) == (4, 9)
    assert "do not line up with version 1" in issue["message"]
    assert (await api.get(f"/workflows/{name}")).json()["version"] == 1  # nothing registered
    await _go(engine, eid)
    assert (await engine.wait(eid)).workflow_version == 1
