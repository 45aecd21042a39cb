"""Kafka topic names, with an optional prefix (e.g. per environment or per test run)."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["FUNCTION_NAME_PATTERN", "Topics"]

FUNCTION_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,200}$"
_FUNCTION_NAME = re.compile(FUNCTION_NAME_PATTERN)
_PREFIX = re.compile(r"^[A-Za-z0-9._-]*$")


@dataclass(frozen=True, slots=True)
class Topics:
    """The engine's topics. Build with `Topics.with_prefix(prefix)`."""

    prefix: str
    start: str
    control: str
    step_commands: str
    step_results: str
    events: str
    dlq: str

    @classmethod
    def with_prefix(cls, prefix: str = "") -> Topics:
        """All topic names, each starting with `prefix` (Kafka topic characters only)."""
        if not _PREFIX.match(prefix):
            raise ValueError(f"invalid topic prefix {prefix!r}: use only [A-Za-z0-9._-]")
        return cls(
            prefix=prefix,
            start=f"{prefix}wf.executions.start",
            control=f"{prefix}wf.executions.control",
            step_commands=f"{prefix}wf.steps.commands",
            step_results=f"{prefix}wf.steps.results",
            events=f"{prefix}wf.executions.events",
            dlq=f"{prefix}wf.dlq",
        )

    def function(self, name: str) -> str:
        """The topic a worker for function `name` subscribes to."""
        if not _FUNCTION_NAME.match(name):
            raise ValueError(f"invalid function name {name!r}: must match {FUNCTION_NAME_PATTERN}")
        return f"{self.prefix}wf.fn.{name}"

    def fixed(self) -> dict[str, str]:
        """Every fixed (non-function) topic, by attribute name."""
        return {
            "start": self.start,
            "control": self.control,
            "step_commands": self.step_commands,
            "step_results": self.step_results,
            "events": self.events,
            "dlq": self.dlq,
        }
