"""State transitions of an execution: pure functions (state, message, now) -> state + effects.

The orchestrator and `workflows simulate` both run these. Each function mutates the
`ExecutionState` it is given (callers load a fresh copy per message) and returns a
`Transition` listing what must happen next: steps to dispatch, durable timers to set,
lifecycle events to publish. A message that does not apply (a duplicate result, a stale
timer) gives `Transition.duplicate = True` and changes nothing.
"""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta
from typing import Any

from workflows.services.core import loops
from workflows.services.core.backoff import backoff_delay_ms
from workflows.services.core.compiled import CompiledStep, CompiledWorkflow
from workflows.services.core.definition import RetryStrategy
from workflows.services.core.effects import (
    SYSTEM_ACTOR,
    DispatchStep,
    SetTimer,
    TimerKind,
    Transition,
)
from workflows.services.core.errors import CoreError
from workflows.services.core.expressions import ExpressionError, to_json_value, truthy, typeof
from workflows.services.core.for_each import MAX_ITEMS, for_each_payload
from workflows.services.core.kpis import evaluate_kpis, take_reported
from workflows.services.core.redaction import mask_input, redact, secret_values
from workflows.services.core.routing import options, reachable
from workflows.services.core.state import (
    DONE_STEP,
    AuditEntry,
    ExecutionState,
    ExecutionStatus,
    StepRun,
    StepStatus,
)
from workflows.services.core.step_cache import cache_envelope, cache_key_text
from workflows.services.core.templates import parse_condition

__all__ = [
    "SYSTEM_ACTOR",
    "DispatchStep",
    "Run",
    "SetTimer",
    "TimerKind",
    "Transition",
    "apply_step_result",
    "cancel_execution",
    "catch_target",
    "fire_timer",
    "pause_execution",
    "resume_execution",
    "retries",
    "retry_execution",
    "start_execution",
]


def _matches(types: tuple[str, ...], type_: str) -> bool:
    return "*" in types or type_ in types


def retries(retry: RetryStrategy, error: dict[str, Any]) -> bool:
    """Whether `error` may be retried (attempts aside): `retryable` not false, its `type` not in
    `nonRetryable`, and listed in `retryOn` when that is given."""
    type_ = str(error.get("type", "Error"))
    if not error.get("retryable", True) or _matches(retry.non_retryable, type_):
        return False
    return not retry.retry_on or _matches(retry.retry_on, type_)


def catch_target(cs: CompiledStep, error: dict[str, Any]) -> str | None:
    """The `next` of the first `catch` entry whose `errors` match the error's type, else
    `onFailure`."""
    type_ = str(error.get("type", "Error"))
    for entry in cs.step.catch:
        if _matches(entry.errors, type_):
            return entry.next
    return cs.step.on_failure  # onFailure: a catch of any type


class ForEachError(CoreError, ValueError):
    """A forEach template that does not yield a list of at most MAX_ITEMS items."""


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


def _with_call(call: dict[str, Any] | None) -> dict[str, Any]:
    """Audit data for what a step attempt called (StepResult.call), when it says."""
    return {"call": call} if call else {}


class Run:
    """One transition in progress: the workflow, the state, the clock and the effects.

    The run object the extensions receive (`workflows.services.core.extensions`): they read `wf`,
    `state`, `now` and `out` (the `Transition` being built), record with `emit`, `touch`
    and `out`, and move the execution on with `advance`, `dispatch`, `skip`, `fail_step`
    and `finish`. The public transitions below each make one."""

    def __init__(
        self,
        wf: CompiledWorkflow,
        state: ExecutionState,
        now: datetime,
        actor: dict[str, Any] | None = None,
    ) -> None:
        self.wf = wf
        self.state = state
        self.now = now
        self.out = Transition(state)
        self.actor = actor  # who caused this transition: the default actor of its entries
        self.secrets = secret_values(wf.definition.input, state.input)
        # (step id, attempt, worker id) of the result being applied: its entries name the worker
        self.worker: tuple[str, int, str] | None = None
        self.touched: set[str] = set()  # steps that finished or came due since the last advance
        self.advancing = False
        self._context: dict[str, Any] | None = None  # dropped whenever a step succeeds

    def emit(
        self,
        type_: str,
        step_id: str | None = None,
        attempt: int | None = None,
        actor: dict[str, Any] | None = None,
        **data: Any,
    ) -> None:
        if self.worker is not None and (step_id, attempt) == self.worker[:2]:
            data = {**data, "workerId": self.worker[2]}
        entry = AuditEntry(
            seq=len(self.state.history) + 1,
            at=self.now,
            type=type_,
            step_id=step_id,
            attempt=attempt,
            actor=actor or self.actor,
            data=redact(data, self.secrets),
        )
        self.state.history.append(entry)
        self.out.events.append(entry)

    def forget_context(self) -> None:
        """Step outputs changed: build the template context again when next needed."""
        self._context = None

    def touch(self, step_id: str) -> None:
        """`step_id` finished (succeeded or skipped) or its retry came due: advance looks at it."""
        self.touched.add(step_id)

    def context(self) -> dict[str, Any]:
        """The template context (input, execution, succeeded outputs); read it, never change it."""
        if self._context is not None:
            return self._context
        steps: dict[str, Any] = {}
        for step_id, run in self.state.steps.items():
            if run.status == StepStatus.SUCCEEDED:
                steps[step_id] = run.output
            elif run.status == StepStatus.CAUGHT:
                steps[step_id] = {"error": run.error}
            elif run.iteration and run.output is not None:  # a loop: the previous pass
                steps[step_id] = run.output
        started_by = self.state.actor or {"kind": "api"}
        ctx: dict[str, Any] = {
            **steps,
            "input": self.state.input,
            "execution": {
                "id": self.state.execution_id,
                "workflow": self.state.workflow,
                "version": self.state.workflow_version,
                "startedAt": self.state.created_at.isoformat(),
            },
            "trigger": {
                "kind": started_by.get("kind"),
                "id": started_by.get("id"),
                **(self.state.trigger or {}),  # {event: ...} or {schedule: ...}
            },
            "now": self.now.isoformat(),
            "steps": steps,
        }
        self._context = ctx
        return ctx

    # -- dispatching -------------------------------------------------------------------
    def dispatch(self, cs: CompiledStep, run: StepRun) -> None:
        if cs.step.switch is not None:
            self.run_switch(cs, run)
            return
        try:
            if cs.for_each is not None:
                rendered = self.render_for_each(cs)
            else:
                rendered = to_json_value(cs.input.render(self.context()))
        except ExpressionError as exc:
            self.fail_step(cs, run, "TemplateError", f"steps[{cs.index}].input: {exc}")
            return
        except ForEachError as exc:
            self.fail_step(cs, run, "ForEachError", str(exc))
            return
        command_input = rendered  # what the dispatcher gets: the input, or a cache envelope
        if cs.cache_key is not None and cs.step.cache is not None and not run.fallback:
            try:
                key = cache_key_text(cs.cache_key.render(self.context()))
            except ExpressionError as exc:
                self.fail_step(cs, run, "TemplateError", f"steps[{cs.index}].cache.key: {exc}")
                return
            if key is not None:
                ttl = cs.step.cache.ttl
                command_input = cache_envelope(f"{cs.function}:{key}", ttl, rendered)
        run.attempt += 1
        run.status = StepStatus.RUNNING
        run.retry_due = False
        run.next_retry_at = None
        run.function = (
            cs.fallback_function if run.fallback and cs.fallback_function else cs.function
        )
        run.input = rendered
        run.started_at = run.started_at or self.now
        run.attempt_started_at = self.now
        deadline = self.now + timedelta(milliseconds=cs.timeout_ms) if cs.timeout_ms else None
        looped: dict[str, Any] = {"iteration": run.iteration} if run.iteration else {}
        self.emit(
            "step.started", cs.id, run.attempt, function=run.function, input=rendered, **looped
        )
        for extension in self.wf.extensions:  # built-in waits, child input checks
            if extension.on_dispatch is not None and extension.on_dispatch(self, cs, run, rendered):
                return
        self.out.dispatches.append(
            DispatchStep(cs.id, run.function, command_input, run.attempt, deadline, run.fallback)
        )
        if deadline is not None:
            self.out.timers.append(SetTimer("timeout", cs.id, run.attempt, deadline))

    def render_for_each(self, cs: CompiledStep) -> dict[str, Any]:
        """The map payload: every item's input, rendered with `item` and `index`."""
        assert cs.for_each is not None
        context = self.context()
        try:
            items = cs.for_each.evaluate(context)
        except ExpressionError as exc:
            raise ForEachError(f"steps[{cs.index}].forEach: {exc}") from None
        if not isinstance(items, list):
            raise ForEachError(f"steps[{cs.index}].forEach must yield a list, got {typeof(items)}")
        if len(items) > MAX_ITEMS:
            raise ForEachError(
                f"steps[{cs.index}].forEach yielded {len(items)} items; at most {MAX_ITEMS}"
            )
        scope = dict(context)
        inputs = []
        for index, item in enumerate(items):
            scope["item"], scope["index"] = item, index
            inputs.append(to_json_value(cs.input.render(scope)))
        return for_each_payload(inputs, cs.step, cs.retry)

    def advance(self, everything: bool = False) -> None:
        """Dispatch every step whose dependencies are done; skip those whose condition is false.

        Looks only at the steps touched since the last call and their dependents (the
        compiled `links.dependents` index), in the order the former full scan in definition
        order met them: a step unblocked after the current position in the same pass, one
        at or before it in the next pass. `everything` (a start, a resume; also a call made
        while advancing, e.g. from a wait that ends at dispatch) examines every step.
        """
        state = self.state
        touched, self.touched = self.touched, set()
        if state.status != ExecutionStatus.RUNNING or state.paused:
            return
        steps = self.wf.steps
        todo: dict[int, str | None]
        if everything or self.advancing:
            todo = dict.fromkeys(range(len(steps)))
        else:
            todo = dict(self._woken(touched).items())
        self.advancing, nested = True, self.advancing
        try:
            while todo and state.status == ExecutionStatus.RUNNING:
                queue, hints, todo = sorted(todo), todo, {}
                queued = set(queue)
                while queue:
                    if state.status != ExecutionStatus.RUNNING:
                        return
                    position = heapq.heappop(queue)
                    self._examine(steps[position], hints.get(position))
                    for index, after in self._woken(self.touched).items():
                        if index <= position:
                            todo[index] = after
                        elif index not in queued:
                            heapq.heappush(queue, index)
                            queued.add(index)
                            hints[index] = after
                    self.touched.clear()
        finally:
            self.advancing = nested
        if state.status == ExecutionStatus.RUNNING:
            self._complete_if_done()

    def _woken(self, touched: set[str]) -> dict[int, str]:
        """The steps a change to `touched` may unblock (theirs: a due retry; dependents'),
        each with the touched dependency its readiness check starts after."""
        by_id, dependents = self.wf.by_id, self.wf.links.dependents
        out: dict[int, str] = {}
        for step_id in touched:
            if step_id in by_id:
                out[by_id[step_id].index] = step_id
                for index in dependents.get(step_id, ()):
                    out[index] = step_id
        return out

    def _ready(self, cs: CompiledStep, after: str | None) -> bool:
        """Every dependency done. Starts after `after`: in a fan-in the next one is the likely
        laggard, so applying N results checks O(N) dependencies in all, not O(N²)."""
        deps, steps = cs.depends_on, self.state.steps
        start = self.wf.links.slot.get((cs.index, after), -1) + 1 if after is not None else 0
        for position in range(start, start + len(deps)):
            if steps[deps[position % len(deps)]].status not in DONE_STEP:
                return False
        return True

    def _examine(self, cs: CompiledStep, after: str | None = None) -> None:
        """Dispatch `cs` when its retry is due, or when it is pending and its dependencies done."""
        state = self.state
        run = state.steps[cs.id]
        if run.status == StepStatus.WAITING_RETRY and run.retry_due:
            self.dispatch(cs, run)
            return
        if run.status != StepStatus.PENDING or not self._ready(cs, after):
            return
        catchers = self.wf.links.catchers.get(cs.id)
        if catchers and all(state.steps[c].status != StepStatus.CAUGHT for c in catchers):
            self.skip(cs, f"a catch step: no error of {', '.join(catchers)} to handle")
            return
        if cs.condition is not None and not self.condition_holds(cs, run):
            return
        if state.status == ExecutionStatus.RUNNING:
            self.dispatch(cs, run)

    def _complete_if_done(self) -> None:
        steps = self.state.steps
        if any(steps[sink].status not in DONE_STEP for sink in self.wf.links.sinks):
            return  # the cheap answer on most results; the full check below is exact
        if all(run.status in DONE_STEP for run in steps.values()):
            self.complete()

    def condition_holds(self, cs: CompiledStep, run: StepRun) -> bool:
        assert cs.condition is not None
        try:
            value = cs.condition.evaluate(self.context())
        except ExpressionError as exc:
            self.fail_step(cs, run, "ConditionError", f"steps[{cs.index}].condition: {exc}")
            return True
        run.condition_value = to_json_value(value)
        if truthy(value):
            return True
        run.status = StepStatus.SKIPPED
        run.finished_at = self.now
        self.touch(cs.id)
        self.emit("step.skipped", cs.id, condition=cs.step.condition, value=run.condition_value)
        return False

    # -- outcomes ------------------------------------------------------------------------
    def succeed_step(
        self, cs: CompiledStep, run: StepRun, output: Any, call: dict[str, Any] | None = None
    ) -> None:
        output = take_reported(run, output)
        run.status = StepStatus.SUCCEEDED
        run.output = output
        run.error = None
        run.finished_at = self.now
        self._context = None
        self.touch(cs.id)
        took = _ms(self.now - (run.attempt_started_at or self.now))
        self.emit(
            "step.succeeded",
            cs.id,
            run.attempt,
            function=run.function,
            output=output,
            durationMs=took,
            fallback=run.fallback,
            **_with_call(call),
        )
        if not self.route(cs, output) or not loops.repeat(self, cs):
            return
        self.advance()

    def step_error(
        self,
        cs: CompiledStep,
        run: StepRun,
        error: dict[str, Any],
        call: dict[str, Any] | None = None,
    ) -> None:
        """A failed attempt: retry with backoff, else the fallback, else fail the execution."""
        run.error = error
        attempts = run.attempt - run.fallback_from_attempt
        retry = cs.retry
        if retries(retry, error) and attempts < retry.max_attempts:
            key = f"{self.state.execution_id}:{cs.id}:{run.attempt}"
            delay = backoff_delay_ms(retry.backoff, attempts, key)
            due = self.now + timedelta(milliseconds=delay)
            run.status = StepStatus.WAITING_RETRY
            run.next_retry_at = due
            self.emit(
                "step.retrying",
                cs.id,
                run.attempt,
                function=run.function,
                error=error,
                delayMs=delay,
                nextAttempt=run.attempt + 1,
                retryAt=due.isoformat(),
                **_with_call(call),
            )
            self.out.timers.append(SetTimer("retry", cs.id, run.attempt, due))
            return
        target = catch_target(cs, error)
        if target is None and cs.fallback_function and not run.fallback:
            self.emit(
                "step.failed",
                cs.id,
                run.attempt,
                function=run.function,
                error=error,
                **_with_call(call),
            )
            run.fallback = True
            run.fallback_from_attempt = run.attempt
            self.emit("step.fallback", cs.id, run.attempt, function=cs.fallback_function)
            self.dispatch(cs, run)
            return
        if target is not None:
            self.catch_step(cs, run, error, target, call)
            return
        self.fail_step(
            cs,
            run,
            str(error.get("type", "Error")),
            f"step '{cs.id}' ({run.function}) failed after {attempts} attempt(s): "
            f"{error.get('message', '')}",
            call,
        )

    def run_switch(self, cs: CompiledStep, run: StepRun) -> None:
        """A switch calls nothing: the first case whose `when` holds names the next step."""
        switch = cs.step.switch
        assert switch is not None
        run.attempt += 1
        run.function = cs.function
        run.started_at = run.attempt_started_at = self.now
        chosen, case = switch.default, "default"
        for number, entry in enumerate(switch.cases):
            try:
                value = parse_condition(entry.when).evaluate(self.context())
            except ExpressionError as exc:
                where = f"steps[{cs.index}].switch.cases[{number}].when"
                self.fail_step(cs, run, "ConditionError", f"{where}: {exc}")
                return
            if truthy(value):
                chosen, case = entry.next, str(number)
                break
        if chosen is None:
            message = f"switch '{cs.id}': no case holds and there is no default"
            self.fail_step(cs, run, "NoMatchingCase", message)
            return
        self.emit("step.started", cs.id, run.attempt, function=cs.function, input=None)
        self.succeed_step(cs, run, {"next": chosen, "case": case})

    def route(self, cs: CompiledStep, output: Any) -> bool:
        """After `cs` succeeded: follow its transition (False when that failed the execution).

        A choice (a switch, a `next: {outcome: stepId}` map keyed by the output's `outcome`
        or the output itself, else its `default`) skips the steps reachable only from the
        targets not chosen; `isFinal` skips every pending step."""
        step = cs.step
        if step.is_final:
            for later in self.wf.steps:
                self.skip(later, f"after the final step '{cs.id}'")
            return True
        targets = options(step)
        if len(targets) < 2 and not isinstance(step.next, dict):
            return True
        if step.switch is not None:
            chosen = output["next"]
        else:
            assert isinstance(step.next, dict)
            key = output.get("outcome") if isinstance(output, dict) else output
            chosen = step.next.get(str(key), step.next.get("default")) if key is not None else None
            chosen = chosen or step.next.get("default")
            if chosen is None:
                keys = ", ".join(sorted(step.next))
                run = self.state.steps[cs.id]
                self.fail_step(cs, run, "NoTransition", f"outcome {key!r} is none of: {keys}")
                return False
        succ = self.wf.links.successors
        keep = reachable(succ, chosen)
        other = set().union(*(reachable(succ, t) for t in targets if t != chosen))
        reason = f"'{cs.id}' chose '{chosen}'"
        for later in self.wf.steps[cs.index + 1 :]:
            if later.id in other and later.id not in keep:
                self.skip(later, reason)
        return True

    def catch_step(
        self,
        cs: CompiledStep,
        run: StepRun,
        error: dict[str, Any],
        target: str,
        call: dict[str, Any] | None = None,
    ) -> None:
        """A `catch` entry matched the final error: the steps between are skipped, `target` runs."""
        run.status = StepStatus.CAUGHT
        run.finished_at = self.now
        self._context = None
        self.emit(
            "step.failed",
            cs.id,
            run.attempt,
            function=run.function,
            error=error,
            caughtBy=target,
            **_with_call(call),
        )
        reason = f"'{cs.id}' failed with {error.get('type', 'Error')}; catch goes to '{target}'"
        end = self.wf.step(target).index
        for later in self.wf.steps[cs.index + 1 : end]:
            self.skip(later, reason)
        self.touch(cs.id)
        self.advance()

    def skip(self, cs: CompiledStep, reason: str) -> None:
        """Skip a pending step that a routing decision (a catch) passed over."""
        run = self.state.steps[cs.id]
        if run.status != StepStatus.PENDING:
            return
        run.status = StepStatus.SKIPPED
        run.finished_at = self.now
        self.touch(cs.id)
        self.emit("step.skipped", cs.id, condition=None, value=None, reason=reason)

    def fail_step(
        self,
        cs: CompiledStep,
        run: StepRun,
        type_: str,
        message: str,
        call: dict[str, Any] | None = None,
    ) -> None:
        run.status = StepStatus.FAILED
        run.finished_at = self.now
        run.error = {**(run.error or {}), "type": type_, "message": message}
        self.emit(
            "step.failed",
            cs.id,
            run.attempt or None,
            function=run.function,
            error=run.error,
            **_with_call(call),
        )
        self.finish(ExecutionStatus.FAILED, error={**run.error, "stepId": cs.id})

    def complete(self) -> None:
        wf = self.wf
        try:
            if wf.output_mapping is not None:
                output = to_json_value(wf.output_mapping.render(self.context()))
            else:
                done = [
                    self.state.steps[cs.id]
                    for cs in wf.steps
                    if self.state.steps[cs.id].status == StepStatus.SUCCEEDED
                ]
                output = done[-1].output if done else {}
        except ExpressionError as exc:
            self.finish(ExecutionStatus.FAILED, {"type": "TemplateError", "message": str(exc)})
            return
        problems = wf.output_errors(output)
        if problems:
            message = "output does not match the output schema: " + "; ".join(problems)
            self.finish(
                ExecutionStatus.FAILED, {"type": "OutputValidationError", "message": message}
            )
            return
        self.state.output = output
        self.finish(ExecutionStatus.COMPLETED)

    def finish(
        self,
        status: ExecutionStatus,
        error: dict[str, Any] | None = None,
        actor: dict[str, Any] | None = None,
    ) -> None:
        for extension in self.wf.extensions:  # compensations first (saga), then children
            if extension.before_finish is not None and extension.before_finish(self, status, error):
                return
        state = self.state
        state.status = status
        state.error = error
        state.finished_at = self.now
        for run in state.steps.values():
            if run.status in (StepStatus.RUNNING, StepStatus.WAITING_RETRY, StepStatus.WAITING):
                run.status = StepStatus.CANCELLED
        data: dict[str, Any] = {"durationMs": _ms(self.now - state.created_at)}
        data.update(evaluate_kpis(self.wf, state, self.context(), data["durationMs"]))
        if status == ExecutionStatus.COMPLETED:
            data["output"] = state.output
        if error is not None:
            data["error"] = error
        self.emit(f"execution.{status.value}", actor=actor, status=status.value, **data)

    def result(self) -> Transition:
        self.state.updated_at = self.now
        return self.out


# -- public transitions ------------------------------------------------------------------
def start_execution(
    wf: CompiledWorkflow,
    execution_id: str,
    input_: dict[str, Any],
    now: datetime,
    *,
    actor: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    notifications: dict[str, list[str]] | None = None,
    priority: int | None = None,
    trigger: dict[str, Any] | None = None,
) -> Transition:
    """A new execution: validate the input, then dispatch what can run first.

    `priority`: the start request's; None takes the definition's. `trigger`: the event or
    schedule that started it, as `{{trigger.*}}` reads it."""
    state = ExecutionState(
        execution_id=execution_id,
        workflow=wf.name,
        workflow_version=wf.version,
        input=input_,
        steps={cs.id: StepRun() for cs in wf.steps},
        created_at=now,
        updated_at=now,
        actor=actor,
        trigger=trigger,
        idempotency_key=idempotency_key,
        notifications=notifications,
        priority=wf.definition.priority if priority is None else priority,
    )
    run = Run(wf, state, now, actor)
    run.emit("execution.started", actor=actor, input=mask_input(wf.definition.input, input_))
    problems = wf.input_errors(input_)
    if problems:
        message = "input does not match the input schema: " + "; ".join(problems)
        run.finish(ExecutionStatus.FAILED, {"type": "InputValidationError", "message": message})
    else:
        if wf.definition.timeout:
            due = now + timedelta(milliseconds=wf.definition.timeout)
            run.out.timers.append(SetTimer("execution_timeout", "", 0, due))
        run.advance(everything=True)
    return run.result()


def apply_step_result(
    wf: CompiledWorkflow,
    state: ExecutionState,
    step_id: str,
    attempt: int,
    now: datetime,
    *,
    ok: bool,
    output: Any = None,
    error: dict[str, Any] | None = None,
    call: dict[str, Any] | None = None,
    worker_id: str | None = None,
) -> Transition:
    """Apply one attempt's outcome. Stale or repeated results change nothing.

    `call` (StepResult.call: what the attempt called) goes into the step's audit data, and
    `worker_id` (StepResult.workerId) as `workerId` into every entry about that attempt.
    """
    for extension in wf.extensions:  # e.g. the result of a compensation step (saga)
        owns, apply = extension.owns_step, extension.apply_result
        if owns is not None and apply is not None and owns(step_id):
            return apply(wf, state, step_id, attempt, now, ok=ok, output=output, error=error)
    run = state.steps.get(step_id)
    if state.terminal or run is None or run.status != StepStatus.RUNNING or run.attempt != attempt:
        return Transition(state, duplicate=True)
    active = Run(wf, state, now, SYSTEM_ACTOR)
    if worker_id:
        active.worker = (step_id, attempt, worker_id)
    cs = wf.step(step_id)
    if ok:
        active.succeed_step(cs, run, output, call)
    else:
        error = error or {"type": "Error", "message": "unknown error"}
        active.step_error(cs, run, error, call)
    return active.result()


def fire_timer(
    wf: CompiledWorkflow,
    state: ExecutionState,
    kind: str,
    step_id: str,
    attempt: int,
    now: datetime,
) -> Transition:
    """A durable timer came due: a retry wait ended, a step or the execution timed out."""
    if state.terminal:
        return Transition(state, duplicate=True)
    for extension in wf.extensions:  # waits' and compensations' timers
        fire = extension.timers.get(kind)
        if fire is not None:
            return fire(wf, state, kind, step_id, attempt, now)
    active = Run(wf, state, now, SYSTEM_ACTOR)
    if kind == "execution_timeout":
        active.finish(
            ExecutionStatus.TIMED_OUT,
            {"type": "ExecutionTimeout", "message": "the execution exceeded its timeout"},
        )
        return active.result()
    run = state.steps.get(step_id)
    if run is None or run.attempt != attempt:
        return Transition(state, duplicate=True)
    cs = wf.step(step_id)
    if kind == "retry" and run.status == StepStatus.WAITING_RETRY and not run.retry_due:
        run.retry_due = True
        active.touch(step_id)
        active.advance()
        return active.result()
    if kind == "timeout" and run.status == StepStatus.RUNNING:
        limit = cs.timeout_ms
        active.emit("step.timed_out", step_id, attempt, timeoutMs=limit)
        active.step_error(
            cs,
            run,
            {"type": "StepTimeout", "message": f"no result within {limit} ms", "retryable": True},
        )
        return active.result()
    return Transition(state, duplicate=True)


def cancel_execution(
    wf: CompiledWorkflow,
    state: ExecutionState,
    now: datetime,
    reason: str | None = None,
    actor: dict[str, Any] | None = None,
) -> Transition:
    if state.terminal:
        return Transition(state, duplicate=True)
    active = Run(wf, state, now, actor)
    error = {"type": "Cancelled", "message": reason or "cancelled"}
    active.finish(ExecutionStatus.CANCELLED, error, actor=actor)
    return active.result()


def pause_execution(
    wf: CompiledWorkflow, state: ExecutionState, now: datetime, actor: dict[str, Any] | None = None
) -> Transition:
    """Running steps finish; nothing new is dispatched until resume."""
    if state.terminal or state.paused:
        return Transition(state, duplicate=True)
    active = Run(wf, state, now, actor)
    state.paused = True
    state.status = ExecutionStatus.PAUSED
    active.emit("execution.paused", actor=actor)
    return active.result()


def resume_execution(
    wf: CompiledWorkflow, state: ExecutionState, now: datetime, actor: dict[str, Any] | None = None
) -> Transition:
    if state.terminal or not state.paused:
        return Transition(state, duplicate=True)
    active = Run(wf, state, now, actor)
    state.paused = False
    state.status = ExecutionStatus.RUNNING
    active.emit("execution.resumed", actor=actor)
    active.advance(everything=True)
    return active.result()


def retry_execution(
    wf: CompiledWorkflow,
    failed: ExecutionState,
    new_execution_id: str,
    now: datetime,
    *,
    from_step: str | None = None,
    input_: dict[str, Any] | None = None,
    actor: dict[str, Any] | None = None,
) -> Transition:
    """A new execution that re-runs `failed` from its failed step (or `from_step`).

    Steps before that point keep their outputs; the new state links back with `retryOf`.
    """
    restart_at = len(wf.steps)
    for cs in wf.steps:
        run = failed.steps.get(cs.id)
        if cs.id == from_step or (
            from_step is None and (run is None or run.status not in DONE_STEP)
        ):
            restart_at = cs.index
            break
    steps: dict[str, StepRun] = {}
    for cs in wf.steps:
        old = failed.steps.get(cs.id)
        keep = cs.index < restart_at and old is not None and old.status in DONE_STEP
        steps[cs.id] = old.model_copy() if keep and old is not None else StepRun()
    state = ExecutionState(
        execution_id=new_execution_id,
        workflow=failed.workflow,
        workflow_version=failed.workflow_version,
        input=input_ if input_ is not None else failed.input,
        steps=steps,
        created_at=now,
        updated_at=now,
        actor=actor,
        retry_of=failed.execution_id,
        notifications=failed.notifications,
        priority=failed.priority,
    )
    active = Run(wf, state, now, actor)
    restart_id = wf.steps[restart_at].id if restart_at < len(wf.steps) else None
    active.emit(
        "execution.started",
        actor=actor,
        input=mask_input(wf.definition.input, state.input),
        retryOf=failed.execution_id,
        fromStep=restart_id,
    )
    problems = wf.input_errors(state.input)
    if problems:
        message = "input does not match the input schema: " + "; ".join(problems)
        active.finish(ExecutionStatus.FAILED, {"type": "InputValidationError", "message": message})
    else:
        active.advance(everything=True)
    return active.result()
