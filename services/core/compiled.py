"""A validated workflow, with every template and condition parsed once and the step graph built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from services.core.definition import RetryStrategy, Step, WorkflowDefinition
from services.core.expressions import Expression
from services.core.templates import Template

__all__ = ["CompiledStep", "CompiledWorkflow"]

NO_RETRY = RetryStrategy()


@dataclass(frozen=True, slots=True)
class CompiledStep:
    index: int
    step: Step
    input: Template
    condition: Expression | None
    depends_on: tuple[str, ...]
    retry: RetryStrategy
    fallback_function: str | None
    timeout_ms: int | None

    @property
    def id(self) -> str:
        return self.step.id

    @property
    def function(self) -> str:
        return self.step.function


@dataclass(frozen=True, slots=True)
class CompiledWorkflow:
    definition: WorkflowDefinition
    version: int
    steps: tuple[CompiledStep, ...]
    by_id: dict[str, CompiledStep]
    input_validator: Draft202012Validator
    output_validator: Draft202012Validator | None
    output_mapping: Template | None
    metric_values: dict[str, Template]

    @property
    def name(self) -> str:
        return self.definition.name

    def step(self, step_id: str) -> CompiledStep:
        return self.by_id[step_id]

    def input_errors(self, value: Any) -> list[str]:
        """Problems with an execution's input, each naming the field (`plan: 'x' is not ...`)."""
        return schema_errors(self.input_validator, value)

    def output_errors(self, value: Any) -> list[str]:
        if self.output_validator is None:
            return []
        return schema_errors(self.output_validator, value)


def schema_errors(validator: Draft202012Validator, value: Any) -> list[str]:
    out = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.path))):
        path = ".".join(str(p) for p in error.absolute_path) or "(root)"
        out.append(f"{path}: {error.message}")
    return out
