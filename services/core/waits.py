"""Built-in waits, handled by the orchestrator (never dispatched to workers): pure transitions.

- `function: sleep`, input `{duration: "5s" | ms}` or `{until: ISO-8601}`: the step is
  `waiting` until a durable `sleep` timer fires, then succeeds with `{sleptUntil}`.
- `function: waitForEvent`, input `{event: type | [types], correlation, mode: any|all,
  timeout}`: the step is `waiting` until a matching signal arrives (`any`: the first one, the
  output is its payload; `all`: one of each type, the output is the list of payloads in
  `event` order). Signals come as `SignalExecution` control commands: directly
  (`POST /executions/{id}/signal`) or by correlation (`POST /signals/{type}`, routed
  through the `wait:` index the orchestrator writes when the wait registers).
- `function: approval`, input `{approvers, quorum: any|majority|unanimous, deadline,
  escalateTo, message}`: decisions arrive as `approval` signals naming the step; the step
  succeeds with `{approved, decision, decisions}` once the quorum is reached or cannot be.
  At the deadline the approvers in `escalateTo` are added and the deadline starts again;
  at the second deadline (or the first without `escalateTo`) the step times out.

A timeout takes the step's `onTimeout` path: `fail` (default; a non-retryable
`WaitTimeout`, so a fallback may still run), `continue` (succeed with `{timedOut: true}`),
or a later step id: the steps between are skipped and that step runs. That step is the
timeout branch: when the wait ends normally it is skipped.

A signal that matches no waiting step is buffered (effect `BufferSignal`, kept in Redis for
`signal_buffer_s`) and delivered again when a wait registers. Signal ids deduplicate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from workflows.services.core import durations, engine
from workflows.services.core.errors import CoreError
from workflows.services.core.extensions import Extension
from workflows.services.core.state import ExecutionState, StepRun, StepStatus

if TYPE_CHECKING:
    from workflows.services.core.compiled import CompiledStep, CompiledWorkflow

__all__ = [
    "APPROVAL",
    "APPROVAL_SIGNAL",
    "BUILTIN_FUNCTIONS",
    "EXTENSION",
    "SLEEP",
    "TIMER_KINDS",
    "WAIT_FOR_EVENT",
    "BufferSignal",
    "RegisterWait",
    "WaitInputError",
    "begin_wait",
    "current_approvers",
    "deliver_signal",
    "fire_wait_timer",
    "parse_duration_ms",
    "simulated_signals",
]

SLEEP = "sleep"
WAIT_FOR_EVENT = "waitForEvent"
APPROVAL = "approval"
BUILTIN_FUNCTIONS = frozenset({SLEEP, WAIT_FOR_EVENT, APPROVAL})
APPROVAL_SIGNAL = "approval"
TIMER_KINDS = frozenset({"sleep", "wait_timeout", "wait_escalate"})
QUORUMS = ("any", "majority", "unanimous")
MAX_WAIT_MS = 366 * 86_400_000


class WaitInputError(CoreError, ValueError):
    """The input of a built-in step is not usable."""


@dataclass(frozen=True, slots=True)
class RegisterWait:
    """A wait for events: index `wait:{type}:{correlation}` and re-deliver buffered signals."""

    step_id: str
    events: tuple[str, ...]
    correlation: str | None


@dataclass(frozen=True, slots=True)
class BufferSignal:
    """A signal no step waits for yet: keep it (camelCase SignalExecution fields)."""

    signal: dict[str, Any]


def parse_duration_ms(value: Any, field: str) -> int:
    """`1500`, `"1500"`, `"250ms"`, `"5s"`, `"1h30m"`, `"2d"`, `"1w"`, `"P1D"` -> milliseconds."""
    try:
        if isinstance(value, float) and math.isfinite(value):
            ms = int(value)  # a computed template value: whole milliseconds
        else:
            ms = durations.parse_duration_ms(value)
    except ValueError as exc:
        raise WaitInputError(f"{field}: {exc}") from None
    if not 0 <= ms <= MAX_WAIT_MS:
        raise WaitInputError(f"{field}: {ms} ms is out of range (0 to 366 days)")
    return ms


def _parse_until(value: Any) -> datetime:
    if not isinstance(value, str):
        raise WaitInputError(f"until: expected an ISO-8601 time, got {value!r}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise WaitInputError(f"until: {value!r} is not an ISO-8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _names(value: Any, field: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise WaitInputError(f"{field}: expected a non-empty string or list of strings")
    out = []
    for item in items:
        if not isinstance(item, str) or not item or len(item) > 200:
            raise WaitInputError(f"{field}: {item!r} is not a name (1 to 200 characters)")
        if item not in out:
            out.append(item)
    return out


def _object(rendered: Any) -> dict[str, Any]:
    if not isinstance(rendered, dict):
        raise WaitInputError("expected an object")
    return rendered


# -- starting a wait (called from Run.dispatch) --------------------------------------------
def begin_wait(active: engine.Run, cs: CompiledStep, run: StepRun, rendered: Any) -> bool:
    """Handle a built-in function in place of dispatching it; False for any other function."""
    if run.function not in BUILTIN_FUNCTIONS:
        return False
    try:
        data = _object(rendered)
        if run.function == SLEEP:
            _sleep(active, cs, run, data)
        elif run.function == WAIT_FOR_EVENT:
            _wait_for_event(active, cs, run, data)
        else:
            _approval(active, cs, run, data)
    except WaitInputError as exc:
        error = {
            "type": "InvalidWaitInput",
            "message": f"steps[{cs.index}].input: {exc}",
            "retryable": False,
        }
        active.step_error(cs, run, error)
    return True


def _waiting(active: engine.Run, cs: CompiledStep, run: StepRun, wait: dict[str, Any]) -> None:
    run.status = StepStatus.WAITING
    run.wait = wait
    shown = {k: v for k, v in wait.items() if k not in ("received", "decisions", "signalIds")}
    active.emit("execution.waiting", cs.id, run.attempt, **shown)


def _sleep(active: engine.Run, cs: CompiledStep, run: StepRun, data: dict[str, Any]) -> None:
    if ("duration" in data) == ("until" in data):
        raise WaitInputError("give exactly one of 'duration' and 'until'")
    if "until" in data:
        due = _parse_until(data["until"])
    else:
        due = active.now + timedelta(milliseconds=parse_duration_ms(data["duration"], "duration"))
    _waiting(active, cs, run, {"kind": "sleep", "until": due.isoformat()})
    active.out.timers.append(engine.SetTimer("sleep", cs.id, run.attempt, max(due, active.now)))


def _deadline(active: engine.Run, ms: int | None) -> str | None:
    return (active.now + timedelta(milliseconds=ms)).isoformat() if ms is not None else None


def _wait_for_event(
    active: engine.Run, cs: CompiledStep, run: StepRun, data: dict[str, Any]
) -> None:
    unknown = set(data) - {"event", "correlation", "mode", "timeout"}
    if unknown:
        raise WaitInputError(f"unknown field(s) {', '.join(sorted(unknown))}")
    events = _names(data.get("event"), "event")
    mode = data.get("mode", "any")
    if mode not in ("any", "all"):
        raise WaitInputError(f"mode: expected 'any' or 'all', got {mode!r}")
    correlation = data.get("correlation")
    if correlation is not None and not isinstance(correlation, str | int | float):
        raise WaitInputError("correlation: expected a string")
    corr = str(correlation) if correlation not in (None, "") else None
    timeout = parse_duration_ms(data["timeout"], "timeout") if "timeout" in data else None
    wait: dict[str, Any] = {
        "kind": "event",
        "events": events,
        "mode": mode,
        "correlation": corr,
        "deadline": _deadline(active, timeout),
        "received": {},
        "signalIds": [],
    }
    _waiting(active, cs, run, wait)
    active.out.effects.append(RegisterWait(cs.id, tuple(events), corr))
    if timeout is not None:
        due = active.now + timedelta(milliseconds=timeout)
        active.out.timers.append(engine.SetTimer("wait_timeout", cs.id, run.attempt, due))


def _approval(active: engine.Run, cs: CompiledStep, run: StepRun, data: dict[str, Any]) -> None:
    unknown = set(data) - {"approvers", "quorum", "deadline", "escalateTo", "message"}
    if unknown:
        raise WaitInputError(f"unknown field(s) {', '.join(sorted(unknown))}")
    approvers = _names(data.get("approvers"), "approvers")
    escalate = _names(data["escalateTo"], "escalateTo") if data.get("escalateTo") else []
    quorum = data.get("quorum", "any")
    if quorum not in QUORUMS:
        raise WaitInputError(f"quorum: expected one of {', '.join(QUORUMS)}, got {quorum!r}")
    deadline = parse_duration_ms(data["deadline"], "deadline") if "deadline" in data else None
    message = data.get("message", "")
    wait: dict[str, Any] = {
        "kind": "approval",
        "approvers": approvers,
        "quorum": quorum,
        "escalateTo": escalate,
        "escalated": False,
        "deadlineMs": deadline,
        "deadline": _deadline(active, deadline),
        "message": message if isinstance(message, str) else str(message),
        "decisions": {},
        "signalIds": [],
    }
    _waiting(active, cs, run, wait)
    if deadline is not None:
        kind: engine.TimerKind = "wait_escalate" if escalate else "wait_timeout"
        due = active.now + timedelta(milliseconds=deadline)
        active.out.timers.append(engine.SetTimer(kind, cs.id, run.attempt, due))


# -- signals ------------------------------------------------------------------------------
def current_approvers(wait: dict[str, Any]) -> list[str]:
    """Who may decide now: the approvers, plus `escalateTo` once escalated."""
    approvers = list(wait.get("approvers", []))
    if wait.get("escalated"):
        approvers += [a for a in wait.get("escalateTo", []) if a not in approvers]
    return approvers


def _consumed(state: ExecutionState) -> set[str]:
    return {
        signal_id
        for run in state.steps.values()
        if run.wait
        for signal_id in run.wait.get("signalIds", [])
    }


def deliver_signal(
    wf: CompiledWorkflow,
    state: ExecutionState,
    now: datetime,
    *,
    name: str,
    payload: Any,
    signal_id: str,
    correlation: str | None = None,
    step_id: str | None = None,
    actor: dict[str, Any] | None = None,
    sent_at: datetime | None = None,
) -> engine.Transition:
    """A signal arrived: complete (or advance) the first step waiting for it, else buffer it."""
    if state.terminal or signal_id in _consumed(state):
        return engine.Transition(state, duplicate=True)
    active = engine.Run(wf, state, now, actor or engine.SYSTEM_ACTOR)
    for cs in wf.steps:
        run = state.steps[cs.id]
        wait = run.wait
        if run.status != StepStatus.WAITING or not wait or step_id not in (None, cs.id):
            continue
        if wait["kind"] == "event" and name in wait["events"]:
            if correlation is not None and wait.get("correlation") not in (None, correlation):
                continue
            _receive(active, cs, run, name, payload, signal_id, correlation)
            return active.result()
        if wait["kind"] == "approval" and name == APPROVAL_SIGNAL:
            if _decide(active, cs, run, payload, signal_id):
                return active.result()
            return engine.Transition(state, duplicate=True)
    if name == APPROVAL_SIGNAL and step_id is not None:  # decisions are never buffered
        return engine.Transition(state, duplicate=True)
    signal = {
        "name": name,
        "payload": payload,
        "signalId": signal_id,
        "correlation": correlation,
        "stepId": step_id,
        "actor": actor,
        "sentAt": (sent_at or now).isoformat(),
    }
    active.out.effects.append(BufferSignal(signal))
    return active.result()


def _receive(
    active: engine.Run,
    cs: CompiledStep,
    run: StepRun,
    name: str,
    payload: Any,
    signal_id: str,
    correlation: str | None,
) -> None:
    wait = run.wait
    assert wait is not None
    wait["signalIds"].append(signal_id)
    wait["received"][name] = payload
    active.emit(
        "step.signalled", cs.id, run.attempt, event=name, payload=payload, correlation=correlation
    )
    if wait["mode"] == "any":
        output = payload
    elif set(wait["received"]) >= set(wait["events"]):
        output = [wait["received"][event] for event in wait["events"]]
    else:
        return
    _skip_timeout_branch(active, cs, "the wait ended before its timeout")
    active.succeed_step(cs, run, output)


def _quorum_outcome(wait: dict[str, Any]) -> bool | None:
    """True approved, False rejected, None undecided. `need` approvals of the approvers."""
    approvers = current_approvers(wait)
    n = len(approvers)
    need = {"any": 1, "majority": n // 2 + 1, "unanimous": n}[wait["quorum"]]
    decisions = [wait["decisions"][a]["decision"] for a in approvers if a in wait["decisions"]]
    approvals = decisions.count("approve")
    if approvals >= need:
        return True
    if n - decisions.count("reject") < need:
        return False
    return None


def _approval_output(wait: dict[str, Any], approved: bool | None) -> dict[str, Any]:
    decisions = [{"approver": a, **d} for a, d in wait["decisions"].items()]
    decision = {True: "approved", False: "rejected", None: "timed_out"}[approved]
    return {"approved": bool(approved), "decision": decision, "decisions": decisions}


def _decide(
    active: engine.Run, cs: CompiledStep, run: StepRun, payload: Any, signal_id: str
) -> bool:
    wait = run.wait
    assert wait is not None
    if not isinstance(payload, dict):
        return False
    approver, decision = payload.get("approver"), payload.get("decision")
    if decision not in ("approve", "reject") or approver not in current_approvers(wait):
        return False
    if approver in wait["decisions"]:
        return False  # the first decision of each approver counts
    comment = payload.get("comment")
    wait["signalIds"].append(signal_id)
    wait["decisions"][approver] = {
        "decision": decision,
        "comment": comment,
        "at": active.now.isoformat(),
    }
    on_behalf = payload.get("decidedBy")  # the admin key that decided for the approver
    if isinstance(on_behalf, str):
        wait["decisions"][approver]["decidedBy"] = on_behalf
    who = {"kind": "user", "id": approver}
    extra = {"decidedBy": on_behalf} if isinstance(on_behalf, str) else {}
    active.emit(
        "step.approval", cs.id, run.attempt, actor=who, approver=approver, decision=decision,
        comment=comment, **extra,
    )  # fmt: skip
    outcome = _quorum_outcome(wait)
    if outcome is not None:
        _skip_timeout_branch(active, cs, "the approval was decided before its deadline")
        active.succeed_step(cs, run, _approval_output(wait, outcome))
    return True


# -- timers -------------------------------------------------------------------------------
def fire_wait_timer(
    wf: CompiledWorkflow,
    state: ExecutionState,
    kind: str,
    step_id: str,
    attempt: int,
    now: datetime,
) -> engine.Transition:
    run = state.steps.get(step_id)
    wait = run.wait if run is not None else None
    if run is None or wait is None or run.attempt != attempt or run.status != StepStatus.WAITING:
        return engine.Transition(state, duplicate=True)
    active = engine.Run(wf, state, now, engine.SYSTEM_ACTOR)
    cs = wf.step(step_id)
    if kind == "sleep" and wait["kind"] == "sleep":
        active.succeed_step(cs, run, {"sleptUntil": wait["until"]})
    elif kind == "wait_escalate" and wait["kind"] == "approval" and not wait["escalated"]:
        wait["escalated"] = True
        ms = int(wait["deadlineMs"])
        wait["deadline"] = _deadline(active, ms)
        active.emit(
            "step.escalated",
            cs.id,
            run.attempt,
            approvers=current_approvers(wait),
            escalatedTo=wait["escalateTo"],
            deadline=wait["deadline"],
        )
        due = now + timedelta(milliseconds=ms)
        active.out.timers.append(engine.SetTimer("wait_timeout", cs.id, run.attempt, due))
    elif kind == "wait_timeout" and wait["kind"] in ("event", "approval"):
        _time_out(active, cs, run, wait)
    else:
        return engine.Transition(state, duplicate=True)
    return active.result()


def _time_out(active: engine.Run, cs: CompiledStep, run: StepRun, wait: dict[str, Any]) -> None:
    target = cs.step.on_timeout or "fail"
    wait["timedOut"] = True
    active.emit("step.timed_out", cs.id, run.attempt, deadline=wait["deadline"], onTimeout=target)
    if target == "fail":
        what = "an approval" if wait["kind"] == "approval" else ", ".join(wait["events"])
        message = f"step '{cs.id}' timed out waiting for {what}"
        active.step_error(cs, run, {"type": "WaitTimeout", "message": message, "retryable": False})
        return
    output: dict[str, Any] = {"timedOut": True}
    if wait["kind"] == "approval":
        output = {**_approval_output(wait, None), "timedOut": True}
    if target != "continue":
        end = active.wf.step(target).index
        for later in active.wf.steps[cs.index + 1 : end]:
            _skip(active, later, f"onTimeout of '{cs.id}' jumps to '{target}'")
    active.succeed_step(cs, run, output)


def _skip_timeout_branch(active: engine.Run, cs: CompiledStep, reason: str) -> None:
    target = cs.step.on_timeout
    if target and target not in ("fail", "continue") and target in active.wf.by_id:
        _skip(active, active.wf.step(target), reason)


def _skip(active: engine.Run, cs: CompiledStep, reason: str) -> None:
    run = active.state.steps[cs.id]
    if run.status != StepStatus.PENDING:
        return
    run.status = StepStatus.SKIPPED
    run.finished_at = active.now
    active.touch(cs.id)
    active.emit("step.skipped", cs.id, condition=None, value=None, reason=reason)


# -- dry runs -----------------------------------------------------------------------------
def simulated_signals(transition: engine.Transition, mocks: dict[str, Any]) -> list[dict[str, Any]]:
    """For `simulate`: the signals that complete newly registered waits from `--mock`.

    An event wait receives the step's mock as the payload of each awaited event (for
    `mode: all`, a mock object keyed by event type gives each its own payload). An approval
    takes the mock as a decision `{approver, decision, comment}` or a list of them. Without
    a mock the wait lasts until its timeout (or forever).
    """
    out: list[dict[str, Any]] = []
    for entry in transition.events:
        step_id = entry.step_id
        if entry.type != "execution.waiting" or step_id not in mocks or step_id is None:
            continue
        mock, kind = mocks[step_id], entry.data.get("kind")
        if kind == "event":
            events = (
                entry.data["events"] if entry.data["mode"] == "all" else entry.data["events"][:1]
            )
            for event in events:
                payload = mock[event] if isinstance(mock, dict) and event in mock else mock
                out.append({"name": event, "payload": payload, "step_id": step_id})
        elif kind == "approval":
            for number, decision in enumerate(mock if isinstance(mock, list) else [mock]):
                if isinstance(decision, dict):
                    payload = {"approver": entry.data["approvers"][0], **decision}
                    out.append({"name": APPROVAL_SIGNAL, "payload": payload, "step_id": step_id})
                    out[-1]["signal_id"] = f"sim-{step_id}-{number}"
    for number, signal in enumerate(out):
        signal.setdefault("signal_id", f"sim-{signal['step_id']}-{signal['name']}-{number}")
    return out


EXTENSION = Extension(
    "waits",
    on_dispatch=begin_wait,
    timers=dict.fromkeys(TIMER_KINDS, fire_wait_timer),
)
