"""The engine's extension points, and the extensions a compiled workflow carries.

The engine (`workflows.services.core.engine`) knows steps, retries, fallbacks, routing and
loops. What else a step can be (a durable wait, a child workflow) and what else a failure can do
(compensation) is an `Extension`: a record of optional handlers the engine calls at fixed
points, without importing the modules that define them. temporalio's worker interceptors are
the model: the core stays closed, the extensions register.

    compile_workflow (workflows.services.core.validation)
        └── CompiledWorkflow.extensions = BUILTIN (workflows.services.core.builtin_extensions)
              ├── saga      before_finish · results of compensation steps · compensate_retry
              ├── waits     on_dispatch · sleep / wait_timeout / wait_escalate timers
              └── children  on_dispatch · before_finish
    engine.Run ──calls──▶ wf.extensions, in order

Imports point one way: the extensions import the engine (`engine.Run`, which they receive),
the engine imports only this module and `workflows.services.core.effects`.

The points, in the order the engine consults the extensions:

- `on_dispatch(run, cs, step_run, rendered_input) -> bool`: a step attempt is about to be
  dispatched; True when the extension handled it (a built-in wait began, a child's input was
  refused) and no command goes out. The first True wins.
- `before_finish(run, status, error) -> bool`: the execution is about to end with `status`;
  True defers the end (compensations run first). The first True wins; the extensions before
  it still ran theirs.
- `timers`: timer kind -> `fire(wf, state, kind, step_id, attempt, now) -> Transition`, for
  the kinds of timer the extension sets.
- `owns_step(step_id) -> bool` with `apply_result(wf, state, step_id, attempt, now, *, ok,
  output, error) -> Transition`: step results for steps the definition does not have (a
  compensation `<id>.compensate`).

The run object, the compiled workflow and the compiled step are typed `Any` here (this
module sits below the engine and `workflows.services.core.compiled`, which holds the
extensions); each handler is typed with `engine.Run`, `CompiledWorkflow` and `CompiledStep` where
it is defined.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from workflows.services.core.effects import Transition
from workflows.services.core.state import ExecutionState, ExecutionStatus, StepRun

__all__ = ["Extension", "ResultHandler", "TimerHandler"]


class TimerHandler(Protocol):
    def __call__(
        self,
        wf: Any,
        state: ExecutionState,
        kind: str,
        step_id: str,
        attempt: int,
        now: datetime,
    ) -> Transition: ...


class ResultHandler(Protocol):
    def __call__(
        self,
        wf: Any,
        state: ExecutionState,
        step_id: str,
        attempt: int,
        now: datetime,
        *,
        ok: bool,
        output: Any = None,
        error: dict[str, Any] | None = None,
    ) -> Transition: ...


@dataclass(frozen=True, slots=True)
class Extension:
    """One extension's handlers (all optional); see the module docstring for when each runs."""

    name: str
    on_dispatch: Callable[[Any, Any, StepRun, Any], bool] | None = None
    before_finish: Callable[[Any, ExecutionStatus, dict[str, Any] | None], bool] | None = None
    timers: Mapping[str, TimerHandler] = field(default_factory=dict)
    owns_step: Callable[[str], bool] | None = None
    apply_result: ResultHandler | None = None
