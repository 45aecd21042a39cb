"""A validated workflow, with every template and condition parsed once and the step graph built."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from workflows.services.core.definition import RetryStrategy, Step, WorkflowDefinition
from workflows.services.core.expressions import Expression
from workflows.services.core.extensions import Extension
from workflows.services.core.routing import successors
from workflows.services.core.templates import Template

__all__ = ["CompiledStep", "CompiledWorkflow", "StepLinks", "step_links"]

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
    for_each: Expression | None = None  # workflows.services.core.for_each: the list to fan out over
    cache_key: Template | None = None  # workflows.services.core.step_cache: the rendered key

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
    # what else a step or a failure can do (waits, children, compensation), in the order the
    # engine consults them: workflows.services.core.extensions; compile_workflow gives the
    # built-in ones
    extensions: tuple[Extension, ...] = ()
    links: StepLinks = field(init=False)  # who waits for whom: built from `steps`

    def __post_init__(self) -> None:
        object.__setattr__(self, "links", step_links(self.steps))

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


@dataclass(frozen=True, slots=True)
class StepLinks:
    """Who waits for whom, built once per compiled definition (`step_links`).

    The engine re-examines only the steps a finished step can unblock instead of scanning
    every step on each result: `dependents[id]` are the indexes (ascending) of the steps
    listing `id` in `depends_on`, `slot[(index, id)]` is where `id` sits in that step's
    `depends_on` (the readiness check starts there), and `sinks` are the steps nothing
    waits for (while one is not done, the execution cannot be complete). `catchers[id]` are
    the steps whose `catch` or `onFailure` routes to `id` (it runs only when one was caught).
    """

    dependents: dict[str, tuple[int, ...]]
    slot: dict[tuple[int, str], int]
    sinks: tuple[str, ...]
    catchers: dict[str, tuple[str, ...]]
    # transitions, for branching (workflows.services.core.routing)
    successors: dict[str, tuple[str, ...]]


def step_links(steps: Sequence[CompiledStep]) -> StepLinks:
    dependents: dict[str, list[int]] = {step.id: [] for step in steps}
    slot: dict[tuple[int, str], int] = {}
    for step in steps:
        for position, dep in enumerate(step.depends_on):
            if (step.index, dep) not in slot:
                slot[step.index, dep] = position
                dependents.setdefault(dep, []).append(step.index)
    catchers: dict[str, list[str]] = {}
    for step in steps:
        targets = [entry.next for entry in step.step.catch]
        if step.step.on_failure is not None:
            targets.append(step.step.on_failure)
        for target in targets:
            found = catchers.setdefault(target, [])
            if step.id not in found:
                found.append(step.id)
    return StepLinks(
        dependents={step_id: tuple(sorted(found)) for step_id, found in dependents.items()},
        slot=slot,
        sinks=tuple(step.id for step in steps if not dependents.get(step.id)),
        catchers={target: tuple(ids) for target, ids in catchers.items()},
        successors=successors([step.step for step in steps]),
    )


def schema_errors(validator: Draft202012Validator, value: Any) -> list[str]:
    out = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.path))):
        path = ".".join(str(p) for p in error.absolute_path) or "(root)"
        out.append(f"{path}: {error.message}")
    return out
