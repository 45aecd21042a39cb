"""JSON Schema of a pydantic model as a person would write it in YAML.

`model_json_schema()` adds what a hand-written schema does not have: a `title` on the model and
on every field, and for an optional field (`x: str | None = None`) `anyOf: [str, null]` with
`default: null`. A definition written in Python must register as the same definition as its YAML
twin, so here an optional field is its type, left out of `required`, and titles go (a docstring
or `Field(description=...)` documents a field and is kept).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

__all__ = ["model_schema"]

# Keywords whose value is a map of names to schemas, or a list of schemas, or one schema.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions"})
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SCHEMA_ONE = frozenset(
    {"items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else"}
)


class _AsWritten(GenerateJsonSchema):
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        inner = schema["schema"]
        if schema.get("default", ...) is None and inner["type"] == "nullable":
            return self.generate_inner(inner["schema"])  # optional: absent, never null
        return super().default_schema(schema)


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with generated titles dropped and optional fields plain."""
    return _drop_titles(model.model_json_schema(schema_generator=_AsWritten))  # type: ignore[no-any-return]


def _drop_titles(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title":
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _drop_titles(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_drop_titles(sub) for sub in value]
        elif key in _SCHEMA_ONE:
            out[key] = _drop_titles(value)
        else:
            out[key] = value
    return out
