"""Routes that feed waiting steps: signals, correlated events and approval decisions.

- `POST /executions/{id}/signal` `{name, payload, correlation?}`: a signal for one execution
  (a step waiting for event type `name` takes it; otherwise it is buffered).
- `POST /signals/{type}` `{correlation, payload}`: an event for every execution waiting for
  `type` with that correlation (buffered for `signal_buffer_s` when none waits yet).
- `POST /executions/{id}/approvals/{stepId}` `{approver, decision, comment}`: a decision on
  a waiting `approval` step; the approver must be one of its (current) approvers.
- `GET /executions/{id}/waits`: the steps waiting now and what for (approvers, deadline...).

The header `Signal-Id` (or `Idempotency-Key`) names a signal: sent again, it is applied once.
A signal's payload is at most `MAX_SIGNAL_BYTES` of JSON (413 naming `payload`): a signal
that nobody waits for yet sits in Redis for `signal_buffer_s`, and must not sit there big.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import uuid4

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from workflows.contracts import Actor, encode
from workflows.services.core.namespaces import belongs
from workflows.services.core.payload_refs import human_size, json_bytes
from workflows.services.core.state import ExecutionState, StepStatus
from workflows.services.core.waits import APPROVAL_SIGNAL, current_approvers
from workflows.services.infra.api_keys import granted
from workflows.services.infra.waits import deliver_event_to_waits, signal_message
from workflows.services.trigger.auth import principal
from workflows.services.trigger.deps import (
    NOT_FOUND,
    ApiProblem,
    Context,
    caller_id,
    context,
    unavailable,
)
from workflows.services.trigger.schemas import ApiModel, ErrorBody

__all__ = ["router"]

router = APIRouter(tags=["signals"])
MAX_SIGNAL_BYTES = 256 * 1024
NAME = r"^[A-Za-z0-9_.:-]{1,200}$"
RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    422: {"model": ErrorBody},
}


class SignalRequest(ApiModel):
    name: str = Field(pattern=NAME)
    payload: Any = None
    correlation: str | None = Field(default=None, max_length=1000)


class EventSignalRequest(ApiModel):
    correlation: str = Field(min_length=1, max_length=1000)
    payload: Any = None


class ApprovalRequest(ApiModel):
    approver: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="who decides; default: the approver the API key is bound to "
        "(`workflows keys create --approver NAME`). Naming another approver needs an "
        "unbound `admin` key, which decides on their behalf (recorded as decidedBy)",
    )
    decision: Literal["approve", "reject"]
    comment: str | None = Field(default=None, max_length=10_000)


class SignalAccepted(ApiModel):
    signal_id: str
    executions: list[str]
    buffered: bool = False


def _signal_id(request: Request) -> str:
    value = request.headers.get("signal-id") or request.headers.get("idempotency-key")
    if value is not None and not 0 < len(value) <= 255:
        raise ApiProblem(400, "the Signal-Id header must be 1 to 255 characters")
    return value or uuid4().hex


def _api_actor(request: Request) -> Actor:
    caller = caller_id(request)
    return Actor(kind="api", id=None if caller == "anonymous" else caller)


async def _owned(request: Request, execution_id: str) -> ExecutionState:
    """The execution's state; 404 when missing or of another namespace (indistinguishable)."""
    store, _, _ = context(request).ready()
    doc = await store.get_state(execution_id)
    state = ExecutionState.model_validate_json(doc) if doc is not None else None
    if state is None or not belongs(principal(request).namespace, state.workflow):
        raise ApiProblem(404, f"execution '{execution_id}' not found")
    return state


async def _running(request: Request, execution_id: str) -> ExecutionState:
    state = await _owned(request, execution_id)
    if state.terminal:
        raise ApiProblem(409, f"execution '{execution_id}' is {state.status.value}")
    return state


def _check_payload(payload: Any) -> None:
    size = len(json_bytes(payload))
    if size > MAX_SIGNAL_BYTES:
        raise ApiProblem(
            413,
            f"payload: {human_size(size)} is above the {human_size(MAX_SIGNAL_BYTES)} limit "
            "of a signal (send a reference to the data instead)",
            issues=[{"path": "payload", "message": "too large"}],
        )


async def _publish(ctx: Context, message: Any) -> None:
    _, bus, _ = ctx.ready()
    try:
        await bus.publish(ctx.topics.control, encode(message), message.execution_id)
        await bus.flush()
    except Exception as exc:  # the broker refused
        raise unavailable("publish the signal", exc) from None


@router.post(
    "/executions/{execution_id}/signal",
    summary="Send a signal to an execution (a waitForEvent step for that name takes it)",
    status_code=202,
    response_model=SignalAccepted,
    responses=RESPONSES,
)
async def signal_execution(
    request: Request, execution_id: str, body: Annotated[SignalRequest, Body()]
) -> JSONResponse:
    ctx = context(request)
    _check_payload(body.payload)
    await _running(request, execution_id)
    message = signal_message(
        execution_id,
        body.name,
        body.payload,
        correlation=body.correlation,
        signal_id=_signal_id(request),
        actor=_api_actor(request),
    )
    await _publish(ctx, message)
    accepted = SignalAccepted(signal_id=message.signal_id, executions=[execution_id])
    return JSONResponse(accepted.wire(), status_code=202)


@router.post(
    "/signals/{event_type}",
    summary="Deliver an event to the executions waiting for it with this correlation",
    status_code=202,
    response_model=SignalAccepted,
    responses=RESPONSES,
)
async def signal_waits(
    request: Request, event_type: str, body: Annotated[EventSignalRequest, Body()]
) -> JSONResponse:
    ctx = context(request)
    store, bus, _ = ctx.ready()
    if len(event_type) > 200 or not event_type.strip():
        raise ApiProblem(422, "the event type must be 1 to 200 characters")
    _check_payload(body.payload)
    signal_id = _signal_id(request)
    try:
        targets, buffered = await deliver_event_to_waits(
            store.redis,
            bus,
            ctx.settings,
            event_type,
            body.payload,
            body.correlation,
            signal_id=signal_id,
            actor=_api_actor(request),
            namespace=principal(request).namespace,
        )
        await bus.flush()
    except Exception as exc:  # the broker refused
        raise unavailable("publish the signal", exc) from None
    accepted = SignalAccepted(signal_id=signal_id, executions=targets, buffered=buffered)
    return JSONResponse(accepted.wire(), status_code=202)


def _approver(request: Request, body: ApprovalRequest) -> tuple[str, str | None]:
    """(who decides, the key deciding on their behalf or None): a key bound to an approver
    decides as that approver only; an unbound key names one only with `admin`."""
    caller = principal(request)
    approver = body.approver or caller.approver
    if approver is None:
        raise ApiProblem(
            422,
            "approver: required (this API key is not bound to an approver: create one with "
            "`workflows keys create --approver NAME`)",
        )
    if caller.approver is not None:
        if approver != caller.approver:
            raise ApiProblem(
                403,
                f"API key {caller.key_id} decides as '{caller.approver}' only, not as '{approver}'",
            )
        return approver, None
    if not granted(caller.scopes, "admin"):
        raise ApiProblem(
            403,
            f"API key {caller.key_id} is not bound to an approver: deciding as '{approver}' "
            f"needs a key created with `workflows keys create --approver {approver[:50]}` "
            "(or an admin key, which decides on the approver's behalf)",
        )
    return approver, caller.key_id


@router.post(
    "/executions/{execution_id}/approvals/{step_id}",
    summary="Approve or reject a waiting approval step",
    status_code=202,
    response_model=SignalAccepted,
    responses={**RESPONSES, 403: {"model": ErrorBody}},
)
async def decide(
    request: Request, execution_id: str, step_id: str, body: Annotated[ApprovalRequest, Body()]
) -> JSONResponse:
    ctx = context(request)
    state = await _running(request, execution_id)
    run = state.steps.get(step_id)
    if run is None:
        raise ApiProblem(404, f"execution '{execution_id}' has no step '{step_id}'")
    wait = run.wait or {}
    if run.status != StepStatus.WAITING or wait.get("kind") != "approval":
        raise ApiProblem(409, f"step '{step_id}' is {run.status.value}, not waiting for approval")
    approver, on_behalf = _approver(request, body)
    if approver not in current_approvers(wait):
        allowed = ", ".join(current_approvers(wait))
        raise ApiProblem(403, f"'{approver}' is not an approver of '{step_id}' ({allowed})")
    if approver in wait.get("decisions", {}):
        raise ApiProblem(409, f"'{approver}' has already decided on '{step_id}'")
    payload = {**body.wire(), "approver": approver}
    if on_behalf is not None:
        payload["decidedBy"] = on_behalf
    message = signal_message(
        execution_id,
        APPROVAL_SIGNAL,
        payload,
        step_id=step_id,
        signal_id=_signal_id(request),
        actor=Actor(kind="user", id=approver),
    )
    await _publish(ctx, message)
    accepted = SignalAccepted(signal_id=message.signal_id, executions=[execution_id])
    return JSONResponse(accepted.wire(), status_code=202)


@router.get(
    "/executions/{execution_id}/waits",
    summary="The steps waiting now: sleeps, events, approvals (approvers, deadline, decisions)",
    responses=NOT_FOUND,
)
async def waits(request: Request, execution_id: str) -> JSONResponse:
    state = await _owned(request, execution_id)
    body: dict[str, Any] = {}
    for step_id, run in state.steps.items():
        if run.status == StepStatus.WAITING and run.wait:
            wait = {k: v for k, v in run.wait.items() if k not in ("signalIds", "received")}
            if wait.get("kind") == "approval":
                wait["approvers"] = current_approvers(run.wait)
            body[step_id] = wait
    return JSONResponse({"executionId": execution_id, "status": str(state.status), "waits": body})
