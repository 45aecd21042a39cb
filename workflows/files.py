"""Read workflow definitions from files: YAML, JSON, or a Python module holding a definition."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.definition import WorkflowDefinition
from workflows.services.core.issues import DefinitionError, ValidationIssue
from workflows.services.core.loader import ParsedText, parse_definition_text
from workflows.services.core.validation import compile_workflow

__all__ = ["load_definition_file", "read_definition_file"]


def _python_definition(path: Path) -> WorkflowDefinition:
    spec = importlib.util.spec_from_file_location(f"_workflow_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise DefinitionError([ValidationIssue("(root)", "cannot import this Python file")])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    found = [v for v in vars(module).values() if isinstance(v, WorkflowDefinition)]
    if len(found) != 1:
        raise DefinitionError(
            [ValidationIssue("(root)", f"expected one WorkflowDefinition, found {len(found)}")]
        )
    return found[0]


def read_definition_file(path: str | Path) -> tuple[Any, ParsedText | None]:
    """The raw definition data in a file, with its locations when it is YAML/JSON."""
    path = Path(path)
    if path.suffix == ".py":
        return _python_definition(path), None
    text = path.read_text(encoding="utf-8")
    parsed = parse_definition_text(text, "json" if path.suffix == ".json" else "yaml")
    return parsed.data, parsed


def load_definition_file(path: str | Path) -> CompiledWorkflow:
    """Read and compile; raise DefinitionError naming every problem."""
    raw, parsed = read_definition_file(path)
    try:
        return compile_workflow(raw, parsed)
    except DefinitionError as exc:
        raise DefinitionError(exc.issues, str(path)) from None
