"""Load workflow templates from catalog directories, search them, and fill in parameters.

A template is a YAML file: `id`, `title`, `description`, `tags`, `parameters` (a JSON
Schema whose `default`s make every parameter optional), `functions` (the Python module
with example implementations), an optional `schedule` and `example`, and `definition` —
a workflow definition where `${name}` stands for a parameter. `${name}` alone in a value
keeps the parameter's type; inside a longer string it is interpolated. (`{{...}}` stays
what it always is: a template evaluated when the workflow runs.)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field

from workflows.services.core.compiled import schema_errors

__all__ = [
    "BUILTIN_DIR",
    "Catalog",
    "CatalogError",
    "WorkflowTemplate",
    "instantiate",
    "load_catalog",
]

BUILTIN_DIR = Path(__file__).parent / "templates"
_PARAM = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class CatalogError(ValueError):
    """A template file is broken or parameters do not fit; the message says which."""


class WorkflowTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,100}$")
    title: str
    description: str
    tags: tuple[str, ...] = ()
    functions: str | None = None
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    schedule: dict[str, Any] | None = None
    example: dict[str, Any] | None = None
    definition: dict[str, Any]
    source: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "functions": self.functions,
        }

    def function_names(self) -> list[str]:
        names = {step.get("function") for step in self.definition.get("steps", [])}
        fallbacks = self.definition.get("errorHandling", {}).get("fallbackSteps", {})
        return sorted(n for n in names | set(fallbacks.values()) if isinstance(n, str))


Catalog = dict[str, WorkflowTemplate]


def load_catalog(directories: list[Path | str] | None = None) -> Catalog:
    """Every template in the built-in catalog and in `directories` (later ones win)."""
    catalog: Catalog = {}
    for folder in [BUILTIN_DIR, *(Path(d) for d in directories or [])]:
        for path in sorted(Path(folder).glob("*.yaml")):
            try:
                raw = yaml.safe_load(path.read_text(encoding="utf-8"))
                template = WorkflowTemplate.model_validate({**raw, "source": str(path)})
            except (yaml.YAMLError, ValueError, TypeError) as exc:
                raise CatalogError(f"{path}: {exc}") from None
            catalog[template.id] = template
    return catalog


def search(
    catalog: Catalog, text: str | None = None, tag: str | None = None
) -> list[WorkflowTemplate]:
    needle = (text or "").lower()
    found = []
    for template in catalog.values():
        haystack = " ".join([template.id, template.title, template.description, *template.tags])
        if needle and needle not in haystack.lower():
            continue
        if tag and tag not in template.tags:
            continue
        found.append(template)
    return sorted(found, key=lambda t: t.id)


def _defaults(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties", {})
    return {k: v["default"] for k, v in props.items() if isinstance(v, dict) and "default" in v}


def _fill(value: Any, params: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _PARAM.fullmatch(value)
        if whole:
            return params[whole.group(1)]
        return _PARAM.sub(lambda m: str(params[m.group(1)]), value)
    if isinstance(value, dict):
        return {k: _fill(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, params) for v in value]
    return value


def instantiate(
    template: WorkflowTemplate, parameters: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The workflow definition with parameters filled in (defaults for those not given)."""
    params = {**_defaults(template.parameters), **(parameters or {})}
    problems = schema_errors(Draft202012Validator(template.parameters), params)
    if problems:
        raise CatalogError(f"parameters of {template.id}: " + "; ".join(problems))
    try:
        filled: dict[str, Any] = _fill(template.definition, params)
    except KeyError as exc:
        raise CatalogError(f"{template.id}: parameter {exc.args[0]!r} has no value") from None
    return filled
