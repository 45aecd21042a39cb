"""The template marketplace over HTTP: search, show, install (-> a registered workflow)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from workflows.services.catalog import CatalogError, instantiate, search
from workflows.services.core.issues import DefinitionError
from workflows.services.core.validation import compile_workflow
from workflows.services.trigger.auth import principal
from workflows.services.trigger.deps import (
    ApiProblem,
    caller_id,
    catalog_of,
    context,
    read_json_body,
)
from workflows.services.trigger.stored_definitions import store_compiled

__all__ = ["router"]

router = APIRouter()


@router.get("/templates", tags=["templates"], summary="Search the template catalog")
async def list_templates(
    request: Request,
    q: Annotated[
        str | None, Query(max_length=200, description="text in id/title/description")
    ] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
) -> list[dict[str, Any]]:
    return [t.summary() for t in search(catalog_of(request), q, tag)]


@router.get("/templates/{template_id}", tags=["templates"], summary="One template, in full")
async def get_template(request: Request, template_id: str) -> dict[str, Any]:
    template = catalog_of(request).get(template_id)
    if template is None:
        raise ApiProblem(404, f"no template {template_id!r}; GET /templates lists them")
    return {
        **template.summary(),
        "parameters": template.parameters,
        "functionNames": template.function_names(),
        "schedule": template.schedule,
        "example": template.example,
        "definition": template.definition,
    }


@router.post(
    "/templates/{template_id}/install",
    tags=["templates"],
    summary="Fill in the parameters and register the result as a workflow",
    status_code=201,
)
async def install_template(request: Request, template_id: str) -> JSONResponse:
    template = catalog_of(request).get(template_id)
    if template is None:
        raise ApiProblem(404, f"no template {template_id!r}; GET /templates lists them")
    body = await read_json_body(request, default={})
    if not isinstance(body, dict):
        raise ApiProblem(422, 'the body must be an object: {"parameters": {...}}')
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise ApiProblem(422, "parameters must be an object")
    try:
        compiled = compile_workflow(instantiate(template, parameters))
    except CatalogError as exc:
        raise ApiProblem(422, str(exc)) from None
    except DefinitionError as exc:
        raise ApiProblem(
            422,
            "the filled-in template is not a valid workflow",
            issues=[i.to_json() for i in exc.issues],
        ) from None
    store, _, _ = context(request).ready()
    namespace = principal(request).namespace
    registered = await store_compiled(store, compiled, caller_id(request), namespace=namespace)
    out = {**registered.wire(), "template": template.id, "functions": template.functions}
    return JSONResponse(out, status_code=201 if registered.created else 200)
