"""What a transition causes: steps to dispatch, durable timers to set, audit entries.

The value types every part of the core shares (the engine, its extensions, the orchestrator
that turns them into outbox entries); this module imports nothing of the engine, so the
extensions (`workflows.services.core.extensions`) can name them without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from workflows.services.core.state import AuditEntry, ExecutionState

__all__ = ["SYSTEM_ACTOR", "DispatchStep", "SetTimer", "TimerKind", "Transition"]

TimerKind = Literal[
    "retry", "timeout", "execution_timeout", "sleep", "wait_timeout", "wait_escalate",
    "compensate_retry",
]  # fmt: skip
SYSTEM_ACTOR: dict[str, Any] = {"kind": "system"}  # step results and timers


@dataclass(frozen=True, slots=True)
class DispatchStep:
    step_id: str
    function: str
    input: Any
    attempt: int
    deadline: datetime | None
    fallback: bool


@dataclass(frozen=True, slots=True)
class SetTimer:
    kind: TimerKind
    step_id: str
    attempt: int
    due_at: datetime


@dataclass
class Transition:
    state: ExecutionState
    dispatches: list[DispatchStep] = field(default_factory=list)
    timers: list[SetTimer] = field(default_factory=list)
    events: list[AuditEntry] = field(default_factory=list)
    duplicate: bool = False
    effects: list[Any] = field(default_factory=list)  # waits/children (extensions)
