"""Namespaces (tenants) as qualified names: pure functions, no I/O.

The API stores the names of a namespace's workflows and schedules qualified as
`<namespace>~<name>`; in the namespace `default` they are stored as they are. The
orchestrator and dispatcher only ever see stored names, so they need no notion of namespaces:
an execution belongs to the namespace of its workflow's stored name, and a child workflow
(`workflow:<name>` step) is qualified at registration so it starts in the parent's namespace.

`~` is the one URL-unreserved character that names may not contain, so qualified names and
the execution ids derived from them (`evt-<workflow>-...`, `sched-<schedule>-...`) stay
valid path segments, and a caller cannot forge another namespace's name: the API refuses a
`~` in any name it is given.
"""

from __future__ import annotations

import re
from typing import Any

from workflows.services.core.children import PREFIX as CHILD_PREFIX
from workflows.services.core.errors import CoreError

__all__ = [
    "DEFAULT_NAMESPACE",
    "NAMESPACE_PATTERN",
    "SEPARATOR",
    "NamespaceError",
    "belongs",
    "check_namespace",
    "namespace_of",
    "qualify",
    "qualify_definition",
    "unqualify",
    "unqualify_definition",
]

DEFAULT_NAMESPACE = "default"
SEPARATOR = "~"
NAMESPACE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
_NAMESPACE = re.compile(NAMESPACE_PATTERN)


class NamespaceError(CoreError, ValueError):
    """A name or namespace the API refuses; `name` is the offending value."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name!r}: {reason}")
        self.name = name
        self.reason = reason


def check_namespace(namespace: str) -> str:
    """`namespace` if valid (lowercase letters, digits and '-', up to 63), else NamespaceError."""
    if not _NAMESPACE.match(namespace):
        raise NamespaceError(
            namespace, "a namespace is 1 to 63 lowercase letters, digits or '-' (not first)"
        )
    return namespace


def qualify(namespace: str, name: str) -> str:
    """The stored name of `name` in `namespace`; NamespaceError if `name` holds the separator."""
    if SEPARATOR in name:
        raise NamespaceError(name, f"names cannot contain {SEPARATOR!r}")
    return name if namespace == DEFAULT_NAMESPACE else f"{namespace}{SEPARATOR}{name}"


def namespace_of(stored: str) -> str:
    """The namespace a stored name belongs to."""
    head, sep, _ = stored.partition(SEPARATOR)
    return head if sep else DEFAULT_NAMESPACE


def unqualify(stored: str) -> str:
    """The name as its namespace sees it (the stored name without its qualifier)."""
    return stored.partition(SEPARATOR)[2] or stored


def belongs(namespace: str, stored: str) -> bool:
    return namespace_of(stored) == namespace


def _map_children(wire: dict[str, Any], rename: Any) -> dict[str, Any]:
    steps = []
    for step in wire.get("steps", []):
        function = step.get("function") if isinstance(step, dict) else None
        if isinstance(function, str) and function.startswith(CHILD_PREFIX):
            step = {**step, "function": CHILD_PREFIX + rename(function[len(CHILD_PREFIX) :])}
        steps.append(step)
    return {**wire, "name": rename(wire["name"]), "steps": steps}


def qualify_definition(namespace: str, wire: dict[str, Any]) -> dict[str, Any]:
    """A definition (wire form) as stored for `namespace`: name and child workflows qualified."""
    return _map_children(wire, lambda name: qualify(namespace, name))


def unqualify_definition(wire: dict[str, Any]) -> dict[str, Any]:
    """A stored definition as its namespace sees it."""
    return _map_children(wire, unqualify)
