"""Search attributes: business fields an execution is indexed by (pure: no I/O).

A definition declares them under `searchAttributes`, each a template over the execution's
data (`input`, succeeded step outputs, `execution`) and a type:

    searchAttributes:
      customerId: '{{input.customerId}}'            # keyword (the default)
      amount: {value: '{{input.amount}}', type: number}
      dueAt: {value: '{{input.dueAt}}', type: time}  # ISO 8601 text or epoch ms

They are rendered at every save of the execution, so an attribute read from a step output
appears once that step succeeded. A value that does not render (missing, wrong type) is
left out: the execution is then not found by that attribute. Built-in columns
(`workflow`, `status`, `version`, `startedAt`, `endedAt`) cannot be redeclared.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from workflows.services.core.expressions import ExpressionError, to_json_value
from workflows.services.core.templates import Template, compile_template

__all__ = [
    "ATTRIBUTE_NAME_PATTERN",
    "BUILTIN_COLUMNS",
    "MAX_ATTRIBUTES",
    "MAX_KEYWORD_CHARS",
    "SearchAttribute",
    "SearchAttributes",
    "attribute_value",
    "check_names",
]

ATTRIBUTE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
BUILTIN_COLUMNS: dict[str, str] = {
    "workflow": "keyword",
    "status": "keyword",
    "version": "number",
    "startedAt": "time",
    "endedAt": "time",
}
MAX_ATTRIBUTES = 32
MAX_KEYWORD_CHARS = 256
AttributeType = Literal["keyword", "number", "time"]


class SearchAttribute(BaseModel):
    """One attribute: `value` (a template) and its `type`; a bare string is a keyword."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str = Field(min_length=1, max_length=4096, description="a template")
    type: AttributeType = "keyword"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"value": value} if isinstance(value, str) else value

    @field_validator("value")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            compile_template(value)
        except ExpressionError as exc:
            raise ValueError(str(exc)) from None
        return value


def check_names(attributes: dict[str, SearchAttribute]) -> dict[str, SearchAttribute]:
    """Refuse reserved, malformed or too many names (a ValueError naming the attribute)."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise ValueError(f"at most {MAX_ATTRIBUTES} search attributes")
    for name in attributes:
        if not re.match(ATTRIBUTE_NAME_PATTERN, name):
            raise ValueError(f"'{name}': a name is a letter or '_' then letters, digits, '_'")
        if name in BUILTIN_COLUMNS:
            raise ValueError(f"'{name}' is a built-in column; choose another name")
    return attributes


SearchAttributes = Annotated[dict[str, SearchAttribute], AfterValidator(check_names)]


@lru_cache(maxsize=4096)
def _compiled(source: str) -> Template:
    return compile_template(source)


def _time_ms(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if math.isfinite(value) and abs(value) < 1e15 else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            return None  # a time without its zone means nothing to compare
        return int(moment.timestamp() * 1000)
    return None


def attribute_value(attribute: SearchAttribute, context: Mapping[str, Any]) -> str | float | None:
    """The attribute rendered against `context` as its type, or None when it has no value:
    keyword -> text (numbers and booleans as JSON text, cut at MAX_KEYWORD_CHARS, control
    characters dropped), number -> finite float, time -> epoch ms."""
    try:
        rendered = to_json_value(_compiled(attribute.value).render(context))
    except (ExpressionError, ValueError, TypeError, RecursionError):
        return None
    if rendered is None:
        return None
    if attribute.type == "number":
        if isinstance(rendered, bool) or not isinstance(rendered, int | float | str):
            return None
        try:
            number = float(rendered)
        except (ValueError, OverflowError):
            return None
        return number if math.isfinite(number) else None
    if attribute.type == "time":
        ms = _time_ms(rendered)
        return float(ms) if ms is not None else None
    if isinstance(rendered, bool):
        text = "true" if rendered else "false"
    elif isinstance(rendered, int | float | str):
        text = str(rendered)
    else:
        return None
    text = "".join(ch for ch in text if ch >= " ")[:MAX_KEYWORD_CHARS]
    return text or None
