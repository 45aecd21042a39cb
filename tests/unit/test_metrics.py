"""EngineMetrics counts what the engine's transitions did, with bounded labels only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from workflows.files import load_definition_file
from workflows.services.core.engine import (
    Transition,
    apply_step_result,
    cancel_execution,
    fire_timer,
    start_execution,
)
from workflows.services.core.state import AuditEntry
from workflows.services.core.validation import compile_workflow
from workflows.services.infra.metrics import EngineMetrics

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SEED = load_definition_file(
    Path(__file__).resolve().parents[2] / "examples" / "customer_onboarding.yaml"
)
WF = "customerOnboardingWorkflow"
PRO = {"customerId": "c1", "plan": "professional", "industry": "health", "companySize": "medium"}
ENT = {**PRO, "plan": "enterprise"}
PLAN = {"onboardingStatus": "completed", "nextSteps": ["x"], "estimatedTimeToValue": 3}
BOOM = {"type": "Boom", "message": "calendar down", "retryable": True}


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


class Observed:
    """Feeds every transition to one EngineMetrics, like the orchestrator after a save."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.metrics = EngineMetrics.of(self.registry)

    def __call__(self, transition: Transition) -> Transition:
        self.metrics.observe_transition(transition)
        return transition

    def value(self, name: str, **labels: str) -> float:
        found = self.registry.get_sample_value(name, labels)
        return 0.0 if found is None else found


def ok(observed: Observed, state: Any, step: str, output: Any, ms: int) -> Transition:
    attempt = state.steps[step].attempt
    return observed(apply_step_result(SEED, state, step, attempt, at(ms), ok=True, output=output))


def run_professional(observed: Observed, execution_id: str = "e1") -> Any:
    state = observed(start_execution(SEED, execution_id, PRO, T0)).state
    ok(observed, state, "accountSetup", {"customerEmail": "a@b.c"}, 100)
    ok(observed, state, "welcomeEmail", {}, 250)
    ok(observed, state, "resourceAllocation", {}, 400)
    ok(observed, state, "createSuccessPlan", PLAN, 1500)
    return state


def test_a_completed_execution_counts_start_finish_duration_and_step_latencies() -> None:
    observed = Observed()
    state = run_professional(observed)
    assert state.status.value == "completed"
    assert observed.value("workflows_executions_started_total", workflow=WF) == 1
    assert (
        observed.value("workflows_executions_finished_total", workflow=WF, status="completed") == 1
    )
    assert observed.value("workflows_executions_in_flight", workflow=WF) == 0
    assert (
        observed.value("workflows_execution_duration_seconds_sum", workflow=WF, status="completed")
        == 1.5
    )
    step = {"workflow": WF, "step": "welcomeEmail", "function": "sendPersonalizedEmail"}
    assert observed.value("workflows_step_duration_seconds_count", **step) == 1
    assert observed.value("workflows_step_duration_seconds_sum", **step) == 0.15
    skipped = {"workflow": WF, "step": "assignAccountManager", "outcome": "skipped"}
    assert observed.value("workflows_step_outcomes_total", **skipped) == 1
    succeeded = {"workflow": WF, "step": "createSuccessPlan", "outcome": "succeeded"}
    assert observed.value("workflows_step_outcomes_total", **succeeded) == 1


def test_running_executions_are_in_flight_until_they_end() -> None:
    observed = Observed()
    first = observed(start_execution(SEED, "e1", PRO, T0)).state
    observed(start_execution(SEED, "e2", PRO, T0))
    assert observed.value("workflows_executions_in_flight", workflow=WF) == 2
    observed(cancel_execution(SEED, first, at(5), "no longer needed"))
    assert observed.value("workflows_executions_in_flight", workflow=WF) == 1
    assert (
        observed.value("workflows_executions_finished_total", workflow=WF, status="cancelled") == 1
    )


def test_retries_and_the_fallback_are_counted_per_step() -> None:
    observed = Observed()
    s = observed(start_execution(SEED, "e1", ENT, T0)).state
    for step, out in [
        ("accountSetup", {"customerEmail": "a"}),
        ("welcomeEmail", {}),
        ("resourceAllocation", {}),
        ("assignAccountManager", {"email": "m"}),
    ]:
        ok(observed, s, step, out, 10)
    for attempt, ms in [(1, 20), (2, 1030)]:
        observed(
            apply_step_result(SEED, s, "scheduleKickoff", attempt, at(ms), ok=False, error=BOOM)
        )
        observed(fire_timer(SEED, s, "retry", "scheduleKickoff", attempt, at(ms + 5000)))
    t = observed(apply_step_result(SEED, s, "scheduleKickoff", 3, at(9000), ok=False, error=BOOM))
    assert [e.type for e in t.events] == ["step.failed", "step.fallback", "step.started"]
    ok(observed, s, "scheduleKickoff", {"link": "l"}, 9100)
    step = {"workflow": WF, "step": "scheduleKickoff"}
    assert observed.value("workflows_step_retries_total", **step) == 2
    assert observed.value("workflows_step_fallbacks_total", **step) == 1
    assert observed.value("workflows_step_outcomes_total", **step, outcome="failed") == 1
    fallback = {**step, "function": "sendSchedulingLink"}
    assert observed.value("workflows_step_duration_seconds_count", **fallback) == 1


def test_a_failed_execution_is_counted_as_failed() -> None:
    observed = Observed()
    s = observed(start_execution(SEED, "e1", PRO, T0)).state
    err = {"type": "Invalid", "message": "no such customer", "retryable": False}
    observed(apply_step_result(SEED, s, "accountSetup", 1, at(5), ok=False, error=err))
    assert observed.value("workflows_executions_finished_total", workflow=WF, status="failed") == 1
    assert observed.value("workflows_executions_in_flight", workflow=WF) == 0


def test_kpis_of_a_completed_execution_are_observed() -> None:
    observed = Observed()
    state = start_execution(SEED, "e1", PRO, T0).state
    kpis = {"timeToValue": 3, "flag": True, "label": "x", "nan": float("nan")}
    entry = AuditEntry(
        seq=1, at=T0, type="execution.completed", data={"durationMs": 10, "kpis": kpis}
    )
    observed(Transition(state, events=[entry]))
    series = {"workflow": WF, "kpi": "timeToValue", "status": "completed"}
    assert observed.value("workflows_kpi_value_sum", **series) == 3
    assert observed.value("workflows_kpi_value_count", **series) == 1
    for ignored in ("flag", "label", "nan"):
        ignored_series = {"workflow": WF, "kpi": ignored, "status": "completed"}
        assert observed.value("workflows_kpi_value_count", **ignored_series) == 0


def test_kpis_of_every_ended_execution_are_observed_so_a_rate_kpi_is_not_100_by_construction() -> (
    None
):
    observed = Observed()
    state = start_execution(SEED, "e1", PRO, T0).state
    for type_, rate in (("execution.completed", 100), ("execution.failed", 0)):
        data = {"durationMs": 10, "kpis": {"rate": rate}}
        observed(Transition(state, events=[AuditEntry(seq=1, at=T0, type=type_, data=data)]))

    def both(name: str) -> float:
        return sum(
            observed.value(name, workflow=WF, kpi="rate", status=status)
            for status in ("completed", "failed")
        )

    total, count = both("workflows_kpi_value_sum"), both("workflows_kpi_value_count")
    assert (total, count) == (100, 2)  # the mean is 50 %, as the API says


def test_the_apis_aggregates_are_exported_as_gauges_and_dropped_when_gone() -> None:
    observed = Observed()
    stats = {"count": 2, "mean": 50.0, "p50": 50.0, "p95": 95.0, "unit": "percent"}
    observed.metrics.export_summary(WF, {"completionRate": 0.5, "kpis": {"rate": stats}})
    series = {"workflow": WF, "kpi": "rate", "unit": "percent"}
    assert observed.value("workflows_kpi_mean", **series) == 50
    assert observed.value("workflows_kpi_p95", **series) == 95
    assert observed.value("workflows_kpi_executions", **series) == 2
    assert observed.value("workflows_completion_ratio", workflow=WF) == 0.5
    observed.metrics.export_summary(WF, {"completionRate": 1.0, "kpis": {}})
    assert observed.registry.get_sample_value("workflows_kpi_mean", series) is None
    observed.metrics.export_summary(WF, None)
    assert (
        observed.registry.get_sample_value("workflows_completion_ratio", {"workflow": WF}) is None
    )


def test_no_label_value_is_an_execution_id() -> None:
    observed = Observed()
    ids = [f"exec-{i:04d}-{'x' * 8}" for i in range(20)]
    for execution_id in ids:
        run_professional(observed, execution_id)
    for family in observed.registry.collect():
        for sample in family.samples:
            for value in sample.labels.values():
                assert value not in ids and "exec-" not in value, (sample.name, sample.labels)
    text = generate_latest(observed.registry).decode()
    assert not any(execution_id in text for execution_id in ids)


def test_the_services_of_one_process_share_the_metrics_of_its_registry() -> None:
    registry = CollectorRegistry()
    assert EngineMetrics.of(registry) is EngineMetrics.of(registry)
    assert EngineMetrics.of(None) is not EngineMetrics.of(None)


def test_a_step_duration_needs_the_workflow_step_and_function_only() -> None:
    wf = compile_workflow(
        {"name": "tiny", "steps": [{"id": "only", "function": "f", "input": {}}]}, version=1
    )
    observed = Observed()
    state = observed(start_execution(wf, "e1", {}, T0)).state
    observed(apply_step_result(wf, state, "only", 1, at(42), ok=True, output={}))
    labels = {"workflow": "tiny", "step": "only", "function": "f"}
    assert observed.value("workflows_step_duration_seconds_bucket", **labels, le="0.05") == 1
    assert observed.value("workflows_step_duration_seconds_bucket", **labels, le="0.025") == 0
