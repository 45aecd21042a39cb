"""The product's state-machine map format as the step list of a definition.

    initialStep: checkCredit
    steps:
      checkCredit: {function: credit, next: {approved: open, declined: reject}}
      open: {function: openAccount}
      reject: {function: notify, isFinal: true}

Pure, and below `workflows.services.core.definition` (whose model validator calls it on the raw
document before the steps are parsed), so it works on plain mappings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["state_machine_steps"]


def state_machine_steps(initial: Any, steps: Mapping[str, Any]) -> list[Any]:
    """The map format as a list: reachable steps in an order where every transition goes
    forward; a step without `next` ends the execution (`isFinal`). ValueError names the path."""
    if not isinstance(initial, str) or initial not in steps:
        raise ValueError(f"initialStep: {initial!r} is not one of the steps")
    order: list[str] = []
    state: dict[str, int] = {}

    def targets(step_id: str) -> list[str]:
        body = steps[step_id] if isinstance(steps[step_id], Mapping) else {}
        nxt = body.get("next")
        found = list(nxt.values()) if isinstance(nxt, Mapping) else [nxt] if nxt else []
        switch = body.get("switch")
        if isinstance(switch, Mapping):
            found += [c.get("next") for c in switch.get("cases", []) if isinstance(c, Mapping)]
            found.append(switch.get("default"))
        found += [body.get("onSuccess"), body.get("onFailure")]
        found += [c.get("next") for c in body.get("catch", []) or [] if isinstance(c, Mapping)]
        return [t for t in found if isinstance(t, str) and t in steps]

    def visit(step_id: str, path: list[str]) -> None:  # depth-first, post-order
        state[step_id] = 1
        for nxt in targets(step_id):
            if state.get(nxt) == 1:
                cycle = " -> ".join([*path[path.index(nxt) :], nxt])
                raise ValueError(
                    f"steps.{step_id}: transition cycle {cycle}: "
                    "cycles are only allowed through an explicit loop"
                )
            if not state.get(nxt):
                visit(nxt, [*path, nxt])
        state[step_id] = 2
        order.append(step_id)

    visit(initial, [initial])
    unreachable = [step_id for step_id in steps if step_id not in state]
    if unreachable:
        raise ValueError(f"steps.{unreachable[0]}: not reachable from initialStep '{initial}'")
    out = []
    for step_id in reversed(order):  # reverse post-order: every transition goes forward
        body = dict(steps[step_id]) if isinstance(steps[step_id], Mapping) else {}
        name = body.pop("name", None)
        if name and "description" not in body:
            body["description"] = str(name)
        if not any(body.get(k) for k in ("next", "switch", "onSuccess", "isFinal")):
            body["isFinal"] = True  # no transition: the execution ends here
        out.append({"id": step_id, **body})
    return out
