"""Parse definition text (YAML or JSON) into data, remembering where each value sits.

Pure: takes text, never opens files. Locations let validation errors name a line as
well as a path, which editors and the dashboard use to point at the problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from workflows.services.core.issues import DefinitionError, ValidationIssue

__all__ = ["MAX_DEFINITION_BYTES", "MAX_DEPTH", "ParsedText", "parse_definition_text"]

MAX_DEFINITION_BYTES = 1_000_000
MAX_DEPTH = 32


@dataclass
class ParsedText:
    """The data plus `(path parts) -> (line, column of the value's first character)`."""

    data: Any
    locations: dict[tuple[str | int, ...], tuple[int, int]] = field(default_factory=dict)

    def line_of(self, loc: tuple[str | int, ...]) -> int | None:
        while loc:
            if loc in self.locations:
                return self.locations[loc][0]
            loc = loc[:-1]
        return None

    def value_column(self, loc: tuple[str | int, ...]) -> int | None:
        """Column (1-based) in the file where the value at `loc` starts, inside its quotes."""
        found = self.locations.get(loc)
        return found[1] if found else None


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _walk(node: yaml.Node, loc: tuple[str | int, ...], out: dict[Any, tuple[int, int]]) -> None:
    column = node.start_mark.column + 1
    if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"'):
        column += 1
    out[loc] = (node.start_mark.line + 1, column)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                _walk(value, (*loc, str(key.value)), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), out)


def parse_definition_text(text: str, fmt: str = "yaml") -> ParsedText:
    """Parse YAML (a superset of JSON) or strict JSON; raise DefinitionError with the line."""
    if len(text.encode()) > MAX_DEFINITION_BYTES:
        raise DefinitionError(
            [ValidationIssue("(root)", f"definition is larger than {MAX_DEFINITION_BYTES} bytes")]
        )
    try:
        if fmt == "json":
            data = json.loads(text)
            parsed = ParsedText(data)
        else:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
            parsed = ParsedText(data)
            if node is not None:
                _walk(node, (), parsed.locations)
    except json.JSONDecodeError as exc:
        raise DefinitionError(
            [ValidationIssue("(root)", f"invalid JSON: {exc.msg}", exc.colno, exc.lineno)]
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise DefinitionError(
            [ValidationIssue("(root)", f"invalid YAML: {problem}", column, line)]
        ) from None
    except RecursionError:
        raise DefinitionError(
            [ValidationIssue("(root)", f"document nested deeper than {MAX_DEPTH} levels")]
        ) from None
    if _depth(parsed.data) > MAX_DEPTH:
        raise DefinitionError(
            [ValidationIssue("(root)", f"document nested deeper than {MAX_DEPTH} levels")]
        )
    return parsed
