"""Branching: `switch` steps, `next` / `onSuccess` / `onFailure` transitions and `isFinal`.

Pure. A definition that uses any of them is *routed*: a step's successors are its explicit
transitions (a `switch`'s case and default targets, `next` as a step id or an
`{outcome: stepId}` map, `onSuccess`, `onFailure`, `catch` targets), else the next step in the
list (none after an `isFinal` step), and in sequential mode a step waits for every step that
can lead to it (its predecessors) instead of only the step before it. Transitions go forward
in the list, so the graph has no cycles; a transition back is refused (cycles only through an
explicit loop). When a step chooses one of several targets (a switch, an outcome map), the
steps reachable only from the targets not chosen are skipped with the reason.

`workflows.services.core.state_machine` turns the product's state-machine map format (`initialStep`,
`steps: {id: {function, input, next: id | {outcome: id}, isFinal}}`) into the same list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from workflows.services.core.definition import Step

__all__ = [
    "ROUTING_FIELDS",
    "is_routed",
    "options",
    "predecessors",
    "reachable",
    "routing_issues",
    "successors",
]

ROUTING_FIELDS = ("switch", "next", "on_success", "on_failure", "is_final")
Loc = tuple[str | int, ...]


def is_routed(steps: Sequence[Step]) -> bool:
    return any(
        step.switch is not None
        or step.next is not None
        or step.on_success is not None
        or step.on_failure is not None
        or step.is_final
        for step in steps
    )


def options(step: Step) -> list[str]:
    """The targets `step` chooses between on success (empty: it just goes on)."""
    if step.switch is not None:
        targets = [case.next for case in step.switch.cases]
        if step.switch.default is not None:
            targets.append(step.switch.default)
        return list(dict.fromkeys(targets))
    if isinstance(step.next, Mapping):
        return list(dict.fromkeys(step.next.values()))
    explicit = step.next if isinstance(step.next, str) else step.on_success
    return [explicit] if explicit is not None else []


def successors(steps: Sequence[Step]) -> dict[str, tuple[str, ...]]:
    ids = [step.id for step in steps]
    out: dict[str, tuple[str, ...]] = {}
    for index, step in enumerate(steps):
        found = options(step)
        if not found and not step.is_final and index + 1 < len(steps):
            found = [ids[index + 1]]
        found += [entry.next for entry in step.catch]
        if step.on_failure is not None:
            found.append(step.on_failure)
        later = set(ids[index + 1 :])  # a backward target is refused by routing_issues
        out[step.id] = tuple(t for t in dict.fromkeys(found) if t in later)
    return out


def predecessors(succ: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {step_id: [] for step_id in succ}
    for source, targets in succ.items():
        for target in targets:
            out.setdefault(target, []).append(source)
    return {step_id: tuple(found) for step_id, found in out.items()}


def reachable(succ: Mapping[str, Iterable[str]], start: str) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for nxt in succ.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def routing_issues(steps: Sequence[Step]) -> list[tuple[Loc, str]]:
    """Unknown or backward targets (a backward one would be a cycle), and steps nothing reaches."""
    index_of = {step.id: index for index, step in enumerate(steps)}
    issues: list[tuple[Loc, str]] = []

    def target(loc: Loc, value: str, index: int) -> None:
        if value not in index_of:
            issues.append((loc, f"unknown step '{value}'"))
        elif index_of[value] <= index:
            issues.append(
                (
                    loc,
                    f"a transition back to '{value}' would be a cycle: "
                    "cycles are only allowed through an explicit loop",
                )
            )

    for index, step in enumerate(steps):
        here: Loc = ("steps", index)
        if step.switch is not None:
            for number, case in enumerate(step.switch.cases):
                target((*here, "switch", "cases", number, "next"), case.next, index)
            if step.switch.default is not None:
                target((*here, "switch", "default"), step.switch.default, index)
        if isinstance(step.next, Mapping):
            for key, value in step.next.items():
                target((*here, "next", key), value, index)
        elif isinstance(step.next, str):
            target((*here, "next"), step.next, index)
        for name in ("on_success", "on_failure"):
            value = getattr(step, name)
            if value is not None:
                camel = "onSuccess" if name == "on_success" else "onFailure"
                target((*here, camel), value, index)
        if step.next is not None and step.on_success is not None:
            issues.append(((*here, "onSuccess"), "give either next or onSuccess, not both"))
    if not issues and is_routed(steps):
        preds = predecessors(successors(steps))
        for index, step in enumerate(steps[1:], start=1):
            if not preds.get(step.id) and step.depends_on is None:
                issues.append(
                    (("steps", index), f"no step leads to '{step.id}' (a transition jumps over it)")
                )
    return issues
