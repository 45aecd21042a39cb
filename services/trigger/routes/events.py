"""`POST /events/{type}`: publish an event; workflows whose triggers match it start."""

from __future__ import annotations

from uuid import uuid4

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from workflows.services.core.namespaces import unqualify
from workflows.services.core.triggers import Event, EventError, check_type
from workflows.services.trigger.auth import principal
from workflows.services.trigger.background import TriggerBackground
from workflows.services.trigger.deps import ApiProblem, context, read_json_body, unavailable
from workflows.services.trigger.schemas import ErrorBody

__all__ = ["router"]

router = APIRouter(tags=["events"])
_EVENT_BODY = {
    "requestBody": {
        "description": "The event payload (any JSON); triggers read it as `event`.",
        "content": {"application/json": {"schema": {}}},
    }
}


@router.post(
    "/events/{event_type}",
    summary="Publish an event: start every workflow with a matching trigger",
    status_code=202,
    responses={400: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    openapi_extra=_EVENT_BODY,
)
async def publish_event(request: Request, event_type: str) -> JSONResponse:
    """The header `Event-Id` (or `Idempotency-Key`) names the event: sent again, it is a no-op."""
    ctx = context(request)
    _, bus, _ = ctx.ready()
    background: TriggerBackground = request.app.state.triggers
    try:
        check_type(event_type)
    except EventError as exc:
        raise ApiProblem(422, exc.reason) from None
    event_id = request.headers.get("event-id") or request.headers.get("idempotency-key")
    if event_id is not None and not 0 < len(event_id) <= 255:
        raise ApiProblem(400, "the Event-Id header must be 1 to 255 characters")
    event = Event(event_type, event_id or uuid4().hex, await read_json_body(request, default={}))
    await background.events.refresh()
    routed = await background.events.route(event, principal(request).namespace)
    try:
        await bus.flush()
    except Exception as exc:  # the broker refused: nothing was started
        raise unavailable("publish the start commands", exc) from None
    body = {
        "eventId": event.id,
        "type": event.type,
        "executions": [{**s, "workflow": unqualify(s["workflow"])} for s in routed.started],
        "skipped": [{**s, "workflow": unqualify(s["workflow"])} for s in routed.skipped],
    }
    return JSONResponse(body, status_code=202)
