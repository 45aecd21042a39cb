"""Routes for workflow definitions and declared HTTP functions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from services.core.compiled import CompiledWorkflow
from services.core.issues import DefinitionError
from services.core.loader import ParsedText, parse_definition_text
from services.core.namespaces import (
    DEFAULT_NAMESPACE,
    NamespaceError,
    belongs,
    qualify_definition,
    unqualify,
    unqualify_definition,
)
from services.core.validation import compile_workflow
from services.infra.kafka import Bus
from services.infra.store import StateStore
from services.trigger.app import ApiProblem, context
from services.trigger.auth import principal, stored_name, visible
from services.trigger.migrations import check_against_latest, migrate_in_flight
from services.trigger.schemas import (
    ErrorBody,
    FunctionSpec,
    RegisterResponse,
    VersionInfo,
    WorkflowDetail,
    WorkflowSummary,
)

__all__ = ["caller_id", "read_json_body", "router", "store_compiled"]

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
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}
MAX_WORKFLOWS = 500  # per namespace
MAX_VERSIONS = 1000  # per workflow


def caller_id(request: Request) -> str:
    """The API key id an auth layer put on the request, else "anonymous"."""
    return str(getattr(request.state, "api_key_id", None) or "anonymous")


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiProblem(400, f"request body is not valid UTF-8 (byte {exc.start})") from None


async def read_json_body(request: Request, default: Any = None) -> Any:
    """The JSON body, `default` when empty; 400 naming the problem when it is malformed."""
    body = await request.body()
    if not body.strip():
        return default
    try:
        return json.loads(_text(body))
    except json.JSONDecodeError as exc:
        raise ApiProblem(
            400,
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from None


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
        return parse_definition_text(_text(body), fmt)
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
        source=(fmt, _text(body)),
        parsed=parsed,
        bus=context(request).ready()[1],
    )
    return JSONResponse(registered.wire(), status_code=201 if registered.created else 200)


async def store_compiled(
    store: StateStore,
    compiled: CompiledWorkflow,
    registered_by: str,
    *,
    namespace: str,
    source: tuple[str, str] | None = None,
    parsed: ParsedText | None = None,
    bus: Bus | None = None,
) -> RegisterResponse:
    """Register a validated definition in `namespace` (`auth.principal(request).namespace`):
    a new immutable version unless identical to the latest. `source` (format, text): what was
    sent, kept beside a new version so `source` and the diff show it with its comments.
    A new version's `migration` applies to the executions in flight (`trigger.migrations`;
    with `bus`, the controls are sent); `parsed` places a refusal in the text."""
    try:
        wire = qualify_definition(namespace, compiled.definition.to_wire())
    except NamespaceError as exc:
        raise ApiProblem(
            422,
            "invalid workflow definition",
            issues=[{"path": "name", "message": f"{exc.name}: {exc.reason}"}],
        ) from None
    wire.pop("version", None)
    await _check_quota(store, wire["name"], namespace)
    refused = await check_against_latest(store, wire["name"], compiled, parsed)
    if refused:  # resume-at-same-step after a version whose step ids do not line up
        raise ApiProblem(422, "invalid workflow definition", issues=[i.to_json() for i in refused])
    doc = json.dumps(wire, sort_keys=True, separators=(",", ":"))
    meta = {"registeredAt": datetime.now(UTC).isoformat(), "registeredBy": registered_by}
    version, created = await store.register_definition(wire["name"], doc, meta)
    if source is not None:  # the first text of a version wins (hsetnx)
        await store.save_definition_source(wire["name"], version, *source)
    plans = []
    if created and bus is not None:
        plans = await migrate_in_flight(store, bus, namespace, wire["name"], version, registered_by)
    return RegisterResponse(
        name=compiled.name,
        version=version,
        created=created,
        migrations=[plan.wire() for plan in plans],
    )


async def _check_quota(store: StateStore, stored: str, namespace: str) -> None:
    """429 when `namespace` holds `MAX_WORKFLOWS` workflows (and `stored` is new) or
    `stored` has `MAX_VERSIONS` versions."""
    names = await store.definition_names()
    if stored not in names and sum(belongs(namespace, n) for n in names) >= MAX_WORKFLOWS:
        raise ApiProblem(
            429, f"quota: a namespace holds at most {MAX_WORKFLOWS} workflows; delete some first"
        )
    if stored in names and len(await store.definition_versions(stored)) >= MAX_VERSIONS:
        raise ApiProblem(
            429, f"quota: a workflow keeps at most {MAX_VERSIONS} versions; register a new name"
        )


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


async def no_such_version(
    store: StateStore, stored: str, name: str, version: int | None
) -> ApiProblem:
    """The 404 for `name` (stored as `stored`): not registered, or without `version`."""
    latest = await store.get_definition(stored)
    if latest is None:
        return ApiProblem(404, f"workflow '{name}' is not registered")
    return ApiProblem(404, f"workflow '{name}' has no version {version} (latest is {latest[0]})")


async def stored_definition(
    request: Request, name: str, version: int | None
) -> tuple[str, int, dict[str, Any]]:
    """A version (latest if None) of the caller's workflow `name`, as its namespace sees it.

    Returns the stored name, the version number and the definition; 404 if there is none.
    """
    store, _, _ = context(request).ready()
    stored = stored_name(request, name)
    found = await store.get_definition(stored, version)
    if found is None:
        raise await no_such_version(store, stored, name, version)
    number, doc = found
    return stored, number, unqualify_definition(json.loads(doc))


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
