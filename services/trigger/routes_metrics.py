"""`GET /workflows/{name}/metrics`: business KPIs and outcomes aggregated over executions.

The orchestrator records one sample per ended execution (status, duration, KPIs) in the
workflow's capped `outcomes` set (`services/infra/keys.py`); this route summarizes the newest
`limit` of them with `services.core.kpis.aggregate_outcomes`.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import Field

from services.core.kpis import aggregate_outcomes, summarize
from services.infra.keys import KPI_SAMPLES_CAP
from services.trigger.app import ApiProblem, context
from services.trigger.auth import stored_name
from services.trigger.schemas import ApiModel, ErrorBody

__all__ = ["KpiSummary", "Summary", "WorkflowMetrics", "router"]

router = APIRouter(tags=["workflows"])


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
    stored = stored_name(request, name)
    found = await store.get_definition(stored)
    if found is None:
        raise ApiProblem(404, f"workflow '{name}' is not registered")
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
        workflow=name,
        executions=totals["executions"],
        by_status=totals["byStatus"],
        completion_rate=totals["completionRate"],
        duration_ms=Summary(**totals["durationMs"]),
        kpis=kpis,
        limit=limit,
    )
