"""The step graph of a compiled workflow, for drawing: nodes, edges and parallel levels.

Pure. Edges point from the step that must finish (or whose output is read) to the step
that waits for it; `kinds` says why: `data` (a template or condition reads the step),
`dependsOn` (listed explicitly) or `order` (the implicit "after the previous step" of
sequential mode). A step's `level` is the length of the longest dependency chain before
it, so the steps of one level can run at the same time: under `parallelism: auto` every
level with more than one step is a set of steps that really run in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflows.services.core.compiled import CompiledStep, CompiledWorkflow
from workflows.services.core.loader import ParsedText
from workflows.services.core.routing import is_routed
from workflows.services.core.validation import RESERVED_ROOTS

__all__ = ["EdgeKind", "GraphEdge", "GraphNode", "StepGraph", "step_graph"]

EdgeKind = str  # "data" | "dependsOn" | "order" | "catch" | "next" (a transition) | "loop"
BUILTIN_FUNCTIONS = frozenset({"sleep", "waitForEvent", "approval", "notify", "switch"})


@dataclass(frozen=True, slots=True)
class GraphNode:
    id: str
    index: int
    function: str
    level: int
    kind: str  # "step", a built-in's name, or "workflow" for a child workflow
    condition: str | None
    fallback: str | None
    compensate: str | None
    on_timeout: str | None
    line: int | None
    for_each: str | None = None  # a map step: the template of its list
    loop: str | None = None  # the last step of a loop: its `while`

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "index": self.index,
            "function": self.function,
            "level": self.level,
            "kind": self.kind,
            "condition": self.condition,
            "fallback": self.fallback,
            "compensate": self.compensate,
            "onTimeout": self.on_timeout,
            "line": self.line,
            "forEach": self.for_each,
            "loop": self.loop,
        }


@dataclass(frozen=True, slots=True)
class GraphEdge:
    source: str
    target: str
    kinds: tuple[EdgeKind, ...]

    def wire(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.target, "kinds": list(self.kinds)}


@dataclass(frozen=True, slots=True)
class StepGraph:
    parallelism: str
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]

    @property
    def levels(self) -> list[list[str]]:
        """Step ids per level, in definition order within a level."""
        out: list[list[str]] = [
            [] for _ in range(max((n.level for n in self.nodes), default=-1) + 1)
        ]
        for node in self.nodes:
            out[node.level].append(node.id)
        return out

    def wire(self) -> dict[str, Any]:
        return {
            "parallelism": self.parallelism,
            "nodes": [node.wire() for node in self.nodes],
            "edges": [edge.wire() for edge in self.edges],
            "levels": self.levels,
        }


def _kind(function: str) -> str:
    if function.startswith("workflow:"):
        return "workflow"
    return function if function in BUILTIN_FUNCTIONS else "step"


def _reads(step: CompiledStep, known: set[str]) -> set[str]:
    paths = set(step.input.references())
    if step.condition is not None:
        paths |= step.condition.references()
    if step.for_each is not None:
        paths |= step.for_each.references()
    return {p[0] for p in paths if p and p[0] in known and p[0] not in RESERVED_ROOTS}


def _levels(wf: CompiledWorkflow) -> dict[str, int]:
    level: dict[str, int] = {}
    for step in wf.steps:  # dependencies may point forward (dependsOn): resolve by fixpoint
        level[step.id] = 0
    for _ in range(len(wf.steps)):
        changed = False
        for step in wf.steps:
            want = max((level[d] + 1 for d in step.depends_on if d in level), default=0)
            if want != level[step.id]:
                level[step.id], changed = want, True
        if not changed:
            break
    return level


def step_graph(wf: CompiledWorkflow, parsed: ParsedText | None = None) -> StepGraph:
    """Nodes in definition order with their level, and one edge per (source, target) pair."""
    known = {step.id for step in wf.steps}
    routed = is_routed(wf.definition.steps)
    level = _levels(wf)
    nodes = []
    edges: dict[tuple[str, str], list[EdgeKind]] = {}
    for step in wf.steps:
        explicit = set(step.step.depends_on or ())
        catchers = set(wf.links.catchers.get(step.id, ()))
        for dep in step.depends_on:
            kind = "catch" if dep in catchers else "dependsOn" if dep in explicit else "order"
            if kind == "order" and routed:
                kind = "next"
            edges.setdefault((dep, step.id), []).append(kind)
        for read in sorted(_reads(step, known)):
            kinds = edges.setdefault((read, step.id), [])
            if "order" in kinds and wf.definition.parallelism == "auto":
                kinds.remove("order")  # auto mode: the dependency *is* the data reference
            kinds.insert(0, "data")
        nodes.append(
            GraphNode(
                id=step.id,
                index=step.index,
                function=step.function,
                level=level[step.id],
                kind=_kind(step.function),
                condition=step.step.condition,
                fallback=step.fallback_function,
                compensate=step.step.compensate,
                on_timeout=step.step.on_timeout,
                line=parsed.line_of(("steps", step.index)) if parsed else None,
                for_each=step.step.for_each,
                loop=step.step.loop.while_ if step.step.loop is not None else None,
            )
        )
        if step.step.loop is not None:  # the back edge: the only cycle a definition has
            edges.setdefault((step.id, step.step.loop.start), []).append("loop")
    return StepGraph(
        parallelism=wf.definition.parallelism,
        nodes=tuple(nodes),
        edges=tuple(GraphEdge(s, t, tuple(k)) for (s, t), k in edges.items()),
    )
