"""Routes that start, inspect and control executions."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any
from uuid import uuid4

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse

from workflows.contracts import (
    Actor,
    CancelExecution,
    PauseExecution,
    ResumeExecution,
    RetryExecution,
    StartExecution,
    encode,
)
from workflows.services.core.namespaces import belongs, unqualify
from workflows.services.core.redaction import mask_input, redact, secret_values
from workflows.services.core.search_query import MAX_QUERY_CHARS, Predicate, QueryError, parse_query
from workflows.services.core.search_query import Query as SearchQuery
from workflows.services.core.state import TERMINAL_EXECUTION, ExecutionState
from workflows.services.infra.payloads import Payloads
from workflows.services.infra.store import IdempotencyKeyReused
from workflows.services.trigger.auth import principal, stored_name
from workflows.services.trigger.deps import (
    ACCEPTED_TTL_S,
    NOT_FOUND,
    ApiProblem,
    Context,
    caller_id,
    context,
    read_json_body,
    unavailable,
)
from workflows.services.trigger.schemas import (
    CancelRequest,
    ControlAccepted,
    ErrorBody,
    ExecuteAccepted,
    ExecutionResult,
    ExecutionSummary,
    ExecutionView,
    RetryAccepted,
    RetryRequest,
    execution_view,
    pending_view,
)
from workflows.services.trigger.starts import body_digest, key_reused, start_trace
from workflows.services.trigger.stored_definitions import no_such_version

__all__ = ["router"]

router = APIRouter(tags=["executions"])
TERMINAL = frozenset(str(s) for s in TERMINAL_EXECUTION)
RETRYABLE = frozenset({"failed", "cancelled", "timed_out"})
MAX_WAIT_S = 300.0
_INPUT_BODY = {
    "requestBody": {
        "description": "The execution input; must match the workflow's input schema.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def _actor(request: Request) -> Actor:
    caller = caller_id(request)
    return Actor(kind="api", id=None if caller == "anonymous" else caller)


def _input_issues(errors: list[str]) -> list[dict[str, str]]:
    issues = []
    for text in errors:
        path, _, message = text.partition(": ")
        issues.append({"path": path, "message": message or text})
    return issues


async def _load(ctx: Context, execution_id: str, namespace: str) -> ExecutionState | None:
    """The state, None when missing or of another namespace (which must look the same)."""
    store, _, _ = ctx.ready()
    doc = await store.get_state(execution_id)
    state = ExecutionState.model_validate_json(doc) if doc is not None else None
    return state if state is not None and belongs(namespace, state.workflow) else None


async def _accepted(ctx: Context, execution_id: str, namespace: str) -> dict[str, Any] | None:
    store, _, _ = ctx.ready()
    raw = await store.redis.get(ctx.accepted_key(execution_id))
    accepted = json.loads(raw) if raw is not None else None
    if accepted is None or not belongs(namespace, str(accepted.get("workflow") or "")):
        return None
    return {**accepted, "workflow": unqualify(str(accepted["workflow"]))}


async def _mark_accepted(ctx: Context, execution_id: str, workflow: str, version: int) -> None:
    store, _, _ = ctx.ready()
    value = json.dumps({"workflow": workflow, "version": version})
    await store.redis.set(ctx.accepted_key(execution_id), value, ex=ACCEPTED_TTL_S)


async def _status(
    ctx: Context, execution_id: str, namespace: str
) -> tuple[ExecutionState | None, str]:
    """The state (if the orchestrator has it) and its status; 404 when never accepted."""
    state = await _load(ctx, execution_id, namespace)
    if state is not None:
        return state, str(state.status)
    if await _accepted(ctx, execution_id, namespace) is not None:
        return None, "pending"
    raise ApiProblem(404, f"execution '{execution_id}' not found")


async def _wait(
    ctx: Context, execution_id: str, seconds: float, namespace: str
) -> ExecutionState | None:
    """Poll until terminal (5 ms, backing off to 100 ms) or the deadline; the last state seen."""
    deadline = time.monotonic() + seconds
    delay = 0.005
    while True:
        state = await _load(ctx, execution_id, namespace)
        if state is not None and state.terminal:
            return state
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return state
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.1)


@router.post(
    "/workflows/{name}/execute",
    summary="Start an execution; with wait=true answer with its result",
    status_code=202,
    response_model=ExecuteAccepted,
    responses={
        200: {"model": ExecutionResult},
        404: {"model": ErrorBody},
        409: {"model": ErrorBody, "description": "Idempotency-Key reused with another body"},
        422: {"model": ErrorBody},
    },
    openapi_extra=_INPUT_BODY,
)
async def execute(
    request: Request,
    name: str,
    version: Annotated[int | None, Query(ge=1)] = None,
    wait: bool = False,
    wait_s: Annotated[float | None, Query(alias="timeout", gt=0, le=MAX_WAIT_S)] = None,
    priority: Annotated[
        int | None,
        Query(
            ge=-1000,
            le=1000,
            description="this execution's priority (default: the definition's): when a "
            "function with a concurrency limit is backlogged, higher goes first",
        ),
    ] = None,
) -> JSONResponse:
    ctx = context(request)
    store, bus, definitions = ctx.ready()
    namespace = principal(request).namespace
    stored = stored_name(request, name)
    workflow = await definitions.get(stored, version)
    if workflow is None:
        raise await no_such_version(store, stored, name, version)
    data = await read_json_body(request, default={})
    if not isinstance(data, dict):
        raise ApiProblem(422, f"the input of {name} must be a JSON object")
    errors = workflow.input_errors(data)
    if errors:
        raise ApiProblem(
            422, f"input does not match the input schema of {name}", issues=_input_issues(errors)
        )
    execution_id = uuid4().hex
    key = request.headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= 255:
        raise ApiProblem(400, "the Idempotency-Key header must be 1 to 255 characters")
    deduplicated = False
    if key:
        try:
            claimed = await store.claim_idempotency_key(
                stored, key, execution_id, body_digest(data)
            )
        except IdempotencyKeyReused as reused:
            raise key_reused(key, reused.execution_id) from None
        deduplicated, execution_id = claimed != execution_id, claimed
    # A claimed key whose execution has no state yet may belong to a request that died between
    # the claim and the publish (kill -9, or a failed undo): publish its start again, else the
    # execution is lost. The orchestrator ignores a start for an execution that exists.
    earlier = await _load(ctx, execution_id, namespace) if deduplicated else None
    republish = deduplicated and earlier is None
    if not deduplicated or republish:
        start = StartExecution(
            execution_id=execution_id,
            workflow=stored,
            workflow_version=workflow.version,
            input=data,
            idempotency_key=key,
            actor=_actor(request),
            priority=priority,
        )
        await _mark_accepted(ctx, execution_id, stored, workflow.version)
        try:
            trace = start_trace(start, request.headers)
            await bus.publish(ctx.topics.start, encode(start), execution_id, trace)
            await bus.flush()
        except Exception as exc:  # the broker refused: undo the claim so a retry can start it
            if not republish:  # (a republish keeps the claim: a retry publishes again)
                await store.redis.delete(ctx.accepted_key(execution_id))
                if key:
                    await store.redis.delete(ctx.keys.idempotency(stored, key))
            raise unavailable("publish the start command", exc) from None
    accepted = ExecuteAccepted(
        execution_id=execution_id,
        workflow=name,
        version=workflow.version,
        deduplicated=deduplicated,
    )
    if deduplicated:  # the execution's status now, not the status of a fresh start
        accepted.status = str(earlier.status) if earlier is not None else "pending"
    if not wait:
        return JSONResponse(accepted.wire(), status_code=202)
    state = await _wait(ctx, execution_id, wait_s or ctx.settings.wait_timeout_s, namespace)
    if state is None or not state.terminal:
        status = str(state.status) if state is not None else "pending"
        return JSONResponse({**accepted.wire(), "status": status}, status_code=202)
    output = await Payloads(store.redis, ctx.settings).for_display(state.output)  # claim check
    shown = await _shown(ctx, state, {"output": output, "error": state.error})
    result = ExecutionResult(
        execution_id=execution_id,
        status=str(state.status),
        output=shown["output"],
        error=shown["error"],
    )
    return JSONResponse({**result.wire(), "deduplicated": deduplicated}, status_code=200)


@router.get(
    "/executions/{execution_id}",
    summary="An execution's status, steps and progress",
    response_model=ExecutionView,
    responses=NOT_FOUND,
)
async def get_execution(
    request: Request,
    execution_id: str,
    include_metrics: Annotated[bool, Query(alias="includeMetrics")] = False,
    include_audit_trail: Annotated[bool, Query(alias="includeAuditTrail")] = False,
) -> JSONResponse:
    ctx = context(request)
    namespace = principal(request).namespace
    state = await _load(ctx, execution_id, namespace)
    if state is not None:
        view = execution_view(state, include_metrics, include_audit_trail)
        view = await Payloads(ctx.ready()[0].redis, ctx.settings).for_display(view)  # large values
        view["workflow"] = unqualify(state.workflow)
        view = await _shown(ctx, state, view)
        if view.get("traceId") and ctx.settings.trace_url:
            view["traceUrl"] = ctx.settings.trace_url.replace("{traceId}", view["traceId"])
    else:
        accepted = await _accepted(ctx, execution_id, namespace)
        if accepted is None:
            raise ApiProblem(404, f"execution '{execution_id}' not found")
        view = pending_view(execution_id, accepted, include_metrics, include_audit_trail)
    return JSONResponse(view)


@router.get(
    "/executions",
    summary="Recent executions, newest first, filtered; with query or cursor: searched by index",
    response_model=list[ExecutionSummary],
    responses={400: {"model": ErrorBody}},
)
async def list_executions(
    request: Request,
    workflow: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    query: Annotated[
        str | None,
        Query(
            max_length=MAX_QUERY_CHARS,
            description="search: e.g. customerId = 'cust_12345' AND status = 'failed'",
        ),
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=2000, description="the Next-Cursor of the previous page")
    ] = None,
) -> Any:
    store, _, _ = context(request).ready()
    namespace = principal(request).namespace
    if query is not None or cursor is not None:
        return await _search(request, namespace, query or "", workflow, status, limit, cursor)
    if workflow:
        workflow = stored_name(request, workflow)
    out: list[ExecutionSummary] = []
    page, offset, scanned = max(limit, 100), 0, 0
    while len(out) < limit and scanned < 5000:
        ids = await store.recent_executions(page, offset)
        if not ids:
            break
        offset, scanned = offset + len(ids), scanned + len(ids)
        for doc in await store.get_states(ids):
            if doc is None:
                continue
            state = ExecutionState.model_validate_json(doc)
            if not belongs(namespace, state.workflow):
                continue
            if (workflow and state.workflow != workflow) or (status and state.status != status):
                continue
            view = await _shown(context(request), state, execution_view(state, False, False))
            out.append(
                ExecutionSummary.model_validate({**view, "workflow": unqualify(state.workflow)})
            )
            if len(out) >= limit:
                break
    return out


async def _search(
    request: Request,
    namespace: str,
    text: str,
    workflow: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> JSONResponse:
    """A page of the search index (workflows.services.infra.search_index); Next-Cursor: next."""
    store, _, _ = context(request).ready()
    index = store.search
    await store.purge_expired(namespace)  # rows of expired states go first
    try:
        parsed = parse_query(text, await index.columns(namespace))
    except QueryError as exc:
        raise ApiProblem(400, f"query: {exc}") from None
    extra = [
        Predicate(column, "keyword", "=", (value,), 0)
        for column, value in (("workflow", workflow), ("status", status))
        if value
    ]
    parsed = SearchQuery(parsed.predicates + tuple(extra))
    try:
        page = await index.search(namespace, parsed, limit, cursor)
    except ValueError as exc:
        raise ApiProblem(400, str(exc)) from None
    out = []
    for doc in await store.get_states(page.ids) if page.ids else []:
        if doc is None:  # expired since the page was read
            continue
        state = ExecutionState.model_validate_json(doc)
        if not belongs(namespace, state.workflow):
            continue
        view = await _shown(context(request), state, execution_view(state, False, False))
        summary = ExecutionSummary.model_validate({**view, "workflow": unqualify(state.workflow)})
        out.append(summary.model_dump(mode="json", by_alias=True))
    headers = {"Next-Cursor": page.cursor} if page.cursor else {}
    return JSONResponse(out, headers=headers)


async def _shown(ctx: Context, state: ExecutionState, view: dict[str, Any]) -> dict[str, Any]:
    """`view` as the API shows it: the input's secret and password fields masked, and their
    values, whole or any 6+ characters of them, masked everywhere else (outputs, errors,
    steps, audit trail, KPIs), so the CLI and the dashboard never get them either."""
    workflow = await ctx.ready()[2].get(state.workflow, state.workflow_version)
    if workflow is None:
        return view
    schema = workflow.definition.input
    secrets = secret_values(schema, state.input)
    shown: dict[str, Any] = redact(view, secrets) if secrets else dict(view)
    if "input" in view:
        shown["input"] = mask_input(schema, state.input)
    return shown


@router.get(
    "/executions/{execution_id}/logs",
    summary="What the functions logged, per step attempt (workflows.services.infra.attempt_logs)",
    responses=NOT_FOUND,
)
async def execution_logs(
    request: Request, execution_id: str, step: str | None = None
) -> JSONResponse:
    ctx = context(request)
    state, _ = await _status(ctx, execution_id, principal(request).namespace)
    attempts = await ctx.ready()[0].logs.get(execution_id, step) if state is not None else []
    return JSONResponse({"executionId": execution_id, "attempts": attempts})


async def _control(request: Request, execution_id: str, command: Any, action: str) -> JSONResponse:
    ctx = context(request)
    _, bus, _ = ctx.ready()
    _, status = await _status(ctx, execution_id, principal(request).namespace)
    if status in TERMINAL:
        raise ApiProblem(409, f"cannot {action} execution '{execution_id}': it is {status}")
    await bus.publish(ctx.topics.control, encode(command), execution_id)
    await bus.flush()
    body = ControlAccepted(execution_id=execution_id, action=action)
    return JSONResponse(body.wire(), status_code=202)


CONTROL_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": ControlAccepted},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
}


@router.post("/executions/{execution_id}/cancel", summary="Cancel", responses=CONTROL_RESPONSES)
async def cancel(
    request: Request, execution_id: str, body: Annotated[CancelRequest | None, Body()] = None
) -> JSONResponse:
    reason = body.reason if body else None
    command = CancelExecution(execution_id=execution_id, reason=reason, actor=_actor(request))
    return await _control(request, execution_id, command, "cancel")


@router.post("/executions/{execution_id}/pause", summary="Pause", responses=CONTROL_RESPONSES)
async def pause(request: Request, execution_id: str) -> JSONResponse:
    command = PauseExecution(execution_id=execution_id, actor=_actor(request))
    return await _control(request, execution_id, command, "pause")


@router.post("/executions/{execution_id}/resume", summary="Resume", responses=CONTROL_RESPONSES)
async def resume(request: Request, execution_id: str) -> JSONResponse:
    command = ResumeExecution(execution_id=execution_id, actor=_actor(request))
    return await _control(request, execution_id, command, "resume")


@router.post(
    "/executions/{execution_id}/retry",
    summary="Re-run a failed, cancelled or timed-out execution as a new one",
    status_code=202,
    response_model=RetryAccepted,
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
async def retry(
    request: Request, execution_id: str, body: Annotated[RetryRequest | None, Body()] = None
) -> JSONResponse:
    ctx = context(request)
    _, bus, definitions = ctx.ready()
    state, status = await _status(ctx, execution_id, principal(request).namespace)
    if state is None or status not in RETRYABLE:
        raise ApiProblem(
            409,
            f"cannot retry execution '{execution_id}': it is {status}"
            " (only failed, cancelled or timed_out executions can be retried)",
        )
    body = body or RetryRequest()
    workflow = await definitions.get(state.workflow, state.workflow_version)
    if workflow is not None and body.from_step is not None and body.from_step not in workflow.by_id:
        raise ApiProblem(
            422, f"fromStep: workflow {unqualify(state.workflow)} has no step '{body.from_step}'"
        )
    if workflow is not None and body.input is not None:
        errors = workflow.input_errors(body.input)
        if errors:
            message = f"input does not match the input schema of {unqualify(state.workflow)}"
            raise ApiProblem(422, message, issues=_input_issues(errors))
    new_id = uuid4().hex
    command = RetryExecution(
        execution_id=execution_id,
        new_execution_id=new_id,
        from_step=body.from_step,
        input=body.input,
        actor=_actor(request),
    )
    await _mark_accepted(ctx, new_id, state.workflow, state.workflow_version)
    await bus.publish(ctx.topics.control, encode(command), execution_id)
    await bus.flush()
    return JSONResponse(RetryAccepted(execution_id=new_id, retry_of=execution_id).wire(), 202)
