"""`GET /workflows/{name}/metrics`: business KPIs and outcomes aggregated over executions.

The orchestrator records one sample per ended execution (status, duration, KPIs) in the
workflow's capped `outcomes` set (`services/infra/keys.py`); this route summarizes the newest
`limit` of them with `workflows.services.core.kpis.aggregate_outcomes`.

The same aggregates are exported on `/metrics` as gauges (`workflows_kpi_mean`, `_p50`,
`_p95`, `_executions`, `workflows_completion_ratio`): while the app runs, its lifespan
recomputes them for every registered workflow each `KPI_EXPORT_EVERY_S`, so Prometheus and
Grafana show the numbers this route answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import Field

from workflows.services.core.kpis import aggregate_outcomes, summarize
from workflows.services.core.namespaces import DEFAULT_NAMESPACE, belongs
from workflows.services.infra.api_keys import granted
from workflows.services.infra.keys import KPI_SAMPLES_CAP
from workflows.services.infra.metrics import EngineMetrics, WorkflowFilter
from workflows.services.infra.store import StateStore
from workflows.services.trigger.auth import principal, stored_name
from workflows.services.trigger.deps import ApiProblem, Context, context
from workflows.services.trigger.schemas import ApiModel, ErrorBody

__all__ = [
    "KPI_EXPORT_EVERY_S",
    "KpiSummary",
    "Summary",
    "WorkflowMetrics",
    "export_kpis",
    "router",
    "summarize_workflow",
]

KPI_EXPORT_EVERY_S = 5.0
log = structlog.get_logger(__name__)


@contextlib.asynccontextmanager
async def _export_loop(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the app's lifespan (after it connected Redis): refresh the KPI gauges."""
    ctx: Context = app.state.ctx
    stop = asyncio.Event()
    task = asyncio.create_task(_keep_exporting(ctx, stop))
    try:
        yield
    finally:
        # A stop flag, not only cancel(): redis-py can turn a cancellation that lands
        # mid-command into a ConnectionError, which the loop would take for a Redis hiccup.
        stop.set()
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=5)
        if not done:
            log.warning("kpi_export_not_stopped")


async def _keep_exporting(ctx: Context, stop: asyncio.Event) -> None:
    while not stop.is_set():
        if ctx.store is not None:
            try:
                await export_kpis(ctx.store, EngineMetrics.of(ctx.registry))
            except Exception as exc:  # Redis away for a moment: keep the last values
                if stop.is_set():
                    return
                log.warning("kpi_export_failed", error=f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), KPI_EXPORT_EVERY_S)


router = APIRouter(tags=["workflows"], lifespan=_export_loop)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response, tags=["ops"])
async def metrics(request: Request) -> Response:
    """Every metric for an admin of the default namespace; for any other key, the samples of
    its own namespace's workflows and the engine-wide ones (no workflow label)."""
    registry = context(request).registry
    caller = principal(request)
    if caller.namespace == DEFAULT_NAMESPACE and granted(caller.scopes, "admin"):
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    view = WorkflowFilter(registry, lambda workflow: belongs(caller.namespace, workflow))
    return Response(generate_latest(view), media_type=CONTENT_TYPE_LATEST)


class Summary(ApiModel):
    count: int = 0
    mean: float | None = None
    p50: float | None = None
    p95: float | None = None
    min: float | None = None
    max: float | None = None


class KpiSummary(Summary):
    missing: int = Field(default=0, description="ended executions without a number for it")
    description: str = ""
    unit: str | None = None


class WorkflowMetrics(ApiModel):
    workflow: str
    executions: int = Field(description="ended executions summarized (newest first, up to limit)")
    by_status: dict[str, int] = Field(default_factory=dict)
    completion_rate: float | None = Field(default=None, description="completed / ended")
    duration_ms: Summary = Field(description="durations of the completed executions")
    kpis: dict[str, KpiSummary] = Field(default_factory=dict)
    limit: int


@router.get(
    "/workflows/{name}/metrics",
    summary="Business KPIs and outcomes of a workflow, aggregated over its ended executions",
    response_model=WorkflowMetrics,
    responses={404: {"model": ErrorBody}},
)
async def workflow_metrics(
    request: Request,
    name: str,
    limit: Annotated[int, Query(ge=1, le=KPI_SAMPLES_CAP)] = KPI_SAMPLES_CAP,
) -> WorkflowMetrics:
    store, _, _ = context(request).ready()
    summary = await summarize_workflow(store, stored_name(request, name), limit, shown=name)
    if summary is None:
        raise ApiProblem(404, f"workflow '{name}' is not registered")
    return summary


async def export_kpis(store: StateStore, metrics: EngineMetrics) -> int:
    """Set the KPI gauges of every registered workflow (and drop those of deleted ones)."""
    names = await store.definition_names()
    for name in names:
        summary = await summarize_workflow(store, name, KPI_SAMPLES_CAP)
        metrics.export_summary(name, None if summary is None else _by_alias(summary))
    for gone in metrics.exported_workflows() - set(names):
        metrics.export_summary(gone, None)
    return len(names)


def _by_alias(summary: WorkflowMetrics) -> dict[str, Any]:
    return summary.model_dump(by_alias=True)


async def summarize_workflow(
    store: StateStore, stored: str, limit: int, shown: str | None = None
) -> WorkflowMetrics | None:
    """The aggregates of `stored`'s newest `limit` ended executions; None: not registered."""
    found = await store.get_definition(stored)
    if found is None:
        return None
    declared = json.loads(found[1]).get("metrics") or []
    totals = aggregate_outcomes(await store.outcomes(stored, limit))
    kpis: dict[str, KpiSummary] = {}
    for metric in declared:
        stats = totals["kpis"].pop(metric["name"], None)
        stats = stats or {**summarize([]), "missing": totals["executions"]}
        kpis[metric["name"]] = KpiSummary(
            **stats, description=metric.get("description", ""), unit=metric.get("unit")
        )
    for other, stats in totals["kpis"].items():  # KPIs of earlier versions
        kpis[other] = KpiSummary(**stats)
    return WorkflowMetrics(
        workflow=shown or stored,
        executions=totals["executions"],
        by_status=totals["byStatus"],
        completion_rate=totals["completionRate"],
        duration_ms=Summary(**totals["durationMs"]),
        kpis=kpis,
        limit=limit,
    )
