"""Claim check in the orchestrator: resolve the references a transition reads, then store
the large values it produced and keep references in the state and the messages.

Around one transition:

1. `resolve`: load the blobs of the step outputs that the next templates may read
   (`payload_refs.needed_steps`) and put the values in the state, in memory only;
2. the pure transition runs on that state;
3. `externalize`: every large value (a rendered step input, a resolved output, the output
   mapping) becomes a reference again, new blobs are stored and the TTL of the others is
   renewed before the state is saved; a step input above the hard limit is not sent: a
   failed, non-retryable `StepResult` for that attempt goes to the outbox instead.
"""

from __future__ import annotations

from typing import Any

import structlog

from workflows.contracts import StartExecution, StepError, StepResult, command_id, encode
from workflows.contracts.topics import Topics
from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.engine import Transition
from workflows.services.core.payload_refs import externalize, find_refs, is_ref, needed_steps
from workflows.services.core.state import ExecutionState
from workflows.services.infra.payloads import PayloadMissing, Payloads
from workflows.services.orchestrator.entries import pack
from workflows.services.orchestrator.handlers import Rejected

__all__ = ["ClaimCheck", "Known"]

log = structlog.get_logger(__name__)
Known = dict[int, tuple[Any, dict[str, Any]]]  # id(resolved value) -> (value, reference)


class ClaimCheck:
    def __init__(self, payloads: Payloads, topics: Topics) -> None:
        self.payloads = payloads
        self.topics = topics

    async def resolve(
        self, wf: CompiledWorkflow, state: ExecutionState | None, message: Any
    ) -> tuple[Known, Any]:
        """Put the values of the references the transition may read into `state` and
        `message` (in memory): (id(value) -> (value, reference), the message to apply)."""
        known: Known = {}
        if state is None:
            return known, await self._resolve_start(message)
        incoming = None
        if isinstance(message, StepResult) and message.ok and is_ref(message.output):
            incoming = message.step_id
        about = getattr(message, "step_id", None)  # a result or a timer of that step
        steps = needed_steps(wf, state, incoming, about or None)
        if not steps:
            return known, message
        refs = {
            step_id: message.output if step_id == incoming else state.steps[step_id].output
            for step_id in sorted(steps)
        }
        try:
            loaded = await self.payloads.load(refs.values())
        except PayloadMissing as exc:  # templates then see the reference itself
            log.error("payload_missing", execution_id=state.execution_id, key=exc.key)
            return known, message
        for step_id, ref in refs.items():
            value = loaded[self.payloads.key(ref)]
            known[id(value)] = (value, ref)
            if step_id == incoming:
                message = message.model_copy(update={"output": value})
            else:
                state.steps[step_id].output = value
        return known, message

    async def _resolve_start(self, message: Any) -> Any:
        """A start whose input holds references (a child step's large input): inline them."""
        if not isinstance(message, StartExecution) or not any(find_refs(message.input)):
            return message
        try:
            value = await self.payloads.resolve(message.input)
        except PayloadMissing as exc:  # to the DLQ; a parent step fails (signals.rejected_child)
            raise Rejected(f"input of execution '{message.execution_id}': {exc}") from None
        return message.model_copy(update={"input": value if isinstance(value, dict) else {}})

    async def externalize(
        self, transition: Transition, known: Known, changed: set[str] | None = None
    ) -> list[str]:
        """Store what became large, keep references; outbox entries for refused dispatches.
        `changed`: the only steps whose values may be new (None: every step)."""
        state = transition.state
        eid = state.execution_id
        stored = {
            str(ref["$claim"])
            for ref in [*(ref for _, ref in known.values()), *_top_refs(state)]
            if ref["execution"] == eid
        }  # blobs that exist already: a copy of their value is not written again
        result = externalize(transition, self.payloads.limits, known, stored, changed)
        touch = [ref for ref in _top_refs(state) if not _new(ref, result.blobs)]
        await self.payloads.store(result.blobs, touch)
        entries: list[str] = []
        for dispatch, message in result.refused:
            failed = StepResult(
                execution_id=eid,
                command_id=command_id(eid, dispatch.step_id, dispatch.attempt),
                step_id=dispatch.step_id,
                attempt=dispatch.attempt,
                ok=False,
                error=StepError(type="PayloadTooLarge", message=message, retryable=False),
                worker_id="orchestrator",
            )
            log.warning("step_input_too_large", execution_id=eid, step_id=dispatch.step_id)
            entry = ["msg", self.topics.step_results, eid, encode(failed).decode()]
            entries.append(pack(entry))
        return entries


def _top_refs(state: ExecutionState) -> list[dict[str, Any]]:
    """The references held whole by step inputs/outputs and the execution's output."""
    values = [v for run in state.steps.values() for v in (run.input, run.output)]
    return [v for v in (*values, state.output) if is_ref(v)]


def _new(ref: dict[str, Any], blobs: list[Any]) -> bool:
    return any(blob.sha == ref["$claim"] and blob.execution == ref["execution"] for blob in blobs)
