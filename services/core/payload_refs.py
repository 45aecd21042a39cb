"""Claim check for large payloads: the reference shape and the pure decisions around it.

A step input or output whose JSON is larger than the inline limit is stored out of band
(`workflows.services.infra.payloads`, in Redis) and travels as a reference instead:

    {"$claim": "<sha256 of the JSON bytes>", "size": <bytes>, "execution": "<execution id>"}

The execution id names where the blob lives (its keys share the execution's hash tag), so a
reference stays readable when it is copied into another execution (a retry, a parent step).
A value larger than the hard limit is never stored nor sent: a step output fails the step,
a step input fails the step before it is dispatched, and in the state document such a value
is replaced by `{"$omitted": "too large", "size": <bytes>}`.

Nothing here does I/O: the orchestrator asks `needed_steps` which references a transition
may read, loads them, runs the transition, then `externalize` lists the blobs to store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import to_json

from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.engine import DispatchStep, Transition
from workflows.services.core.errors import CoreError
from workflows.services.core.state import ExecutionState, StepRun, StepStatus

__all__ = [
    "CLAIM",
    "Blob",
    "Externalized",
    "PayloadLimits",
    "PayloadTooLarge",
    "claim_value",
    "externalize",
    "find_refs",
    "human_size",
    "is_ref",
    "json_bytes",
    "needed_steps",
    "omitted",
    "replace_refs",
    "reserved_shape",
    "too_large_message",
]

CLAIM = "$claim"
OMITTED = "$omitted"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REF_KEYS = frozenset({CLAIM, "size", "execution"})
_UNFINISHED = frozenset(
    {StepStatus.PENDING, StepStatus.RUNNING, StepStatus.WAITING_RETRY, StepStatus.WAITING}
)


@dataclass(frozen=True, slots=True)
class PayloadLimits:
    """`inline_max`: larger values go by reference; `hard_max`: larger values fail the step."""

    inline_max: int
    hard_max: int


class PayloadTooLarge(CoreError, ValueError):
    """A value above the hard limit; `size` is its JSON size in bytes."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"payload of {human_size(size)} is above the {human_size(limit)} limit")
        self.size = size
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Blob:
    """One payload to store: its JSON bytes under `execution`'s key for `sha`."""

    execution: str
    sha: str
    data: bytes


@dataclass
class Externalized:
    """What `externalize` found: blobs to store, and dispatches refused for their input size."""

    blobs: list[Blob] = field(default_factory=list)
    refused: list[tuple[DispatchStep, str]] = field(default_factory=list)  # (dispatch, why)


def json_bytes(value: Any) -> bytes:
    """The compact JSON of a value, as it is measured, hashed and stored."""
    return to_json(value)


def is_ref(value: Any) -> bool:
    """True for a claim-check reference (exactly the keys `$claim`, `size`, `execution`)."""
    return (
        isinstance(value, dict)
        and value.keys() == _REF_KEYS
        and isinstance(value[CLAIM], str)
        and _SHA256.match(value[CLAIM]) is not None
        and isinstance(value["size"], int)
        and isinstance(value["execution"], str)
    )


def reserved_shape(value: dict[str, Any]) -> str | None:
    """Why an object from a user (API body, event) is refused: it holds `$claim` or
    `$omitted`, the keys of the engine's own references, which user data may not forge (a
    forged `$claim` would read another execution's stored payload). None when it is fine."""
    for key in (CLAIM, OMITTED):
        if key in value:
            return f"'{key}' is reserved for the engine's payload references"
    return None


def omitted(size: int) -> dict[str, Any]:
    """What stands in the state for a value above the hard limit."""
    return {OMITTED: "too large", "size": size}


def human_size(size: int) -> str:
    """`9.2 MB`, `64 KB`, `512 B` (binary multiples, as the limits are set)."""
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f}".removesuffix(".0") + " MB"
    if size >= 1 << 10:
        return f"{size / (1 << 10):.1f}".removesuffix(".0") + " KB"
    return f"{size} B"


def too_large_message(what: str, step_id: str, size: int, limit: int) -> str:
    """`output of step 'x' is 9.2 MB, above the hard limit of 8 MB (WORKFLOWS_...)`."""
    return (
        f"{what} of step '{step_id}' is {human_size(size)}, above the hard limit of "
        f"{human_size(limit)} (WORKFLOWS_PAYLOAD_MAX_BYTES)"
    )


def claim_value(execution_id: str, value: Any, limits: PayloadLimits) -> tuple[Any, Blob | None]:
    """(value to send, blob to store or None); raise PayloadTooLarge above the hard limit.

    A value within the inline limit (or already a reference) is returned unchanged.
    """
    if value is None or is_ref(value):
        return value, None
    data = json_bytes(value)
    if len(data) <= limits.inline_max:
        return value, None
    if len(data) > limits.hard_max:
        raise PayloadTooLarge(len(data), limits.hard_max)
    return _ref_for(execution_id, data)


def _ref_for(execution_id: str, data: bytes) -> tuple[dict[str, Any], Blob]:
    sha = hashlib.sha256(data).hexdigest()
    ref = {CLAIM: sha, "size": len(data), "execution": execution_id}
    return ref, Blob(execution_id, sha, data)


def find_refs(value: Any) -> Iterator[dict[str, Any]]:
    """Every reference inside a JSON value (depth first)."""
    if isinstance(value, dict):
        if is_ref(value):
            yield value
            return
        for item in value.values():
            yield from find_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from find_refs(item)


def replace_refs(value: Any, lookup: Callable[[dict[str, Any]], Any]) -> Any:
    """A copy of `value` with every reference replaced by `lookup(reference)`."""
    if isinstance(value, dict):
        if is_ref(value):
            return lookup(value)
        return {key: replace_refs(item, lookup) for key, item in value.items()}
    if isinstance(value, list):
        return [replace_refs(item, lookup) for item in value]
    return value


# -- the orchestrator's side --------------------------------------------------------------
def needed_steps(
    wf: CompiledWorkflow,
    state: ExecutionState,
    incoming: str | None = None,
    about: str | None = None,
) -> set[str]:
    """Steps whose output is a reference that the next transition may read.

    Those are succeeded steps (and `incoming`, the step whose referenced output is being
    applied) named by the templates that may be rendered: the input templates and
    conditions of pending steps and of steps waiting for a retry, those of `about` (the
    step the message is about: a failure may dispatch its fallback at once) and, once the
    execution may complete, the output mapping and the KPI templates (or every step, when
    the default output is checked against an output schema).
    """
    referenced = {
        step_id
        for step_id, run in state.steps.items()
        if run.status == StepStatus.SUCCEEDED and is_ref(run.output)
    }
    if incoming is not None:
        referenced.add(incoming)
    if not referenced:
        return set()
    wanted: set[str] = set()
    open_steps = 0
    for cs in wf.steps:
        run = state.steps.get(cs.id)
        if run is None or run.status not in _UNFINISHED:
            continue
        if not (run.status == StepStatus.PENDING and cs.condition is not None):
            open_steps += 1  # a step that must run (not just be skipped) before the end
        if run.status in (StepStatus.RUNNING, StepStatus.WAITING) and cs.id != about:
            continue  # rendered already; renders again only after a failure of its own
        wanted |= {path[0] for path in cs.input.references() if path}
        if cs.condition is not None:
            wanted |= {path[0] for path in cs.condition.references() if path}
        if cs.for_each is not None:
            wanted |= {path[0] for path in cs.for_each.references() if path}
    if open_steps <= 1:  # this transition may complete the execution
        if wf.output_mapping is not None:
            wanted |= {path[0] for path in wf.output_mapping.references() if path}
        elif wf.output_validator is not None:
            wanted |= referenced
        for template in wf.metric_values.values():
            wanted |= {path[0] for path in template.references() if path}
    return referenced & wanted


def changed_steps(transition: Transition, about: str) -> set[str]:
    """The steps whose input or output a transition applying a message about step `about`
    (a step result) may have set: that step, the steps it dispatched, and every step with an
    event in it (a success, a skip, a fallback, a map's end: each change is in the audit)."""
    changed = {about, *(d.step_id for d in transition.dispatches)}
    changed.update(e.step_id for e in transition.events if e.step_id is not None)
    return changed


def externalize(
    transition: Transition,
    limits: PayloadLimits,
    known: dict[int, tuple[Any, dict[str, Any]]],
    stored: set[str],
    changed: Collection[str] | None = None,
) -> Externalized:
    """Replace every large value the transition put in the state and messages by a reference.

    `known` maps `id(value)` of values resolved from references to (value, reference): no
    hashing and no storing again (holding the value keeps its id unique); `stored` holds the
    hashes already stored for this execution. Dispatches whose input is above the hard
    limit are removed from the transition and returned in `refused` with the error message.
    `changed`: the only steps whose input or output the transition may have set (the rest
    of the state was externalized by the transitions before), besides those holding a value
    of `known`; None: every step. Encoding every step's values on every result made a
    fan-in of n steps cost n² JSON encodings.
    """
    state = transition.state
    eid = state.execution_id
    out = Externalized()

    def small(value: Any) -> tuple[Any, int]:
        """(inline value or reference, size above the hard limit or 0)."""
        if value is None or isinstance(value, bool | int | float):
            return value, 0
        hit = known.get(id(value))
        if hit is not None:
            return hit[1], 0
        if is_ref(value):
            return value, 0
        data = json_bytes(value)
        if len(data) <= limits.inline_max:
            return value, 0
        if len(data) > limits.hard_max:
            return omitted(len(data)), len(data)
        ref, blob = _ref_for(eid, data)
        if blob.sha not in stored:
            stored.add(blob.sha)
            out.blobs.append(blob)
        known[id(value)] = (value, ref)  # the same object again (an event's copy): same ref
        return ref, 0

    dispatches: list[DispatchStep] = []
    for dispatch in transition.dispatches:
        value, too_big = small(dispatch.input)
        if too_big:
            message = too_large_message("input", dispatch.step_id, too_big, limits.hard_max)
            out.refused.append((dispatch, message))
        else:
            dispatches.append(dataclasses.replace(dispatch, input=value))
    transition.dispatches = dispatches
    steps = state.steps
    if changed is None:
        runs: Collection[StepRun] = steps.values()
    else:  # and the steps holding values resolved from references, to put those back
        runs = [
            run
            for step_id, run in steps.items()
            if step_id in changed or (known and (id(run.input) in known or id(run.output) in known))
        ]
    for run in runs:
        for name in ("input", "output"):
            value = getattr(run, name)
            kept = small(value)[0]
            if kept is not value:
                setattr(run, name, kept)
    state.output = small(state.output)[0]
    for entry in transition.events:
        for name in ("input", "output"):
            if name in entry.data:
                entry.data[name] = small(entry.data[name])[0]
    return out
