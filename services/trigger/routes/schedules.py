"""Routes for schedules: create, list (with the next fire times), get, delete, pause, resume."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import uuid4

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from workflows.services.core.namespaces import NamespaceError, belongs, qualify, unqualify
from workflows.services.core.schedules import ScheduleError
from workflows.services.infra.schedule_store import ScheduleRuntime, ScheduleStore
from workflows.services.trigger.auth import principal, stored_name, visible
from workflows.services.trigger.deps import NOT_FOUND, ApiProblem, Context, caller_id, context
from workflows.services.trigger.schedule_schemas import (
    ScheduleRecord,
    ScheduleRequest,
    ScheduleView,
)
from workflows.services.trigger.scheduler import from_ms, to_ms
from workflows.services.trigger.schemas import ErrorBody

__all__ = ["router"]

log = structlog.get_logger(__name__)
FIRE_TIME_BUDGET = 10_000  # fire times one GET /schedules computes, over all schedules
MAX_SCHEDULES = 1000  # per namespace
SLICE_S = 0.005  # the longest stretch of cron math between two looks at other requests
router = APIRouter(tags=["schedules"])
Upcoming = Annotated[int, Query(ge=0, le=100, description="how many next fire times to show")]


def _store(ctx: Context) -> ScheduleStore:
    store, _, _ = ctx.ready()
    return ScheduleStore(store.redis, ctx.settings.key_prefix)


def _schedule_problem(exc: ScheduleError) -> ApiProblem:
    return ApiProblem(422, f"{exc.field}: {exc}", issues=[{"path": exc.field, "message": str(exc)}])


def _safe_view(schedule_id: str, runtime: ScheduleRuntime, upcoming: int) -> dict[str, Any]:
    """`_view`, or for a stored schedule that no longer reads (stored by an older build with
    values now refused) its id and the reason: one bad schedule never breaks the list."""
    try:
        return _view(runtime, upcoming)
    except Exception as exc:  # anything in a stored document: show it, don't fail the list
        log.warning("schedule_unreadable", schedule_id=schedule_id, error=str(exc))
        return {"id": unqualify(schedule_id), "error": f"unreadable schedule: {exc}"[:500]}


def _view(runtime: ScheduleRuntime, upcoming: int) -> dict[str, Any]:
    record = ScheduleRecord.model_validate(runtime.doc)
    spec = record.spec()
    times = []
    if not runtime.paused and runtime.next_ms is not None and upcoming:
        first = from_ms(runtime.next_ms)
        times = [first, *spec.upcoming(first, upcoming - 1)]
    view = ScheduleView(
        **record.model_dump(),
        paused=runtime.paused,
        next_fire_times=[t.astimezone(spec.timezone) for t in times],
        fired=runtime.fired,
        skipped=runtime.skipped,
        last_fire_time=runtime.last_fire_time,
        last_execution_id=runtime.last_execution_id,
    )
    wire = view.wire()  # names as the schedule's namespace sees them
    return {**wire, "id": unqualify(record.id), "workflow": unqualify(record.workflow)}


async def _views(found: list[tuple[str, ScheduleRuntime]], upcoming: int) -> list[dict[str, Any]]:
    """The views of many schedules: bounded CPU work that lets other requests in every few
    milliseconds (in a thread it would hold the GIL against the event loop all the same)."""
    out = []
    slice_end = time.monotonic() + SLICE_S
    for schedule_id, runtime in found:
        out.append(_safe_view(schedule_id, runtime, upcoming))
        if time.monotonic() > slice_end:
            await asyncio.sleep(0)
            slice_end = time.monotonic() + SLICE_S
    return out


async def _get(ctx: Context, stored: str, schedule_id: str) -> ScheduleRuntime:
    runtime = await _store(ctx).get(stored)
    if runtime is None:
        raise ApiProblem(404, f"schedule '{schedule_id}' not found")
    return runtime


@router.post(
    "/schedules",
    summary="Create a schedule that starts a workflow on a cron expression or an interval",
    status_code=201,
    response_model=ScheduleView,
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
async def create_schedule(request: Request, body: ScheduleRequest) -> JSONResponse:
    ctx = context(request)
    _, _, definitions = ctx.ready()
    namespace = principal(request).namespace
    try:
        stored_workflow = qualify(namespace, body.workflow)
        schedule_id = qualify(namespace, body.id or uuid4().hex[:12])
    except NamespaceError as exc:
        raise ApiProblem(422, f"{exc.name}: {exc.reason}") from None
    workflow = await definitions.get(stored_workflow)
    if workflow is None:
        raise ApiProblem(404, f"workflow '{body.workflow}' is not registered")
    errors = workflow.input_errors(body.input)
    if errors:
        issues = [{"path": f"input.{e.partition(': ')[0]}", "message": e} for e in errors]
        raise ApiProblem(
            422, f"input does not match the input schema of {body.workflow}", issues=issues
        )
    now = datetime.now(UTC)
    record = ScheduleRecord(
        **{**body.model_dump(), "id": schedule_id, "workflow": stored_workflow},
        created_at=now,
        created_by=caller_id(request),
    )
    try:
        spec = record.spec()
    except ScheduleError as exc:
        raise _schedule_problem(exc) from None
    doc = json.dumps(record.model_dump(mode="json", by_alias=True))
    store = _store(ctx)
    if sum(belongs(namespace, i) for i in await store.ids()) >= MAX_SCHEDULES:
        raise ApiProblem(
            429, f"quota: a namespace holds at most {MAX_SCHEDULES} schedules; delete some first"
        )
    first = now if record.run_immediately else spec.first(now)  # immediately: one extra
    if not await store.create(record.id, doc, to_ms(first), paused=not record.enabled):
        raise ApiProblem(409, f"schedule '{unqualify(record.id)}' exists already")
    runtime = await _get(ctx, record.id, unqualify(record.id))
    return JSONResponse(_view(runtime, 5), status_code=201)


@router.get(
    "/schedules",
    summary="Every schedule with its next fire times",
    response_model=list[dict[str, Any]],
    description=f"At most {FIRE_TIME_BUDGET} fire times in all: with many schedules each shows "
    "fewer than `upcoming`, and the header `Upcoming-Limited` says how many.",
)
async def list_schedules(request: Request, upcoming: Upcoming = 5) -> JSONResponse:
    store = _store(context(request))
    found = []
    for schedule_id in await store.ids():
        runtime = await store.get(schedule_id) if visible(request, schedule_id) else None
        if runtime is not None:
            found.append((schedule_id, runtime))
    each = min(upcoming, max(1, FIRE_TIME_BUDGET // max(len(found), 1)))
    views = await _views(found, each)
    headers = {"Upcoming-Limited": str(each)} if each < upcoming else None
    return JSONResponse(views, headers=headers)


@router.get(
    "/schedules/{schedule_id}",
    summary="A schedule with its next fire times",
    response_model=ScheduleView,
    responses=NOT_FOUND,
)
async def get_schedule(request: Request, schedule_id: str, upcoming: Upcoming = 5) -> JSONResponse:
    stored = stored_name(request, schedule_id, "schedule")
    runtime = await _get(context(request), stored, schedule_id)
    return JSONResponse(_safe_view(stored, runtime, upcoming))


@router.delete(
    "/schedules/{schedule_id}",
    summary="Delete a schedule (executions it started are kept)",
    status_code=204,
    responses=NOT_FOUND,
)
async def delete_schedule(request: Request, schedule_id: str) -> Response:
    stored = stored_name(request, schedule_id, "schedule")
    if not await _store(context(request)).delete(stored):
        raise ApiProblem(404, f"schedule '{schedule_id}' not found")
    return Response(status_code=204)


async def _set_paused(request: Request, schedule_id: str, paused: bool) -> JSONResponse:
    ctx = context(request)
    stored = stored_name(request, schedule_id, "schedule")
    runtime = await _get(ctx, stored, schedule_id)
    next_ms = None
    if not paused:  # occurrences that fell into the pause are not fired
        try:
            spec = ScheduleRecord.model_validate(runtime.doc).spec()
        except (ScheduleError, ValueError) as exc:
            raise ApiProblem(409, f"schedule '{schedule_id}' cannot resume: {exc}") from None
        next_ms = to_ms(spec.first(datetime.now(UTC)))
    if not await _store(ctx).set_paused(stored, paused, next_ms):
        raise ApiProblem(404, f"schedule '{schedule_id}' not found")
    return JSONResponse(_safe_view(stored, await _get(ctx, stored, schedule_id), 5))


@router.post(
    "/schedules/{schedule_id}/pause",
    summary="Pause a schedule: nothing fires until it is resumed",
    response_model=ScheduleView,
    responses=NOT_FOUND,
)
async def pause_schedule(request: Request, schedule_id: str) -> JSONResponse:
    return await _set_paused(request, schedule_id, True)


@router.post(
    "/schedules/{schedule_id}/resume",
    summary="Resume a schedule from the next fire time after now",
    response_model=ScheduleView,
    responses=NOT_FOUND,
)
async def resume_schedule(request: Request, schedule_id: str) -> JSONResponse:
    return await _set_paused(request, schedule_id, False)
