"""Routes for workflow definitions and declared HTTP functions."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from workflows.services.core.issues import DefinitionError
from workflows.services.core.loader import ParsedText, parse_definition_text
from workflows.services.core.namespaces import (
    DEFAULT_NAMESPACE,
    unqualify,
)
from workflows.services.core.validation import compile_workflow
from workflows.services.trigger.auth import principal, visible
from workflows.services.trigger.deps import NOT_FOUND, ApiProblem, body_text, caller_id, context
from workflows.services.trigger.schemas import (
    ErrorBody,
    FunctionSpec,
    RegisterResponse,
    VersionInfo,
    WorkflowDetail,
    WorkflowSummary,
)
from workflows.services.trigger.stored_definitions import store_compiled, stored_definition

__all__ = ["router"]

router = APIRouter()
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
_DEFINITION_BODY = {
    "requestBody": {
        "required": True,
        "description": "A workflow definition (camelCase), as JSON or YAML.",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


def _format_of(request: Request) -> str:
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media in YAML_TYPES:
        return "yaml"
    if media == "application/json" or media.endswith("+json") or not media:
        return "json"
    raise ApiProblem(
        415, f"unsupported content type {media!r}: send application/json or application/yaml"
    )


def _parse_definition(fmt: str, body: bytes) -> ParsedText:
    if not body.strip():
        raise ApiProblem(400, "request body is empty: send a workflow definition")
    try:
        return parse_definition_text(body_text(body), fmt)
    except DefinitionError as exc:
        raise ApiProblem(
            422, "invalid workflow definition", issues=[i.to_json() for i in exc.issues]
        ) from None


@router.post(
    "/workflows",
    tags=["workflows"],
    summary="Register a workflow definition (a new immutable version unless identical)",
    status_code=201,
    response_model=RegisterResponse,
    responses={200: {"model": RegisterResponse}, 422: {"model": ErrorBody}},
    openapi_extra=_DEFINITION_BODY,
)
async def register_workflow(request: Request) -> JSONResponse:
    store, _, _ = context(request).ready()
    fmt, body = _format_of(request), await request.body()
    parsed = _parse_definition(fmt, body)
    try:
        compiled = compile_workflow(parsed.data, parsed)
    except DefinitionError as exc:
        raise ApiProblem(
            422, "invalid workflow definition", issues=[i.to_json() for i in exc.issues]
        ) from None
    namespace = principal(request).namespace
    registered = await store_compiled(
        store,
        compiled,
        caller_id(request),
        namespace=namespace,
        source=(fmt, body_text(body)),
        parsed=parsed,
        bus=context(request).ready()[1],
    )
    return JSONResponse(registered.wire(), status_code=201 if registered.created else 200)


@router.get(
    "/workflows",
    tags=["workflows"],
    summary="Registered workflows with their latest version",
    response_model=list[WorkflowSummary],
)
async def list_workflows(request: Request) -> list[WorkflowSummary]:
    store, _, _ = context(request).ready()
    out = []
    for name in await store.definition_names():
        found = await store.get_definition(name) if visible(request, name) else None
        if found is not None:
            version, doc = found
            description = str(json.loads(doc).get("description", ""))
            out.append(
                WorkflowSummary(
                    name=unqualify(name), latest_version=version, description=description
                )
            )
    return out


@router.get(
    "/workflows/{name}",
    tags=["workflows"],
    summary="A workflow definition (latest or `version`) and its versions",
    response_model=WorkflowDetail,
    responses=NOT_FOUND,
)
async def get_workflow(
    request: Request, name: str, version: Annotated[int | None, Query(ge=1)] = None
) -> WorkflowDetail:
    store, _, _ = context(request).ready()
    stored, number, definition = await stored_definition(request, name, version)
    versions = [
        VersionInfo(
            version=v,
            registered_at=meta.get("registeredAt"),
            registered_by=meta.get("registeredBy"),
        )
        for v, meta in sorted((await store.definition_versions(stored)).items())
    ]
    return WorkflowDetail(
        name=name,
        version=number,
        description=str(definition.get("description", "")),
        definition=definition,
        versions=versions,
    )


@router.post(
    "/functions",
    tags=["functions"],
    summary="Declare an HTTP function the dispatcher calls for steps using it",
    status_code=201,
    response_model=FunctionSpec,
)
async def declare_function(request: Request, spec: FunctionSpec) -> FunctionSpec:
    store, _, _ = context(request).ready()
    if principal(request).namespace != DEFAULT_NAMESPACE:  # functions serve every namespace
        raise ApiProblem(
            403, "HTTP functions are shared: declare them with a default-namespace key"
        )
    await store.declare_function(spec.name, spec.wire())
    return spec


@router.get(
    "/functions",
    tags=["functions"],
    summary="Declared HTTP functions",
    response_model=list[FunctionSpec],
)
async def list_functions(request: Request) -> list[FunctionSpec]:
    store, _, _ = context(request).ready()
    found = await store.http_functions()
    return [FunctionSpec.model_validate(found[name]) for name in sorted(found)]
