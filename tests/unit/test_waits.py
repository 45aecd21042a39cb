"""Built-in waits in the pure core: sleep, waitForEvent, approval, signals, timeouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflows.services.core.engine import (
    apply_step_result,
    cancel_execution,
    fire_timer,
    start_execution,
)
from workflows.services.core.issues import DefinitionError
from workflows.services.core.simulate import simulate
from workflows.services.core.state import ExecutionStatus, StepStatus
from workflows.services.core.validation import compile_workflow
from workflows.services.core.waits import (
    BufferSignal,
    RegisterWait,
    deliver_signal,
    parse_duration_ms,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def wf(steps: list[dict[str, Any]]) -> Any:
    return compile_workflow({"name": "w", "steps": steps})


def signal(w: Any, state: Any, name: str, payload: Any, sid: str, ms: int = 5, **kw: Any) -> Any:
    return deliver_signal(w, state, at(ms), name=name, payload=payload, signal_id=sid, **kw)


APPROVAL_WF = [
    {"id": "ask", "function": "prepare"},
    {
        "id": "approve",
        "function": "waitForEvent",
        "input": {"event": "approval.decided", "correlation": "{{execution.id}}", "timeout": "1h"},
        "onTimeout": "escalate",
    },
    {"id": "fulfil", "function": "fulfil", "input": {"decision": "{{approve}}"}},
    {"id": "escalate", "function": "notifyTimeout"},
]


@pytest.mark.parametrize(
    ("text", "ms"),
    [(500, 500), ("500", 500), ("250ms", 250), ("5s", 5000), ("2m", 120_000), ("1h30m", 5_400_000)],
)
def test_durations(text: Any, ms: int) -> None:
    assert parse_duration_ms(text, "d") == ms


def test_sleep_waits_on_a_durable_timer_then_succeeds() -> None:
    w = wf(
        [
            {"id": "nap", "function": "sleep", "input": {"duration": "5s"}},
            {"id": "b", "function": "f"},
        ]
    )
    t = start_execution(w, "e1", {}, T0)
    assert t.dispatches == [] and t.state.steps["nap"].status == StepStatus.WAITING
    assert [(x.kind, x.due_at) for x in t.timers] == [("sleep", at(5000))]
    assert "execution.waiting" in [e.type for e in t.events]
    t = fire_timer(w, t.state, "sleep", "nap", 1, at(5000))
    assert t.state.steps["nap"].status == StepStatus.SUCCEEDED
    assert [d.step_id for d in t.dispatches] == ["b"]
    assert fire_timer(w, t.state, "sleep", "nap", 1, at(5001)).duplicate


def test_sleep_until_and_bad_input() -> None:
    w = wf([{"id": "nap", "function": "sleep", "input": {"until": "2026-01-02T00:00:00Z"}}])
    t = start_execution(w, "e1", {}, T0)
    assert t.timers[0].due_at == datetime(2026, 1, 2, tzinfo=UTC)
    # a literal is refused at validation (steps[0].input.duration); a rendered one at run time
    bad = wf([{"id": "nap", "function": "sleep", "input": {"duration": "{{input.nap}}"}}])
    t = start_execution(bad, "e1", {"nap": "soon"}, T0)
    assert t.state.status == ExecutionStatus.FAILED
    assert t.state.error is not None and t.state.error["type"] == "InvalidWaitInput"


def test_wait_for_event_registers_and_completes_with_the_payload() -> None:
    w = wf(APPROVAL_WF)
    t = start_execution(w, "e1", {}, T0)
    t = apply_step_result(w, t.state, "ask", 1, at(1), ok=True, output={})
    state = t.state
    assert state.steps["approve"].status == StepStatus.WAITING
    assert t.effects == [RegisterWait("approve", ("approval.decided",), "e1")]
    assert [(x.kind, x.due_at) for x in t.timers] == [("wait_timeout", at(1 + 3_600_000))]
    # another correlation does not match: buffered for a later wait
    t = signal(w, state, "approval.decided", {"ok": True}, "s0", correlation="other")
    assert isinstance(t.effects[0], BufferSignal) and not t.duplicate
    t = signal(w, state, "approval.decided", {"approved": True}, "s1", correlation="e1")
    assert state.steps["approve"].output == {"approved": True}
    assert [d.step_id for d in t.dispatches] == ["fulfil"]
    assert t.dispatches[0].input == {"decision": {"approved": True}}
    assert state.steps["escalate"].status == StepStatus.SKIPPED  # the timeout branch
    assert signal(w, state, "approval.decided", {}, "s1").duplicate  # same signal id
    t = apply_step_result(w, state, "fulfil", 1, at(9), ok=True, output={"done": 1})
    assert state.status == ExecutionStatus.COMPLETED
    assert fire_timer(w, state, "wait_timeout", "approve", 1, at(3_600_001)).duplicate


def test_wait_timeout_takes_the_on_timeout_path() -> None:
    w = wf(APPROVAL_WF)
    t = start_execution(w, "e1", {}, T0)
    t = apply_step_result(w, t.state, "ask", 1, at(1), ok=True, output={})
    t = fire_timer(w, t.state, "wait_timeout", "approve", 1, at(3_600_001))
    state = t.state
    assert state.steps["approve"].output == {"timedOut": True}
    assert state.steps["fulfil"].status == StepStatus.SKIPPED
    assert [d.step_id for d in t.dispatches] == ["escalate"]
    assert "step.timed_out" in [e.type for e in t.events]


@pytest.mark.parametrize(("target", "status"), [("fail", "failed"), ("continue", "completed")])
def test_on_timeout_fail_and_continue(target: str, status: str) -> None:
    w = wf(
        [
            {
                "id": "w",
                "function": "waitForEvent",
                "input": {"event": "x", "timeout": 10},
                "onTimeout": target,
            }
        ]
    )
    t = start_execution(w, "e1", {}, T0)
    t = fire_timer(w, t.state, "wait_timeout", "w", 1, at(10))
    assert t.state.status == status
    if target == "fail":
        assert t.state.error is not None and t.state.error["type"] == "WaitTimeout"


def test_wait_for_all_events_and_buffered_early_signal() -> None:
    w = wf(
        [
            {"id": "a", "function": "f"},
            {"id": "w", "function": "waitForEvent", "input": {"event": ["x", "y"], "mode": "all"}},
        ]
    )
    state = start_execution(w, "e1", {}, T0).state
    early = signal(w, state, "y", {"y": 1}, "s-y")  # the step does not wait yet
    assert isinstance(early.effects[0], BufferSignal)
    assert early.effects[0].signal["signalId"] == "s-y"
    apply_step_result(w, state, "a", 1, at(2), ok=True, output={})
    signal(w, state, "x", {"x": 1}, "s-x")
    assert state.steps["w"].status == StepStatus.WAITING
    signal(w, state, "y", {"y": 1}, "s-y")  # the buffered one, delivered again
    assert state.status == ExecutionStatus.COMPLETED
    assert state.output == [{"x": 1}, {"y": 1}]


def approval_wf(quorum: str, **extra: Any) -> Any:
    step = {
        "id": "approve",
        "function": "approval",
        "input": {"approvers": ["ann", "bob", "cid"], "quorum": quorum, "deadline": "2d", **extra},
    }
    return wf([step, {"id": "after", "function": "f"}])


def decide(w: Any, state: Any, who: str, decision: str, n: int) -> Any:
    payload = {"approver": who, "decision": decision, "comment": f"{who} says {decision}"}
    return signal(
        w, state, "approval", payload, f"d{n}", step_id="approve", actor={"kind": "user", "id": who}
    )


@pytest.mark.parametrize(
    ("quorum", "votes", "approved"),
    [
        ("any", ["approve"], True),
        ("majority", ["approve", "reject", "approve"], True),
        ("majority", ["reject", "reject"], False),
        ("unanimous", ["approve", "reject"], False),
        ("unanimous", ["approve", "approve", "approve"], True),
    ],
)
def test_approval_quorum(quorum: str, votes: list[str], approved: bool) -> None:
    w = approval_wf(quorum)
    state = start_execution(w, "e1", {}, T0).state
    for n, (who, vote) in enumerate(zip(["ann", "bob", "cid"], votes, strict=False)):
        assert state.steps["approve"].status == StepStatus.WAITING
        decide(w, state, who, vote, n)
    run = state.steps["approve"]
    assert run.status == StepStatus.SUCCEEDED
    assert run.output["approved"] is approved and len(run.output["decisions"]) == len(votes)
    entries = [e for e in state.history if e.type == "step.approval"]
    assert entries[0].actor == {"kind": "user", "id": "ann"}
    assert entries[0].data["comment"] == f"ann says {votes[0]}"


def test_approval_refuses_strangers_and_second_votes() -> None:
    w = approval_wf("unanimous")
    state = start_execution(w, "e1", {}, T0).state
    assert decide(w, state, "eve", "approve", 1).duplicate
    assert not decide(w, state, "ann", "approve", 2).duplicate
    assert decide(w, state, "ann", "reject", 3).duplicate


def test_approval_deadline_escalates_then_times_out() -> None:
    w = approval_wf("any", escalateTo=["boss"])
    t = start_execution(w, "e1", {}, T0)
    assert [x.kind for x in t.timers] == ["wait_escalate"]
    state = t.state
    assert decide(w, state, "boss", "approve", 1).duplicate  # not yet an approver
    t = fire_timer(w, state, "wait_escalate", "approve", 1, at(172_800_000))
    assert [x.kind for x in t.timers] == ["wait_timeout"]
    assert "step.escalated" in [e.type for e in t.events]
    t = fire_timer(w, state, "wait_timeout", "approve", 1, at(345_600_000))
    assert state.status == ExecutionStatus.FAILED  # onTimeout defaults to fail
    state = start_execution(w, "e2", {}, T0).state
    fire_timer(w, state, "wait_escalate", "approve", 1, at(172_800_000))
    decide(w, state, "boss", "approve", 2)
    assert state.steps["approve"].output["approved"] is True


def test_cancel_ends_a_waiting_step() -> None:
    w = wf([{"id": "w", "function": "waitForEvent", "input": {"event": "x"}}])
    state = start_execution(w, "e1", {}, T0).state
    cancel_execution(w, state, at(3))
    assert state.steps["w"].status == StepStatus.CANCELLED


def test_validation_of_on_timeout() -> None:
    with pytest.raises(DefinitionError) as info:
        wf(
            [
                {"id": "a", "function": "f", "onTimeout": "fail"},
                {"id": "w", "function": "waitForEvent", "input": {"event": "x"}, "onTimeout": "a"},
                {"id": "v", "function": "waitForEvent", "input": {"event": "x"}, "onTimeout": "zz"},
            ]
        )
    text = str(info.value)
    assert (
        "steps[0].onTimeout" in text and "must come after" in text and "unknown step 'zz'" in text
    )


def test_simulate_with_waits() -> None:
    w = wf(APPROVAL_WF)
    done = simulate(w, {}, mocks={"approve": {"approved": True}, "fulfil": {"ok": 1}})
    assert done.state.status == ExecutionStatus.COMPLETED
    assert done.path()["escalate"] == "skipped"
    timed_out = simulate(w, {}, mocks={"escalate": {"sent": True}})
    assert timed_out.path() == {
        "ask": "succeeded",
        "approve": "succeeded",
        "fulfil": "skipped",
        "escalate": "succeeded",
    }
    approval = approval_wf("majority")
    votes = [{"approver": "ann", "decision": "approve"}, {"approver": "bob", "decision": "approve"}]
    result = simulate(approval, {}, mocks={"approve": votes})
    assert result.state.steps["approve"].output["approved"] is True
    napping = wf([{"id": "nap", "function": "sleep", "input": {"duration": "1d"}}])
    slept = simulate(napping, {})
    assert slept.state.status == ExecutionStatus.COMPLETED
    assert slept.state.finished_at == T0 + timedelta(days=1)
