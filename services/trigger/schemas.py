"""Request and response bodies of the HTTP API (camelCase on the wire)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from workflows.contracts.topics import FUNCTION_NAME_PATTERN
from workflows.services.core.state import ExecutionState

__all__ = [
    "CancelRequest",
    "ControlAccepted",
    "ErrorBody",
    "ExecuteAccepted",
    "ExecutionMetrics",
    "ExecutionResult",
    "ExecutionSummary",
    "ExecutionView",
    "FunctionSpec",
    "RegisterResponse",
    "RetryAccepted",
    "RetryRequest",
    "StepView",
    "VersionInfo",
    "WorkflowDetail",
    "WorkflowSummary",
    "execution_view",
    "pending_view",
]


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def wire(self, exclude: set[str] | None = None) -> dict[str, Any]:
        """JSON-ready camelCase data."""
        return self.model_dump(mode="json", by_alias=True, exclude=exclude)


class ErrorBody(ApiModel):
    error: str
    issues: list[dict[str, Any]] | None = None


class RegisterResponse(ApiModel):
    name: str
    version: int
    created: bool
    migrations: list[dict[str, Any]] = Field(
        default_factory=list,
        description="What this version does to each execution in flight (its `migration`): "
        "{executionId, fromVersion, toVersion, policy, resumeAt, kept, skipped, dropped, "
        "restartedAs, reason}",
    )


class WorkflowSummary(ApiModel):
    name: str
    latest_version: int
    description: str = ""


class VersionInfo(ApiModel):
    version: int
    registered_at: str | None = None
    registered_by: str | None = None


class WorkflowDetail(ApiModel):
    name: str
    version: int
    description: str = ""
    definition: dict[str, Any]
    versions: list[VersionInfo]


class ExecuteAccepted(ApiModel):
    execution_id: str
    workflow: str
    version: int
    status: str = "running"
    deduplicated: bool = False


class ExecutionResult(ApiModel):
    execution_id: str
    status: str
    output: Any = None
    error: dict[str, Any] | None = None


class StepView(ApiModel):
    status: str
    attempt: int = 0
    function: str | None = None
    fallback: bool = False
    started_at: str | None = None
    finished_at: str | None = None
    output: Any = None
    error: dict[str, Any] | None = None


class ExecutionMetrics(ApiModel):
    duration_ms: int | None = None
    step_durations_ms: dict[str, int] = Field(default_factory=dict)
    attempts: dict[str, int] = Field(default_factory=dict)
    retries: int = 0
    kpis: dict[str, float] = Field(default_factory=dict, description="business KPIs, once ended")
    kpis_missing: dict[str, str] = Field(default_factory=dict, description="KPI -> why no number")


class ExecutionSummary(ApiModel):
    execution_id: str
    workflow: str | None = None
    version: int | None = None
    status: str
    created_at: str | None = None
    updated_at: str | None = None
    finished_at: str | None = None
    progress: dict[str, Any] = Field(default_factory=dict)


class ExecutionView(ExecutionSummary):
    input: dict[str, Any] | None = None
    output: Any = None
    error: dict[str, Any] | None = None
    current_steps: list[str] = Field(default_factory=list)
    paused: bool = False
    steps: dict[str, StepView] = Field(default_factory=dict)
    retry_of: str | None = None
    retried_by: str | None = None
    priority: int = Field(
        default=0,
        description="the execution's priority (-1000..1000): a backlogged function with a "
        "concurrency limit runs higher first",
    )
    migration: dict[str, Any] | None = Field(
        default=None,
        description="a new version moved it (workflows.services.core.migration): "
        "{from, to, policy, resumeAt | restartedAs | restartedFrom}",
    )
    trace_id: str | None = Field(
        default=None,
        description="the execution's OpenTelemetry trace id (32 hex), when tracing was on "
        "at its start; `traceUrl` links it when WORKFLOWS_TRACE_URL is set",
    )
    trace_url: str | None = None
    metrics: ExecutionMetrics | None = None
    audit_trail: list[dict[str, Any]] | None = None


class CancelRequest(ApiModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=2000)


class RetryRequest(ApiModel):
    model_config = ConfigDict(extra="forbid")
    from_step: str | None = None
    input: dict[str, Any] | None = None


class ControlAccepted(ApiModel):
    execution_id: str
    action: Literal["cancel", "pause", "resume"]
    accepted: bool = True


class RetryAccepted(ApiModel):
    execution_id: str
    retry_of: str


class FunctionSpec(ApiModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=FUNCTION_NAME_PATTERN)
    url: str = Field(pattern=r"^https?://\S+$", max_length=2000)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_ms: int | None = Field(default=None, ge=1, le=3_600_000)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _ms(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(int((end - start).total_seconds() * 1000), 0)


def _metrics(state: ExecutionState) -> ExecutionMetrics:
    end = state.finished_at or datetime.now(UTC)
    durations = {
        step_id: ms
        for step_id, run in state.steps.items()
        if (ms := _ms(run.started_at, run.finished_at)) is not None
    }
    attempts = {step_id: run.attempt for step_id, run in state.steps.items() if run.attempt}
    return ExecutionMetrics(
        duration_ms=_ms(state.created_at, end),
        step_durations_ms=durations,
        attempts=attempts,
        retries=sum(max(n - 1, 0) for n in attempts.values()),
        kpis=state.kpis,
        kpis_missing=state.kpis_missing,
    )


def _trace_id(context: dict[str, str] | None) -> str | None:
    """The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), else None."""
    parts = (context or {}).get("traceparent", "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and parts[1].strip("0123456789abcdef") == "":
        return parts[1]
    return None


def execution_view(state: ExecutionState, metrics: bool, audit: bool) -> dict[str, Any]:
    """The status API's view of a stored execution (camelCase, JSON-ready)."""
    progress = state.progress()
    view = ExecutionView(
        execution_id=state.execution_id,
        workflow=state.workflow,
        version=state.workflow_version,
        status=str(state.status),
        created_at=_iso(state.created_at),
        updated_at=_iso(state.updated_at),
        finished_at=_iso(state.finished_at),
        progress=progress,
        input=state.input,
        output=state.output,
        error=state.error,
        current_steps=progress["currentSteps"],
        paused=state.paused,
        steps={
            step_id: StepView(
                status=str(run.status),
                attempt=run.attempt,
                function=run.function,
                fallback=run.fallback,
                started_at=_iso(run.started_at),
                finished_at=_iso(run.finished_at),
                output=run.output,
                error=run.error,
            )
            for step_id, run in state.steps.items()
        },
        retry_of=state.retry_of,
        retried_by=state.retried_by,
        priority=state.priority,
        migration=state.migration,
        trace_id=_trace_id(state.trace_context),
        metrics=_metrics(state) if metrics else None,
        audit_trail=[e.model_dump(mode="json", by_alias=True) for e in state.history]
        if audit
        else None,
    )
    return _trim(view, metrics, audit)


def pending_view(
    execution_id: str, accepted: dict[str, Any], metrics: bool, audit: bool
) -> dict[str, Any]:
    """An execution accepted by the API that the orchestrator has not picked up yet."""
    view = ExecutionView(
        execution_id=execution_id,
        workflow=accepted.get("workflow"),
        version=accepted.get("version"),
        status="pending",
        progress={"done": 0, "total": 0, "currentSteps": []},
        metrics=ExecutionMetrics() if metrics else None,
        audit_trail=[] if audit else None,
    )
    return _trim(view, metrics, audit)


def _trim(view: ExecutionView, metrics: bool, audit: bool) -> dict[str, Any]:
    exclude = ({"metrics"} if not metrics else set()) | ({"audit_trail"} if not audit else set())
    return view.wire(exclude=exclude)
