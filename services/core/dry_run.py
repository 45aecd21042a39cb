"""What a dry run did to each step, for drawing the path taken on the step graph.

Pure: reads a `SimulationResult`. Each step gets one outcome: `ran` (succeeded with its own
function), `fallback` (its fallback function produced the output), `skipped` (condition
false), `failed`, `waiting` or `not reached`, with the attempts made and a short reason.
"""

from __future__ import annotations

import json
from typing import Any

from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.simulate import SimulationResult, format_simulation
from workflows.services.core.state import StepRun, StepStatus

__all__ = ["dry_run_report", "step_outcome"]


def step_outcome(run: StepRun | None) -> str:
    if run is None or run.status == StepStatus.PENDING:
        return "not reached"
    if run.status == StepStatus.SUCCEEDED:
        return "fallback" if run.fallback else "ran"
    if run.status == StepStatus.SKIPPED:
        return "skipped"
    if run.status == StepStatus.FAILED:
        return "failed"
    return str(run.status.value)


def _reason(run: StepRun | None) -> str:
    if run is None or run.status == StepStatus.PENDING:
        return "not reached: the execution ended before it"
    if run.status == StepStatus.SKIPPED:
        return f"condition was {json.dumps(run.condition_value, default=str)}"
    if run.status == StepStatus.CAUGHT and run.error:
        return f"caught {run.error.get('type')}: {run.error.get('message', '')}"
    if run.error:
        return str(run.error.get("message", ""))
    if run.fallback:
        return f"{run.function} took over after {run.fallback_from_attempt} failed attempt(s)"
    return f"{run.function}, attempt {run.attempt}"


def dry_run_report(wf: CompiledWorkflow, result: SimulationResult) -> dict[str, Any]:
    """`{status, steps: [{id, outcome, attempts, reason, output}], lines, output, error}`."""
    state = result.state
    steps = []
    for compiled in wf.steps:
        run = state.steps.get(compiled.id)
        steps.append(
            {
                "id": compiled.id,
                "outcome": step_outcome(run),
                "attempts": run.attempt if run else 0,
                "reason": _reason(run),
                "output": run.output if run else None,
            }
        )
    return {
        "status": state.status.value,
        "steps": steps,
        "lines": format_simulation(result),
        "output": state.output,
        "error": state.error,
    }
