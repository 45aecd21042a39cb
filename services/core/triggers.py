"""Event triggers, without I/O: event types, wildcard matching, filters, input, the envelope.

An event has a type `noun.verb` (more segments allowed: `billing.invoice.paid`), an id and a
JSON payload. A workflow's `triggers[]` entry starts it for matching events:

- `event`: a type, where a `*` segment matches any one segment (`customer.*` matches
  `customer.signed_up`, not `customer.plan.changed`); a lone `*` matches every type;
- `filter`: a condition over `event` (the payload), e.g. `{{event.plan !== 'free'}}`;
- `input`: a template over `event`; without one the payload itself is the input (an object).

The execution id is derived from the event's type and id and the workflow, so the same
event delivered twice starts nothing new (the orchestrator ignores a known execution id).

On a Kafka topic an event is either the documented envelope
`{"type": "customer.signed_up", "id": "evt-1", "data": {...}}` (topics mapped to `""`)
or a plain JSON value whose type comes from the topic mapping (its id is then
`<topic>:<partition>:<offset>`, stable across redeliveries).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from workflows.services.core.definition import WorkflowDefinition
from workflows.services.core.errors import CoreError
from workflows.services.core.expressions import UNDEFINED, Expression, ExpressionError, truthy
from workflows.services.core.templates import Template, compile_template, parse_condition

__all__ = [
    "EVENT_TYPE_PATTERN",
    "CompiledTrigger",
    "Event",
    "EventError",
    "TriggerError",
    "compile_triggers",
    "event_execution_id",
    "parse_event",
    "type_matches",
]

EVENT_TYPE_PATTERN = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$"
_EVENT_TYPE = re.compile(EVENT_TYPE_PATTERN)
MAX_EVENT_ID = 255
MAX_EVENT_INT_DIGITS = 100


def _no_constant(name: str) -> Any:
    raise EventError(f"event is not valid JSON: {name} is not a JSON number", "invalid_json")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_EVENT_INT_DIGITS:
        raise EventError(
            f"event holds an integer of more than {MAX_EVENT_INT_DIGITS} digits", "invalid_json"
        )
    return int(text)


class EventError(CoreError, ValueError):
    """A malformed event (not JSON, no type, bad type or id): it goes to the DLQ."""

    def __init__(self, reason: str, code: str = "malformed_event") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class TriggerError(CoreError, ValueError):
    """A trigger's filter or input failed on an event; the event starts nothing for it."""


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    id: str
    data: Any
    source: str | None = None  # the envelope's, when it has them
    time: str | None = None

    def meta(self) -> dict[str, str | None]:
        """Everything but the data (`{{trigger.event.*}}`)."""
        return {"id": self.id, "type": self.type, "source": self.source, "time": self.time}


def check_type(event_type: str) -> str:
    if not _EVENT_TYPE.match(event_type) or len(event_type) > 200:
        raise EventError(
            f"invalid event type {event_type!r}: use 'noun.verb' (letters, digits, _ and -)",
            "invalid_event_type",
        )
    return event_type


def type_matches(pattern: str, event_type: str) -> bool:
    """`customer.*` matches `customer.signed_up`; `*` alone matches every type."""
    if pattern == "*":
        return True
    wanted, actual = pattern.split("."), event_type.split(".")
    return len(wanted) == len(actual) and all(
        w == "*" or w == a for w, a in zip(wanted, actual, strict=True)
    )


@dataclass(frozen=True, slots=True)
class CompiledTrigger:
    workflow: str
    version: int
    index: int
    pattern: str
    filter: Expression | None
    input: Template | None

    def matches(self, event_type: str) -> bool:
        return type_matches(self.pattern, event_type)

    def evaluate(self, data: Any) -> dict[str, Any] | None:
        """The execution input for this event, or None when the filter says no."""
        context = {"event": data}
        try:
            if self.filter is not None and not truthy(self.filter.evaluate(context)):
                return None
            rendered = data if self.input is None else self.input.render(context)
        except ExpressionError as exc:
            where = f"triggers[{self.index}]"
            raise TriggerError(f"{self.workflow} {where}: {exc}") from exc
        if rendered is UNDEFINED or rendered is None:
            rendered = {}
        if not isinstance(rendered, dict):
            raise TriggerError(
                f"{self.workflow} triggers[{self.index}].input: the input must be an object,"
                f" got {type(rendered).__name__}"
            )
        return rendered


def compile_triggers(definition: WorkflowDefinition, version: int) -> list[CompiledTrigger]:
    """The definition's triggers, parsed (a validated definition parses without errors)."""
    return [
        CompiledTrigger(
            workflow=definition.name,
            version=version,
            index=index,
            pattern=trigger.event,
            filter=parse_condition(trigger.filter) if trigger.filter is not None else None,
            input=compile_template(trigger.input) if trigger.input is not None else None,
        )
        for index, trigger in enumerate(definition.triggers)
    ]


def event_execution_id(event: Event, workflow: str) -> str:
    """The same for every delivery of one event to one workflow."""
    digest = hashlib.sha256(f"{event.type}\0{event.id}\0{workflow}".encode()).hexdigest()
    return f"evt-{workflow}-{digest[:24]}"


def parse_event(value: bytes, mapped_type: str, fallback_id: str, max_bytes: int) -> Event:
    """An event from a Kafka record: the envelope (`mapped_type == ""`) or a plain JSON value."""
    if len(value) > max_bytes:
        raise EventError(f"event larger than {max_bytes} bytes", "too_large")
    try:
        body = json.loads(value, parse_constant=_no_constant, parse_int=_bounded_int)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EventError(f"event is not valid JSON: {exc}", "invalid_json") from None
    except RecursionError:
        raise EventError("event is nested too deeply", "invalid_json") from None
    if mapped_type:
        return Event(check_type(mapped_type), fallback_id, body)
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise EventError(
            'an enveloped event must be an object {"type": "noun.verb", "id": ..., "data": ...}',
            "invalid_envelope",
        )
    unknown = set(body) - {"type", "id", "data", "time", "source"}
    if unknown:
        raise EventError(
            f"unknown envelope fields {sorted(unknown)}: the payload goes in 'data'",
            "invalid_envelope",
        )
    event_id = body.get("id", fallback_id)
    if (
        isinstance(event_id, bool)
        or not isinstance(event_id, str | int)
        or not 0 < len(str(event_id)) <= MAX_EVENT_ID
    ):
        raise EventError(f"event id must be a string of 1 to {MAX_EVENT_ID} characters")
    source, time = body.get("source"), body.get("time")
    return Event(
        check_type(body["type"]),
        str(event_id),
        body.get("data", {}),
        source=source if isinstance(source, str) else None,
        time=time if isinstance(time, str) else None,
    )
