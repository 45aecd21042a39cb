"""Definition checks for built-in waits, child workflows and compensations (see validation)."""

from __future__ import annotations

from workflows.services.core.definition import WorkflowDefinition
from workflows.services.core.durations import parse_duration_ms
from workflows.services.core.for_each import for_each_issues
from workflows.services.core.loops import loop_issues
from workflows.services.core.routing import routing_issues
from workflows.services.core.step_cache import cache_issues

__all__ = ["extension_issues"]

WAITS = frozenset({"waitForEvent", "approval"})
BUILTINS = frozenset({"sleep", *WAITS})
DURATION_INPUTS = {"sleep": "duration", "waitForEvent": "timeout", "approval": "deadline"}
Loc = tuple[str | int, ...]


def extension_issues(definition: WorkflowDefinition) -> list[tuple[Loc, str]]:
    """(path, message) for each misuse of `onTimeout`, `catch`, `compensate`, `workflow:<name>`,
    and each literal wait duration (`input.timeout: 5 parsecs`) that is not one."""
    issues: list[tuple[Loc, str]] = []
    index_of = {step.id: index for index, step in enumerate(definition.steps)}
    for index, step in enumerate(definition.steps):
        target = step.on_timeout
        if target is not None:
            loc: Loc = ("steps", index, "onTimeout")
            if step.function not in WAITS:
                issues.append((loc, "onTimeout only applies to waitForEvent and approval steps"))
            elif target not in ("fail", "continue"):
                if target not in index_of:
                    issues.append((loc, f"unknown step '{target}' (or use fail / continue)"))
                elif index_of[target] <= index:
                    issues.append(
                        (loc, f"the onTimeout step '{target}' must come after '{step.id}'")
                    )
        for number, entry in enumerate(step.catch):
            where: Loc = ("steps", index, "catch", number, "next")
            if entry.next not in index_of:
                issues.append((where, f"unknown step '{entry.next}'"))
            elif index_of[entry.next] <= index:
                issues.append((where, f"the catch step '{entry.next}' must come after '{step.id}'"))
        duration_field = DURATION_INPUTS.get(step.function)
        if duration_field and isinstance(step.input, dict):
            value = step.input.get(duration_field)
            if value is not None and not (isinstance(value, str) and "{{" in value):
                try:
                    parse_duration_ms(value)
                except ValueError as exc:
                    issues.append((("steps", index, "input", duration_field), str(exc)))
        if step.compensate is not None and step.function in BUILTINS:
            issues.append(
                (
                    ("steps", index, "compensate"),
                    f"a built-in '{step.function}' step has nothing to compensate",
                )
            )
        if step.function.startswith("workflow:") and step.function[9:] == definition.name:
            issues.append(
                (("steps", index, "function"), "a workflow cannot start itself as a child")
            )
    issues += routing_issues(definition.steps)
    issues += loop_issues(definition)
    issues += for_each_issues(definition.steps)
    issues += cache_issues(definition.steps)
    return issues
