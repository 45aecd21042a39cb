"""Business KPIs of an execution, from the workflow's `metrics[]` (pure: no I/O).

A metric is measured in one of three ways:

- `value: "{{expr}}"`: a template over the execution's data (`input`, every succeeded
  step's output, `execution.{id,workflow,version,startedAt,status,durationMs}`), rendered
  when the execution ends. It must give a finite number; `true`/`false` count as 1/0.
- `between: [stepA, stepB]`: milliseconds from stepA's first start to stepB's finish
  (stepA must have started and stepB succeeded).
- neither: *reported*. A function reports it in its output under the reserved key
  `_kpis` (`{"_kpis": {"timeToFirstLogin": 42}}`); the engine takes that key out of the step
  output (later templates and the audit trail never see it) and keeps it on the step run.
  If several steps report the same metric, the last step in definition order wins.

KPIs are evaluated whenever an execution ends (completed, failed, timed out, cancelled), so
rates such as `{{execution.status === "completed" ? 100 : 0}}` count every outcome. A metric
without a number is listed in `kpisMissing` with the reason and is not aggregated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.expressions import ExpressionError, to_json_value
from workflows.services.core.state import ExecutionState, StepRun, StepStatus

__all__ = [
    "REPORTED_KEY",
    "aggregate_outcomes",
    "as_number",
    "evaluate_kpis",
    "format_kpi",
    "kpi_lines",
    "percentile",
    "summarize",
    "take_reported",
]

REPORTED_KEY = "_kpis"


def as_number(value: Any) -> float | str:
    """`value` as a KPI number, or the reason it is not one."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an int of hundreds of digits: the reason, never the batch
            digits = int(int(value).bit_length() * math.log10(2)) + 1
            return f"out of range (about {digits} digits)"
        return number if math.isfinite(number) else f"not a finite number ({value})"
    shown = "undefined" if value is None else repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"not a number: {shown} ({type(value).__name__ if value is not None else 'null'})"


def take_reported(run: StepRun, output: Any) -> Any:
    """Move the `_kpis` a function reported out of its output onto the step run."""
    if not isinstance(output, dict) or REPORTED_KEY not in output:
        run.kpis = None
        return output
    stripped = {k: v for k, v in output.items() if k != REPORTED_KEY}
    reported = output[REPORTED_KEY]
    run.kpis = {str(k): v for k, v in reported.items()} if isinstance(reported, dict) else None
    return stripped


def _between(state: ExecutionState, first: str, last: str) -> float | str:
    start, end = state.steps.get(first), state.steps.get(last)
    if start is None or start.started_at is None:
        return f"step '{first}' did not start"
    if end is None or end.status != StepStatus.SUCCEEDED or end.finished_at is None:
        status = end.status.value if end is not None else "unknown"
        return f"step '{last}' did not succeed ({status})"
    return (end.finished_at - start.started_at).total_seconds() * 1000


def _value(wf: CompiledWorkflow, name: str, context: Mapping[str, Any]) -> float | str:
    template = wf.metric_values.get(name)
    if template is None:
        return "its value template did not compile"
    try:
        rendered = to_json_value(template.render(context))
    except ExpressionError as exc:
        return f"value: {exc}"
    return as_number(rendered)


def _reported(wf: CompiledWorkflow, state: ExecutionState) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for cs in wf.steps:
        run = state.steps.get(cs.id)
        if run is not None and run.status == StepStatus.SUCCEEDED and run.kpis:
            found.update(run.kpis)
    return found


def evaluate_kpis(
    wf: CompiledWorkflow, state: ExecutionState, context: Mapping[str, Any], duration_ms: int
) -> dict[str, Any]:
    """Compute every metric into `state.kpis` / `state.kpis_missing` (call once it has ended).

    Returns the data to add to the terminal lifecycle event: `kpis`, and `kpisMissing`
    when some metric has no number.
    """
    execution = {**context.get("execution", {})}
    execution.update(status=state.status.value, durationMs=duration_ms)
    ctx = {**context, "execution": execution}
    reported = _reported(wf, state)
    values: dict[str, float] = {}
    missing: dict[str, str] = {}
    for metric in wf.definition.metrics:
        if metric.value is not None:
            result = _value(wf, metric.name, ctx)
        elif metric.between is not None:
            result = _between(state, *metric.between)
        elif metric.name in reported:
            result = as_number(reported[metric.name])
        else:
            result = f"not reported by any step (return it under '{REPORTED_KEY}')"
        if isinstance(result, str):
            missing[metric.name] = result
        else:
            values[metric.name] = result
    state.kpis, state.kpis_missing = values, missing
    data: dict[str, Any] = {"kpis": dict(values)}
    if missing:
        data["kpisMissing"] = dict(missing)
    return data


def format_kpi(value: float, unit: str | None) -> str:
    """`value` with its unit as a person reads it: `50 %`, `45 minutes`, `0.25`."""
    shown = f"{value:.0f}" if float(value).is_integer() else f"{value:.4g}"
    if not unit:
        return shown
    return f"{shown} %" if unit in ("percent", "%") else f"{shown} {unit}"


def kpi_lines(
    values: Mapping[str, float],
    missing: Mapping[str, str],
    units: Mapping[str, str | None],
    indent: str = "    ",
) -> list[str]:
    """One line per KPI of an ended execution: its value with the unit, or why it has none."""
    names = [*values, *(n for n in missing if n not in values)]
    width = max((len(n) for n in names), default=0)
    lines = []
    for name in names:
        if name in values:
            lines.append(f"{indent}{name:<{width}}  {format_kpi(values[name], units.get(name))}")
        else:
            lines.append(f"{indent}{name:<{width}}  - ({missing[name]})")
    return lines


# -- aggregation -----------------------------------------------------------------------------
def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of sorted values, interpolated linearly between ranks."""
    if not ordered:
        raise ValueError("percentile of no values")
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Sequence[float]) -> dict[str, float | int | None]:
    """count, mean, p50, p95, min and max (None for no values)."""
    if not values:
        return {"count": 0, "mean": None, "p50": None, "p95": None, "min": None, "max": None}
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "mean": math.fsum(ordered) / len(ordered),
        "p50": percentile(ordered, 50),
        "p95": percentile(ordered, 95),
        "min": ordered[0],
        "max": ordered[-1],
    }


def aggregate_outcomes(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Aggregate ended executions' samples (`status`, `durationMs`, `kpis`).

    `completionRate` = completed / ended; `durationMs` summarizes completed executions;
    each KPI is summarized over the executions that have a number for it (`missing`
    counts the others).
    """
    by_status: dict[str, int] = {}
    durations: list[float] = []
    values: dict[str, list[float]] = {}
    for sample in samples:
        status = str(sample.get("status"))
        by_status[status] = by_status.get(status, 0) + 1
        duration = sample.get("durationMs")
        if status == "completed" and isinstance(duration, int | float):
            durations.append(float(duration))
        for name, value in (sample.get("kpis") or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                values.setdefault(str(name), []).append(float(value))
    total = len(samples)
    kpis = {
        name: {**summarize(found), "missing": total - len(found)}
        for name, found in sorted(values.items())
    }
    return {
        "executions": total,
        "byStatus": by_status,
        "completionRate": by_status.get("completed", 0) / total if total else None,
        "durationMs": summarize(durations),
        "kpis": kpis,
    }
