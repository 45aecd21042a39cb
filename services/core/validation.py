"""Validate a definition before anything runs, collecting every problem with its path and column.

`compile_workflow` is the single entry point: raw data (or a WorkflowDefinition) in,
a CompiledWorkflow out, or a DefinitionError listing all issues.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import ValidationError

from workflows.services.core.builtin_extensions import BUILTIN
from workflows.services.core.compiled import NO_RETRY, CompiledStep, CompiledWorkflow
from workflows.services.core.definition import WorkflowDefinition
from workflows.services.core.expressions import ExpressionError, references
from workflows.services.core.extension_checks import extension_issues
from workflows.services.core.for_each import ITEM_ROOTS
from workflows.services.core.issues import DefinitionError, ValidationIssue, format_path
from workflows.services.core.loader import ParsedText
from workflows.services.core.loops import loop_groups
from workflows.services.core.routing import is_routed, predecessors, successors
from workflows.services.core.schema_regex import SafeValidator, schema_issues
from workflows.services.core.templates import Template, compile_template, parse_condition

__all__ = ["RESERVED_ROOTS", "TRIGGER_ROOTS", "compile_workflow", "validate_definition"]

RESERVED_ROOTS = frozenset({"input", "execution", "trigger", "now", "steps"})
TRIGGER_ROOTS = frozenset({"event"})
Loc = tuple[str | int, ...]
Ref = tuple[str, ...]


def _strings(value: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*loc, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, (*loc, index))


class _Checker:
    def __init__(self, parsed: ParsedText | None) -> None:
        self.parsed = parsed
        self.issues: list[ValidationIssue] = []

    def add(self, loc: Loc, message: str, column: int | None = None) -> None:
        line = self.parsed.line_of(loc) if self.parsed else None
        self.issues.append(ValidationIssue(format_path(loc), message, column, line))

    def template(self, value: Any, loc: Loc) -> tuple[Template | None, dict[Loc, set[Ref]]]:
        """Compile each string separately so an error names its own path and column."""
        refs: dict[Loc, set[Ref]] = {}
        ok = True
        for where, text in _strings(value, loc):
            try:
                refs[where] = compile_template(text).references()
            except ExpressionError as exc:
                ok = False
                self.add(where, exc.message, exc.column)
        if not ok:
            return None, refs
        return compile_template(value), refs

    def condition(self, text: str, loc: Loc) -> tuple[Any, set[Ref]]:
        try:
            expression = parse_condition(text)
        except ExpressionError as exc:
            self.add(loc, exc.message, exc.column)
            return None, set()
        return expression, references(expression)

    def schema(self, schema: Any, loc: Loc) -> Draft202012Validator | None:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            self.add(loc, f"not a valid JSON Schema: {exc.message}")
            return None
        problems = schema_issues(schema, loc)  # NaN/Infinity, patterns RE2 refuses
        for where, message in problems:
            self.add(where, message)
        return None if problems else SafeValidator(schema)  # patterns in linear time


def _input_field_missing(schema: Any, path: Ref) -> str | None:
    """Return the first field of `path` that the input schema says cannot exist."""
    node = schema
    for part in path:
        if not isinstance(node, dict) or "properties" not in node:
            return None
        if part in node["properties"]:
            node = node["properties"][part]
            continue
        extra = node.get("additionalProperties")
        if extra is True or isinstance(extra, dict):
            return None
        return part
    return None


def _pydantic_issues(exc: ValidationError, checker: _Checker) -> None:
    for error in exc.errors():
        loc = tuple(error["loc"])
        checker.add(loc, error["msg"].removeprefix("Value error, "))


def _ancestors(step_id: str, deps: dict[str, tuple[str, ...]]) -> set[str]:
    seen: set[str] = set()
    stack = list(deps.get(step_id, ()))
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        stack.extend(deps.get(current, ()))
    return seen


def _find_cycle(deps: dict[str, tuple[str, ...]]) -> list[str] | None:
    state: dict[str, int] = {}
    for start in deps:
        if state.get(start):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(deps.get(start, ())))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif not state.get(child) and child in deps:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(deps.get(child, ()))))
    return None


def compile_workflow(
    raw: Any, parsed: ParsedText | None = None, version: int = 1
) -> CompiledWorkflow:
    """Validate and compile; raise DefinitionError listing every issue found."""
    checker = _Checker(parsed)
    if isinstance(raw, WorkflowDefinition):
        definition = raw
    else:
        if not isinstance(raw, dict):
            raise DefinitionError([ValidationIssue("(root)", "a definition must be an object")])
        try:
            definition = WorkflowDefinition.model_validate(raw)
        except ValidationError as exc:
            _pydantic_issues(exc, checker)
            raise DefinitionError(checker.issues) from None
    return _compile(definition, checker, version)


def _compile(definition: WorkflowDefinition, checker: _Checker, version: int) -> CompiledWorkflow:
    ids = [step.id for step in definition.steps]
    if not ids:
        checker.add(("steps",), "a workflow needs at least one step")
        raise DefinitionError(checker.issues)
    known = set(ids)
    seen: set[str] = set()
    for index, step_id in enumerate(ids):
        if step_id in seen:
            checker.add(("steps", index, "id"), f"duplicate step id '{step_id}'")
        if step_id in RESERVED_ROOTS:
            checker.add(("steps", index, "id"), f"'{step_id}' is reserved; choose another id")
        seen.add(step_id)

    input_validator = checker.schema(definition.input, ("input",))
    output_validator = (
        checker.schema(definition.output, ("output",)) if definition.output is not None else None
    )
    templates: dict[str, Template | None] = {}
    conditions: dict[str, Any] = {}
    for_each: dict[str, Any] = {}
    cache_keys: dict[str, Template | None] = {}
    step_refs: list[list[tuple[Loc, Ref]]] = []
    for index, step in enumerate(definition.steps):
        template, refs = checker.template(step.input, ("steps", index, "input"))
        templates[step.id] = template
        found = [(loc, ref) for loc, rs in refs.items() for ref in rs]
        if step.condition is not None:
            cond_loc: Loc = ("steps", index, "condition")
            conditions[step.id], cond_refs = checker.condition(step.condition, cond_loc)
            found += [(cond_loc, ref) for ref in cond_refs]
        if step.cache is not None:
            cache_keys[step.id], key_refs = checker.template(
                step.cache.key, ("steps", index, "cache", "key")
            )
            found += [(loc, ref) for loc, rs in key_refs.items() for ref in rs]
        if step.for_each is not None:
            each_loc: Loc = ("steps", index, "forEach")
            for_each[step.id], each_refs = checker.condition(step.for_each, each_loc)
            found += [(each_loc, ref) for ref in each_refs if ref and ref[0] not in ITEM_ROOTS]
        if step.loop is not None:
            while_loc: Loc = ("steps", index, "loop", "while")
            _, while_refs = checker.condition(step.loop.while_, while_loc)
            found += [(while_loc, ref) for ref in while_refs if ref and ref[0] != step.id]
        if step.switch is not None:
            for number, case in enumerate(step.switch.cases):
                when_loc: Loc = ("steps", index, "switch", "cases", number, "when")
                _, when_refs = checker.condition(case.when, when_loc)
                found += [(when_loc, ref) for ref in when_refs]
        step_refs.append(found)
        for dep in step.depends_on or ():
            if dep not in known:
                checker.add(("steps", index, "dependsOn"), f"unknown step '{dep}'")

    deps: dict[str, tuple[str, ...]] = {}
    preds = predecessors(successors(definition.steps)) if is_routed(definition.steps) else None
    for index, step in enumerate(definition.steps):
        referenced = {ref[0] for _, ref in step_refs[index] if ref and ref[0] in known}
        if step.depends_on is not None:
            base = tuple(d for d in step.depends_on if d in known)
        elif preds is not None:  # branching: wait for every step that can lead here
            base = preds.get(step.id, ())
        elif definition.parallelism == "auto":
            base = ()
        else:
            base = (ids[index - 1],) if index > 0 else ()
        extra = sorted(referenced - set(base)) if definition.parallelism == "auto" else []
        deps[step.id] = (*base, *extra)
    for index, step in enumerate(definition.steps):  # a catch step waits for its catchers
        for entry in step.catch:
            later = entry.next in ids[index + 1 :]  # else refused by extension_issues
            if later and entry.next in deps and step.id not in deps[entry.next]:
                deps[entry.next] = (*deps[entry.next], step.id)

    unique = len(known) == len(ids)
    cycle = _find_cycle(deps) if unique else None
    if cycle:
        index = ids.index(cycle[0])
        checker.add(("steps", index), "dependency cycle: " + " -> ".join(cycle))

    in_loop = loop_groups(definition.steps)
    for index, step in enumerate(definition.steps):
        graph_ok = unique and not cycle
        ancestors = _ancestors(step.id, deps) if graph_ok else set()
        for loc, ref in step_refs[index]:
            root = ref[0] if ref else ""
            if root == "input":
                missing = _input_field_missing(definition.input, ref[1:])
                if missing is not None:
                    checker.add(
                        loc, f"'{'.'.join(ref)}': the input schema has no field '{missing}'"
                    )
            elif step.for_each is not None and root in ITEM_ROOTS:
                continue  # a forEach step's input reads its item and index
            elif root in RESERVED_ROOTS or root in in_loop.get(step.id, ()):
                continue  # inside a loop a step may read its group's previous pass
            elif root == step.id:
                checker.add(loc, f"step '{step.id}' cannot read its own output")
            elif root not in known:
                checker.add(
                    loc,
                    f"unknown reference '{root}': not input, execution, trigger, now or a step id",
                )
            elif graph_ok and root not in ancestors:
                checker.add(
                    loc,
                    f"reads step '{root}', which is not guaranteed to finish first: "
                    "move it earlier or list it in dependsOn",
                )

    handling = definition.error_handling
    for step_id in handling.fallback_steps:
        if step_id not in known:
            checker.add(("errorHandling", "fallbackSteps", step_id), f"unknown step '{step_id}'")

    output_mapping = None
    if definition.output_mapping is not None:
        output_mapping, refs = checker.template(definition.output_mapping, ("outputMapping",))
        for loc, rs in refs.items():
            for ref in rs:
                if ref and ref[0] not in known and ref[0] not in RESERVED_ROOTS:
                    checker.add(loc, f"unknown reference '{ref[0]}'")

    metric_values: dict[str, Template] = {}
    for index, metric in enumerate(definition.metrics):
        if metric.value is not None:
            template, _ = checker.template(metric.value, ("metrics", index, "value"))
            if template is not None:
                metric_values[metric.name] = template
        for position, step_id in enumerate(metric.between or ()):
            if step_id not in known:
                checker.add(("metrics", index, "between", position), f"unknown step '{step_id}'")

    for index, trigger in enumerate(definition.triggers):
        trigger_refs: list[tuple[Loc, Ref]] = []
        if trigger.filter is not None:
            filter_loc: Loc = ("triggers", index, "filter")
            _, filter_refs = checker.condition(trigger.filter, filter_loc)
            trigger_refs += [(filter_loc, ref) for ref in filter_refs]
        if trigger.input is not None:
            _, refs = checker.template(trigger.input, ("triggers", index, "input"))
            trigger_refs += [(loc, ref) for loc, rs in refs.items() for ref in rs]
        for loc, ref in trigger_refs:
            if ref and ref[0] not in TRIGGER_ROOTS:
                checker.add(loc, f"unknown reference '{ref[0]}': a trigger can only read 'event'")

    for loc, message in extension_issues(definition):  # onTimeout, compensate, workflow:<name>
        checker.add(loc, message)
    if checker.issues:
        raise DefinitionError(checker.issues)
    assert input_validator is not None
    default_retry = handling.retry_strategy or NO_RETRY
    steps = tuple(
        CompiledStep(
            index=index,
            step=step,
            input=templates[step.id] or compile_template({}),
            condition=conditions.get(step.id),
            depends_on=deps[step.id],
            retry=step.retry or default_retry,
            fallback_function=handling.fallback_steps.get(step.id),
            timeout_ms=step.timeout,
            for_each=for_each.get(step.id),
            cache_key=cache_keys.get(step.id),
        )
        for index, step in enumerate(definition.steps)
    )
    return CompiledWorkflow(
        definition=definition,
        version=definition.version or version,
        steps=steps,
        by_id={step.id: step for step in steps},
        input_validator=input_validator,
        output_validator=output_validator,
        output_mapping=output_mapping,
        metric_values=metric_values,
        extensions=BUILTIN,
    )


def validate_definition(raw: Any, parsed: ParsedText | None = None) -> list[ValidationIssue]:
    """Every problem in `raw`, or an empty list."""
    try:
        compile_workflow(raw, parsed)
    except DefinitionError as exc:
        return exc.issues
    return []
