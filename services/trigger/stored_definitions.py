"""The stored definitions the routes share: register a compiled one in a namespace (quota,
the check against the latest version, the migration of the executions in flight) and read
one as the caller's namespace sees it (404 naming what is missing)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.loader import ParsedText
from workflows.services.core.namespaces import (
    NamespaceError,
    belongs,
    qualify_definition,
    unqualify_definition,
)
from workflows.services.infra.kafka import Bus
from workflows.services.infra.store import StateStore
from workflows.services.trigger.auth import stored_name
from workflows.services.trigger.deps import ApiProblem, context
from workflows.services.trigger.migrations import check_against_latest, migrate_in_flight
from workflows.services.trigger.schemas import RegisterResponse

__all__ = [
    "MAX_VERSIONS",
    "MAX_WORKFLOWS",
    "no_such_version",
    "store_compiled",
    "stored_definition",
]

MAX_WORKFLOWS = 500  # per namespace
MAX_VERSIONS = 1000  # per workflow


async def store_compiled(
    store: StateStore,
    compiled: CompiledWorkflow,
    registered_by: str,
    *,
    namespace: str,
    source: tuple[str, str] | None = None,
    parsed: ParsedText | None = None,
    bus: Bus | None = None,
) -> RegisterResponse:
    """Register a validated definition in `namespace` (`auth.principal(request).namespace`):
    a new immutable version unless identical to the latest. `source` (format, text): what was
    sent, kept beside a new version so `source` and the diff show it with its comments.
    A new version's `migration` applies to the executions in flight (`trigger.migrations`;
    with `bus`, the controls are sent); `parsed` places a refusal in the text."""
    try:
        wire = qualify_definition(namespace, compiled.definition.to_wire())
    except NamespaceError as exc:
        raise ApiProblem(
            422,
            "invalid workflow definition",
            issues=[{"path": "name", "message": f"{exc.name}: {exc.reason}"}],
        ) from None
    wire.pop("version", None)
    await _check_quota(store, wire["name"], namespace)
    refused = await check_against_latest(store, wire["name"], compiled, parsed)
    if refused:  # resume-at-same-step after a version whose step ids do not line up
        raise ApiProblem(422, "invalid workflow definition", issues=[i.to_json() for i in refused])
    doc = json.dumps(wire, sort_keys=True, separators=(",", ":"))
    meta = {"registeredAt": datetime.now(UTC).isoformat(), "registeredBy": registered_by}
    version, created = await store.register_definition(wire["name"], doc, meta)
    if source is not None:  # the first text of a version wins (hsetnx)
        await store.save_definition_source(wire["name"], version, *source)
    plans = []
    if created and bus is not None:
        plans = await migrate_in_flight(store, bus, namespace, wire["name"], version, registered_by)
    return RegisterResponse(
        name=compiled.name,
        version=version,
        created=created,
        migrations=[plan.wire() for plan in plans],
    )


async def _check_quota(store: StateStore, stored: str, namespace: str) -> None:
    """429 when `namespace` holds `MAX_WORKFLOWS` workflows (and `stored` is new) or
    `stored` has `MAX_VERSIONS` versions."""
    names = await store.definition_names()
    if stored not in names and sum(belongs(namespace, n) for n in names) >= MAX_WORKFLOWS:
        raise ApiProblem(
            429, f"quota: a namespace holds at most {MAX_WORKFLOWS} workflows; delete some first"
        )
    if stored in names and len(await store.definition_versions(stored)) >= MAX_VERSIONS:
        raise ApiProblem(
            429, f"quota: a workflow keeps at most {MAX_VERSIONS} versions; register a new name"
        )


async def no_such_version(
    store: StateStore, stored: str, name: str, version: int | None
) -> ApiProblem:
    """The 404 for `name` (stored as `stored`): not registered, or without `version`."""
    latest = await store.get_definition(stored)
    if latest is None:
        return ApiProblem(404, f"workflow '{name}' is not registered")
    return ApiProblem(404, f"workflow '{name}' has no version {version} (latest is {latest[0]})")


async def stored_definition(
    request: Request, name: str, version: int | None
) -> tuple[str, int, dict[str, Any]]:
    """A version (latest if None) of the caller's workflow `name`, as its namespace sees it.

    Returns the stored name, the version number and the definition; 404 if there is none.
    """
    store, _, _ = context(request).ready()
    stored = stored_name(request, name)
    found = await store.get_definition(stored, version)
    if found is None:
        raise await no_such_version(store, stored, name, version)
    number, doc = found
    return stored, number, unqualify_definition(json.loads(doc))
