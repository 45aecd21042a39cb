"""Back-pressure limits over HTTP: declare function limits, list every limit and its holders.

- `GET /limits` (scope `read`): each declared function limit with the calls holding its slots
  (`holder` = `<worker id>/<command id>`, `expiresAt` = when the lease lapses unless renewed)
  and the calls counted in its rate window; each workflow of the caller's namespace with a
  `rateLimit` and the executions counted in its window; the number of parked commands.
- `PUT /limits/functions/{name}` (scope `admin`): declare or replace a function's limit.
- `DELETE /limits/functions/{name}` (scope `admin`): remove it (calls run unlimited).

Function limits are shared by every namespace, like HTTP functions (`POST /functions`);
their holders are calls of executions, and a caller sees only the holders of its own
namespace's executions (an `admin` of `default` sees all): execution ids of one namespace
never show in another's `GET /limits`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from pydantic import Field

from workflows.services.core.definition import WorkflowDefinition
from workflows.services.core.limits import FunctionLimit, Held, RateLimit, rate_window_ms
from workflows.services.core.namespaces import DEFAULT_NAMESPACE, belongs, unqualify
from workflows.services.dispatcher.breaker import CircuitBreakers
from workflows.services.infra.api_keys import granted
from workflows.services.infra.leases import Leases, ParkedCommands
from workflows.services.infra.limiter import FunctionLimits
from workflows.services.trigger.auth import principal, visible
from workflows.services.trigger.deps import ApiProblem, context
from workflows.services.trigger.schemas import ApiModel, ErrorBody

__all__ = ["FunctionLimitState", "HolderView", "LimitsView", "WorkflowLimitState", "router"]

router = APIRouter(tags=["limits"])


class HolderView(ApiModel):
    holder: str = Field(description="`<worker id>/<command id>` or an execution id")
    expires_at: datetime = Field(description="when the slot frees unless renewed / leaves")


class CircuitView(ApiModel):
    state: str = Field(description="closed, open or half_open")
    failures: int = Field(description="failed calls in a row while closed")
    open_until: datetime | None = Field(description="open: when trial calls may go through")
    opened: int = Field(description="how often the circuit opened")


class FunctionLimitState(ApiModel):
    name: str
    limit: FunctionLimit
    holders: list[HolderView] = Field(description="calls holding a concurrency slot")
    in_window: list[HolderView] = Field(description="calls counted by the rate limit")
    circuit: CircuitView | None = Field(default=None, description="with a circuitBreaker")


class WorkflowLimitState(ApiModel):
    name: str
    rate_limit: RateLimit
    in_window: list[HolderView] = Field(description="executions counted by the rate limit")


class LimitsView(ApiModel):
    functions: list[FunctionLimitState]
    workflows: list[WorkflowLimitState]
    parked: int = Field(description="step commands waiting for a slot")


def _execution_of(holder: str) -> str:
    """`<worker id>/<execution>:<step>:<attempt>` (or a bare command id) -> the execution."""
    command = holder.rsplit("/", 1)[-1]
    return command.rsplit(":", 2)[0] if command.count(":") >= 2 else command


async def _own(request: Request, held: list[Held]) -> list[Held]:
    """The holders whose execution belongs to the caller's namespace (all for an admin of
    the default namespace)."""
    caller = principal(request)
    if not held or (caller.namespace == DEFAULT_NAMESPACE and granted(caller.scopes, "admin")):
        return held
    store, _, _ = context(request).ready()
    docs = await store.get_states([_execution_of(h.holder) for h in held])
    keep = []
    for holder, doc in zip(held, docs, strict=True):
        workflow = json.loads(doc).get("workflow") if doc is not None else None
        if isinstance(workflow, str) and belongs(caller.namespace, workflow):
            keep.append(holder)
    return keep


def _views(held: list[Held]) -> list[HolderView]:
    return [
        HolderView(holder=h.holder, expires_at=datetime.fromtimestamp(h.expires_at_ms / 1000, UTC))
        for h in sorted(held, key=lambda h: h.expires_at_ms)
    ]


@router.get(
    "/limits",
    summary="Function and workflow limits with the holders of their slots",
    response_model=LimitsView,
)
async def list_limits(request: Request) -> LimitsView:
    store, _, _ = context(request).ready()
    keys, leases = store.keys, Leases(store.redis)
    functions = []
    for name, limit in sorted((await FunctionLimits(store.redis, keys).all()).items()):
        holders = await _own(request, await leases.lease_holders(keys.function_lease(name), name))
        window: list[Held] = []
        if limit.rate_limit is not None:
            window = await _own(
                request,
                await leases.window_holders(
                    keys.function_rate(name), name, rate_window_ms(limit.rate_limit)
                ),
            )
        circuit = None
        if limit.circuit_breaker is not None:
            now = await CircuitBreakers(store.redis, keys.prefix).state(name)
            until = now["openUntilMs"]
            circuit = CircuitView(
                state=now["state"],
                failures=now["failures"],
                open_until=datetime.fromtimestamp(until / 1000, UTC) if until else None,
                opened=now["opened"],
            )
        functions.append(
            FunctionLimitState(
                name=name,
                limit=limit,
                holders=_views(holders),
                in_window=_views(window),
                circuit=circuit,
            )
        )
    workflows = []
    for stored in sorted(await store.definition_names()):
        found = await store.get_definition(stored) if visible(request, stored) else None
        if found is None:
            continue
        rate = WorkflowDefinition.model_validate(json.loads(found[1])).rate_limit
        if rate is not None:
            window = await leases.window_holders(
                keys.workflow_rate(stored), stored, rate_window_ms(rate)
            )
            workflows.append(
                WorkflowLimitState(
                    name=unqualify(stored), rate_limit=rate, in_window=_views(window)
                )
            )
    parked = await ParkedCommands(store.redis, keys.parked).count()
    return LimitsView(functions=functions, workflows=workflows, parked=parked)


def _shared_only(request: Request) -> None:
    if principal(request).namespace != DEFAULT_NAMESPACE:
        raise ApiProblem(403, "function limits are shared: set them with a default-namespace key")


@router.put(
    "/limits/functions/{name}",
    summary="Declare or replace a function's limits (concurrency, rate)",
    response_model=FunctionLimit,
    responses={403: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
async def put_function_limit(request: Request, name: str, limit: FunctionLimit) -> FunctionLimit:
    store, _, _ = context(request).ready()
    _shared_only(request)
    await FunctionLimits(store.redis, store.keys).put(name, limit)
    return limit


@router.delete(
    "/limits/functions/{name}",
    summary="Remove a function's limits",
    status_code=204,
    responses={404: {"model": ErrorBody}},
)
async def delete_function_limit(request: Request, name: str) -> Response:
    store, _, _ = context(request).ready()
    _shared_only(request)
    if not await FunctionLimits(store.redis, store.keys).delete(name):
        raise ApiProblem(404, f"function '{name}' has no limits")
    return Response(status_code=204)
