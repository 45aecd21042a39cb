"""Authoring routes behind the dashboard's editor: check, draw, dry-run, diff and draft.

- `POST /workflows/validate` checks definition text with the code `workflows validate`
  runs (`workflows.services.core.checking`) and, when it is valid, returns its step graph.
- `POST /workflows/simulate` dry-runs definition text with mocked step outputs.
- `GET /workflows/{name}/source` a registered version as text to edit, as registered.
- `GET /workflows/{name}/diff?from=&to=` two versions side by side, as registered.
- `POST /templates/{id}/draft` a catalog template filled in, as text, without registering it.

Nothing here writes: saving goes through `POST /workflows` like any other registration.
This router is included before the workflow routes so `/workflows/validate` is never
taken for a workflow's name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Query, Request
from pydantic import Field

from workflows.services.catalog import CatalogError, instantiate
from workflows.services.core.checking import TextCheck, check_text
from workflows.services.core.definition import WorkflowDefinition
from workflows.services.core.dry_run import dry_run_report
from workflows.services.core.graph import step_graph
from workflows.services.core.simulate import simulate
from workflows.services.core.textdiff import side_by_side
from workflows.services.trigger.deps import ApiProblem, catalog_of, context
from workflows.services.trigger.input_guard import yaml_expansion_problem
from workflows.services.trigger.schemas import ApiModel
from workflows.services.trigger.stored_definitions import stored_definition

__all__ = ["definition_text", "router"]

router = APIRouter(tags=["authoring"])
MAX_TEXT = 1_000_000


class CheckRequest(ApiModel):
    text: str = Field(max_length=MAX_TEXT, description="the definition, as YAML or JSON text")
    format: Literal["yaml", "json"] = "yaml"


class SimulateRequest(CheckRequest):
    input: dict[str, Any] = Field(default_factory=dict, description="the execution input")
    mocks: dict[str, Any] = Field(
        default_factory=dict, description="step id (or function name) -> output; default {}"
    )
    fail: list[str] = Field(default_factory=list, description="steps whose every attempt fails")


class DraftRequest(ApiModel):
    parameters: dict[str, Any] = Field(default_factory=dict)
    format: Literal["yaml", "json"] = "yaml"


def definition_text(definition: dict[str, Any], fmt: str = "yaml") -> str:
    """A definition as editable text, fields in the definition format's order."""
    wire = WorkflowDefinition.model_validate(definition).to_wire()
    wire.pop("version", None)
    if fmt == "json":
        return json.dumps(wire, indent=2, ensure_ascii=False) + "\n"
    dumped: str = yaml.safe_dump(wire, sort_keys=False, allow_unicode=True, width=100)
    return dumped


def _checked(body: CheckRequest) -> TextCheck:
    """`check_text`, after refusing text whose YAML aliases would expand it past the limit
    (measured before expansion: a 431-byte bomb expanded to 4.7 MB in 5 s)."""
    problem = yaml_expansion_problem(body.text)
    if problem is not None:
        raise ApiProblem(413, f"text: {problem}", issues=[{"path": "text", "message": problem}])
    return check_text(body.text, body.format)


def _issues(result: TextCheck) -> list[dict[str, Any]]:
    return [{**issue.to_json(), "offset": result.offset(issue)} for issue in result.issues]


@router.post("/workflows/validate", summary="Check definition text as `workflows validate` does")
async def validate_text(body: CheckRequest) -> dict[str, Any]:
    """Every problem with its path, file line, column and the CLI's text; the step graph when
    the definition is valid. Always 200: the verdict is `ok`."""
    result = _checked(body)
    out: dict[str, Any] = {"ok": result.ok, "issues": _issues(result)}
    if result.compiled is not None:
        out["name"] = result.compiled.name
        out["steps"] = len(result.compiled.steps)
        out["input"] = result.compiled.definition.input
        out["definition"] = result.compiled.definition.to_wire()  # what saving registers
        out["graph"] = step_graph(result.compiled, result.parsed).wire()
    return out


@router.post("/workflows/simulate", summary="Dry-run definition text with mocked step outputs")
async def simulate_text(body: SimulateRequest) -> dict[str, Any]:
    result = _checked(body)
    if result.compiled is None:
        raise ApiProblem(422, "invalid workflow definition", issues=_issues(result))
    wf = result.compiled
    problems = wf.input_errors(body.input)
    if problems:
        issues = [{"path": p.split(": ", 1)[0], "message": p.split(": ", 1)[-1]} for p in problems]
        raise ApiProblem(422, "input does not match the input schema", issues=issues)
    unknown = sorted(set(body.fail) - set(wf.by_id))
    if unknown:
        raise ApiProblem(422, f"fail names unknown steps: {', '.join(unknown)}")
    simulated = simulate(wf, body.input, body.mocks, set(body.fail))
    return {**dry_run_report(wf, simulated), "graph": step_graph(wf, result.parsed).wire()}


@dataclass(frozen=True, slots=True)
class _Version:
    number: int
    definition: Any
    registered: tuple[str, str] | None  # (format, text) as sent; None before it was kept

    def text(self, fmt: str | None) -> tuple[str, str, bool]:
        """(format, text, as registered): the registered text unless another format is asked."""
        if self.registered is not None and fmt in (None, self.registered[0]):
            return self.registered[0], self.registered[1], True
        chosen = fmt or "yaml"
        return chosen, definition_text(self.definition, chosen), False


async def _version(request: Request, name: str, version: int | None) -> _Version:
    """A version of a workflow of the caller's namespace, as the caller names it."""
    stored, number, definition = await stored_definition(request, name, version)
    registered = await context(request).ready()[0].definition_source(stored, number)
    return _Version(number, definition, registered)


@router.get("/workflows/{name}/source", summary="A registered version as text to edit")
async def workflow_source(
    request: Request,
    name: str,
    version: Annotated[int | None, Query(ge=1)] = None,
    fmt: Annotated[Literal["yaml", "json"] | None, Query(alias="format")] = None,
) -> dict[str, Any]:
    """The text as registered (comments, key order and explicit defaults kept) unless `format`
    asks for the other one; a version registered before texts were kept is rendered as YAML."""
    found = await _version(request, name, version)
    chosen, text, as_registered = found.text(fmt)
    return {
        "name": name,
        "version": found.number,
        "format": chosen,
        "text": text,
        "asRegistered": as_registered,
    }


@router.get("/workflows/{name}/diff", summary="Two versions of a workflow side by side")
async def workflow_diff(
    request: Request,
    name: str,
    from_version: Annotated[int, Query(alias="from", ge=1)],
    to_version: Annotated[int, Query(alias="to", ge=1)],
) -> dict[str, Any]:
    """The two texts as registered when both were sent in one format, else both as YAML."""
    left = await _version(request, name, from_version)
    right = await _version(request, name, to_version)
    same_format = left.registered and right.registered and left.registered[0] == right.registered[0]
    fmt = None if same_format else "yaml"
    (chosen, left_text, as_registered), (_, right_text, _) = left.text(fmt), right.text(fmt)
    rows = side_by_side(left_text, right_text)
    changed = sum(1 for row in rows if row["kind"] != "same")
    return {
        "name": name,
        "from": from_version,
        "to": to_version,
        "format": chosen,
        "asRegistered": as_registered,
        "changed": changed,
        "rows": rows,
    }


@router.post("/templates/{template_id}/draft", summary="A template filled in, as text to edit")
async def template_draft(request: Request, template_id: str, body: DraftRequest) -> dict[str, Any]:
    template = catalog_of(request).get(template_id)
    if template is None:
        raise ApiProblem(404, f"no template {template_id!r}; GET /templates lists them")
    try:
        filled = instantiate(template, body.parameters)
    except CatalogError as exc:
        raise ApiProblem(422, str(exc)) from None
    try:
        text = definition_text(filled, body.format)
    except ValueError as exc:
        raise ApiProblem(422, f"the filled-in template is not a definition: {exc}") from None
    return {"template": template.id, "format": body.format, "text": text}
