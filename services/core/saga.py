"""Compensation (saga): undo the succeeded steps of an execution that is about to fail.

A step may name a `compensate` function. When the execution would end `failed`, the
engine first runs the compensations of the SUCCEEDED steps that have one, in reverse order
of completion, one at a time; each gets `{input, output}` of its step. Every other step
still running is cancelled (child workflows too) and nothing new starts. A compensation is
retried per its step's retry strategy; one that still fails is recorded and the next runs.
Then the execution ends `failed` with the original error. Audit: `step.compensating`,
`step.compensated`, `step.compensation_failed` (with the step id of the compensated step).

Compensation attempts travel as ordinary step commands whose step id is
`<stepId>.compensate` (never a valid step id), so workers need nothing special.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from workflows.services.core import children, engine
from workflows.services.core.backoff import backoff_delay_ms
from workflows.services.core.extensions import Extension
from workflows.services.core.state import ExecutionState, ExecutionStatus, StepStatus

if TYPE_CHECKING:
    from workflows.services.core.compiled import CompiledWorkflow

__all__ = [
    "EXTENSION",
    "SUFFIX",
    "TIMER",
    "apply_compensation_result",
    "begin_compensation",
    "fire_compensation_retry",
    "is_compensation",
]

SUFFIX = ".compensate"
TIMER: engine.TimerKind = "compensate_retry"
_STOPPED = (StepStatus.RUNNING, StepStatus.WAITING_RETRY, StepStatus.WAITING, StepStatus.PENDING)


def is_compensation(step_id: str) -> bool:
    return step_id.endswith(SUFFIX)


def begin_compensation(active: engine.Run, error: dict[str, Any] | None) -> bool:
    """Called as the execution is about to fail: start compensating; False if none to run."""
    state, wf = active.state, active.wf
    if state.compensation is not None:
        return False  # compensations are done: let the execution fail
    done = [
        cs
        for cs in wf.steps
        if cs.step.compensate and state.steps[cs.id].status == StepStatus.SUCCEEDED
    ]
    if not done:
        return False
    started = state.created_at

    def completed_at(cs: Any) -> tuple[datetime, int]:
        return state.steps[cs.id].finished_at or started, cs.index

    order = [cs.id for cs in sorted(done, key=completed_at, reverse=True)]
    children.cancel_running(active, "the parent execution failed and is compensating")
    for run in state.steps.values():
        if run.status in _STOPPED:
            run.status = StepStatus.CANCELLED
    state.compensation = {
        "error": error,
        "queue": order,
        "current": None,
        "attempt": 0,
        "status": "running",
        "compensated": [],
        "failed": [],
    }
    _next(active)
    return True


def _next(active: engine.Run) -> None:
    comp = active.state.compensation
    assert comp is not None
    if not comp["queue"]:
        comp["current"] = None
        comp["status"] = "done"
        active.finish(ExecutionStatus.FAILED, comp["error"])
        return
    comp["current"] = comp["queue"].pop(0)
    comp["attempt"] = 0
    _dispatch(active)


def _dispatch(active: engine.Run) -> None:
    comp = active.state.compensation
    assert comp is not None
    step_id = comp["current"]
    cs = active.wf.step(step_id)
    run = active.state.steps[step_id]
    function = cs.step.compensate
    assert function is not None
    comp["attempt"] += 1
    comp["status"] = "running"
    payload = {"input": run.input, "output": run.output}
    active.emit("step.compensating", step_id, comp["attempt"], function=function, input=payload)
    active.out.dispatches.append(
        engine.DispatchStep(step_id + SUFFIX, function, payload, comp["attempt"], None, False)
    )


def apply_compensation_result(
    wf: CompiledWorkflow,
    state: ExecutionState,
    step_id: str,
    attempt: int,
    now: datetime,
    *,
    ok: bool,
    output: Any = None,
    error: dict[str, Any] | None = None,
) -> engine.Transition:
    comp = state.compensation
    base = step_id[: -len(SUFFIX)]
    if (
        state.terminal
        or comp is None
        or comp["current"] != base
        or comp["attempt"] != attempt
        or comp["status"] != "running"
    ):
        return engine.Transition(state, duplicate=True)
    active = engine.Run(wf, state, now, engine.SYSTEM_ACTOR)
    cs = wf.step(base)
    function = cs.step.compensate
    if ok:
        active.emit("step.compensated", base, attempt, function=function, output=output)
        comp["compensated"].append(base)
        _next(active)
        return active.result()
    error = error or {"type": "Error", "message": "unknown error"}
    retry = cs.retry
    if error.get("retryable", True) and attempt < retry.max_attempts:
        delay = backoff_delay_ms(
            retry.backoff, attempt, f"{state.execution_id}:{step_id}:{attempt}"
        )
        comp["status"] = "retrying"
        active.emit(
            "step.compensation_failed",
            base,
            attempt,
            function=function,
            error=error,
            willRetry=True,
            delayMs=delay,
        )
        due = now + timedelta(milliseconds=delay)
        active.out.timers.append(engine.SetTimer(TIMER, base, attempt, due))
        return active.result()
    active.emit(
        "step.compensation_failed", base, attempt, function=function, error=error, willRetry=False
    )
    comp["failed"].append(base)
    _next(active)
    return active.result()


def fire_compensation_retry(
    wf: CompiledWorkflow, state: ExecutionState, step_id: str, attempt: int, now: datetime
) -> engine.Transition:
    comp = state.compensation
    if (
        comp is None
        or comp["current"] != step_id
        or comp["attempt"] != attempt
        or comp["status"] != "retrying"
    ):
        return engine.Transition(state, duplicate=True)
    active = engine.Run(wf, state, now, engine.SYSTEM_ACTOR)
    _dispatch(active)
    return active.result()


def _before_finish(
    active: engine.Run, status: ExecutionStatus, error: dict[str, Any] | None
) -> bool:
    """A failing execution compensates first (the end is deferred until that is done)."""
    return status == ExecutionStatus.FAILED and begin_compensation(active, error)


def _fire(
    wf: CompiledWorkflow,
    state: ExecutionState,
    kind: str,
    step_id: str,
    attempt: int,
    now: datetime,
) -> engine.Transition:
    return fire_compensation_retry(wf, state, step_id, attempt, now)


EXTENSION = Extension(
    "saga",
    before_finish=_before_finish,
    timers={TIMER: _fire},
    owns_step=is_compensation,
    apply_result=apply_compensation_result,
)
