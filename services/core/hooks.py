"""The engine's extension points: built-in waits, child workflows and compensation.

`services.core.engine` calls these from a few places; the logic lives in `waits`,
`children` and `saga`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from services.core import children, engine, saga, waits
from services.core.state import ExecutionState, ExecutionStatus, StepRun

if TYPE_CHECKING:
    from services.core.compiled import CompiledStep, CompiledWorkflow

__all__ = [
    "TIMER_KINDS",
    "apply_compensation_result",
    "before_finish",
    "fire_timer",
    "is_compensation",
    "on_dispatch",
]

# literal, not computed: the modules below may still be importing (they import the engine)
TIMER_KINDS = frozenset({"sleep", "wait_timeout", "wait_escalate", "compensate_retry"})


def is_compensation(step_id: str) -> bool:
    return saga.is_compensation(step_id)


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
    return saga.apply_compensation_result(
        wf, state, step_id, attempt, now, ok=ok, output=output, error=error
    )


def on_dispatch(active: engine._Run, cs: CompiledStep, run: StepRun, rendered: Any) -> bool:
    """True when the attempt was handled here (a built-in wait, or refused) and not dispatched."""
    if waits.begin_wait(active, cs, run, rendered):
        return True
    return children.check_child_input(active, cs, run, rendered)


def before_finish(
    active: engine._Run, status: ExecutionStatus, error: dict[str, Any] | None
) -> bool:
    """True when finishing is deferred (compensations run first)."""
    if status == ExecutionStatus.FAILED and saga.begin_compensation(active, error):
        return True
    children.cancel_running(active, f"the parent execution {status.value}")
    return False


def fire_timer(
    wf: CompiledWorkflow,
    state: ExecutionState,
    kind: str,
    step_id: str,
    attempt: int,
    now: datetime,
) -> engine.Transition:
    if kind == saga.TIMER:
        return saga.fire_compensation_retry(wf, state, step_id, attempt, now)
    return waits.fire_wait_timer(wf, state, kind, step_id, attempt, now)
