"""Dry run: drive a workflow through the orchestrator's own transitions with mocked steps.

No broker, no Redis, no real time: timers fire on a virtual clock in due order. Each
dispatched step takes its output from `mocks` (keyed by step id, or by function name,
which wins when the fallback function runs), or `{}`; a step listed in `fail` fails on
every attempt of its main function (its fallback, if any, then runs normally), with the
error type `SimulatedFailure`, or the type given as `stepId=ErrorType` (for `retryOn`,
`nonRetryable` and `catch`).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.engine import (
    DispatchStep,
    SetTimer,
    Transition,
    apply_step_result,
    fire_timer,
    start_execution,
)
from workflows.services.core.for_each import for_each_spec, map_outcome
from workflows.services.core.kpis import kpi_lines
from workflows.services.core.state import AuditEntry, ExecutionState
from workflows.services.core.waits import deliver_signal, simulated_signals

__all__ = ["SimulationResult", "format_simulation", "simulate"]

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
STEP_LATENCY = timedelta(milliseconds=1)
MAX_ROUNDS = 10_000


@dataclass
class SimulationResult:
    state: ExecutionState
    events: list[AuditEntry] = field(default_factory=list)

    def path(self) -> dict[str, str]:
        """step id -> its final status."""
        return {step_id: run.status.value for step_id, run in self.state.steps.items()}


def simulate(
    wf: CompiledWorkflow,
    input_: dict[str, Any],
    mocks: dict[str, Any] | None = None,
    fail: set[str] | frozenset[str] = frozenset(),
    execution_id: str = "simulation",
    trigger: dict[str, Any] | None = None,
    priority: int | None = None,
) -> SimulationResult:
    """`trigger`: `{"event": {...}}` or `{"schedule": {...}}`, what `{{trigger.*}}` reads."""
    mocks = mocks or {}
    failing = dict(entry.partition("=")[::2] for entry in fail)  # step id -> error type
    now = EPOCH
    queue: list[tuple[datetime, int, str, Any]] = []
    counter = 0

    def absorb(transition: Transition) -> None:
        nonlocal counter
        for dispatch in transition.dispatches:
            counter += 1
            heapq.heappush(queue, (now + STEP_LATENCY, counter, "result", dispatch))
        for timer in transition.timers:
            counter += 1
            heapq.heappush(queue, (timer.due_at, counter, "timer", timer))
        for signal in simulated_signals(transition, mocks):  # waits complete from --mock
            counter += 1
            heapq.heappush(queue, (now + STEP_LATENCY, counter, "signal", signal))

    first = start_execution(
        wf,
        execution_id,
        input_,
        now,
        actor=trigger_actor(trigger),
        trigger=trigger,
        priority=priority,
    )
    state = first.state
    absorb(first)
    rounds = 0
    while queue and not state.terminal and rounds < MAX_ROUNDS:
        rounds += 1
        now, _, kind, item = heapq.heappop(queue)
        if kind == "timer":
            assert isinstance(item, SetTimer)
            absorb(fire_timer(wf, state, item.kind, item.step_id, item.attempt, now))
            continue
        if kind == "signal":
            absorb(deliver_signal(wf, state, now, **item))
            continue
        assert isinstance(item, DispatchStep)
        spec = for_each_spec(item.input)
        if spec is not None:  # a map: every item gets the mock, or fails with --fail
            absorb(_simulated_map(wf, state, item, spec, mocks, failing, now))
            continue
        if item.step_id in failing and not item.fallback:
            type_ = failing[item.step_id] or "SimulatedFailure"
            error = {"type": type_, "message": "--fail", "retryable": True}
            step = apply_step_result(
                wf, state, item.step_id, item.attempt, now, ok=False, error=error
            )
        else:
            output = mocks.get(item.function) if item.fallback else None
            if output is None:
                output = mocks.get(item.step_id, mocks.get(item.function, {}))
            step = apply_step_result(
                wf, state, item.step_id, item.attempt, now, ok=True, output=output
            )
        absorb(step)
    return SimulationResult(state=state, events=list(state.history))


def _simulated_map(
    wf: CompiledWorkflow,
    state: ExecutionState,
    item: DispatchStep,
    spec: dict[str, Any],
    mocks: dict[str, Any],
    failing: dict[str, str],
    now: datetime,
) -> Transition:
    count = len(spec["inputs"])
    output = mocks.get(item.function) if item.fallback else None
    if output is None:
        output = mocks.get(item.step_id, mocks.get(item.function, {}))
    failed: dict[int, dict[str, Any]] = {}
    if item.step_id in failing and not item.fallback:
        type_ = failing[item.step_id] or "SimulatedFailure"
        failed = {index: {"type": type_, "message": "--fail"} for index in range(count)}
    ok, result, error = map_outcome(
        [None if i in failed else output for i in range(count)],
        failed,
        spec.get("toleratedFailures"),
    )
    return apply_step_result(
        wf, state, item.step_id, item.attempt, now, ok=ok, output=result, error=error
    )


def _short(value: Any, limit: int = 100) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_simulation(
    result: SimulationResult, units: Mapping[str, str | None] | None = None
) -> list[str]:
    """Human-readable path: one line per transition, then the final status, output/error and
    the KPIs (with `units`, KPI name -> the unit its definition declares)."""
    lines: list[str] = []
    for event in result.events:
        clock = int((event.at - EPOCH).total_seconds() * 1000)
        data = event.data
        step = event.step_id or ""
        match event.type:
            case "step.started":
                what = f"ran     {step} -> {data['function']} (attempt {event.attempt})"
                spec = for_each_spec(data.get("input"))
                if spec is not None:
                    what += (
                        f" forEach over {len(spec['inputs'])} items, "
                        f"maxConcurrency {spec['maxConcurrency']}, first input "
                        f"{_short(spec['inputs'][0] if spec['inputs'] else None, 120)}"
                    )
                elif data.get("input") not in (None, {}):
                    what += f" input {_short(data['input'], 160)}"
            case "step.skipped" if data.get("reason"):
                what = f"skipped {step} ({data['reason']})"
            case "step.skipped":
                what = f"skipped {step} (condition {data['condition']} was {_short(data['value'])})"
            case "step.retrying":
                what = (
                    f"retry   {step} attempt {event.attempt} failed: "
                    f"{data['error'].get('message')}; next in {data['delayMs']} ms"
                )
            case "loop.iteration":
                what = (
                    f"loop    back to {step} (iteration {data['iteration']}, "
                    f"while on {data['until']} was {_short(data['value'])})"
                )
            case "step.fallback":
                what = f"fallback {step} -> {data['function']}"
            case "step.succeeded":
                what = f"ok      {step} output {_short(data['output'])}"
            case "step.failed" if "caughtBy" in data:
                what = (
                    f"caught  {step}: {data['error'].get('type')} "
                    f"({data['error'].get('message')}) -> {data['caughtBy']}"
                )
            case "step.failed":
                what = f"failed  {step}: {data['error'].get('message')}"
            case _:
                what = event.type
        lines.append(f"[+{clock:>7} ms] {what}")
    state = result.state
    lines.append(f"status: {state.status.value}")
    if state.error:
        lines.append(f"error: {state.error.get('message')}")
    else:
        lines.append("output: " + json.dumps(state.output, indent=2, sort_keys=True, default=str))
    if state.kpis or state.kpis_missing:
        lines.append("kpis:")
        lines.extend(kpi_lines(state.kpis, state.kpis_missing, units or {}, indent="  "))
    return lines


def trigger_actor(trigger: dict[str, Any] | None) -> dict[str, Any] | None:
    """The actor a start with this trigger has: the event's or the schedule's id."""
    for kind in ("event", "schedule"):
        found = (trigger or {}).get(kind)
        if isinstance(found, dict):
            return {"kind": kind, "id": found.get("id")}
    return None


def priority_line(definition_priority: int | None, option: int | None) -> str:
    """What the execution's priority is, where it comes from and what it changes."""
    if option is not None:
        value, source = option, "from --priority"
    elif definition_priority is not None:
        value, source = definition_priority, "from the definition"
    else:
        value, source = 0, "default"
    return (
        f"priority {value} ({source}): when a function's concurrency is full, commands of this "
        "execution are dispatched ahead of lower-priority ones"
    )
