"""Access control of the HTTP API: API keys, the scope each route needs, the caller's namespace.

`authorize` runs before every route of the app (an app-wide dependency, so routers added later
get it too). The scope a route needs comes from `ROUTE_SCOPES` (method, path template) ->
`read` | `execute` | `admin`, or `None` for public routes; a route missing from the table
needs `admin` (closed by default; `tests/unit/test_access_scopes.py` fails on any route of
the app missing from the table). A new route declares its scope by adding its line here.

With `settings.auth == "off"` (`workflows dev`, tests) every caller is an admin of the
namespace `default`. Otherwise the key comes from `Authorization: Bearer <token>` or
`X-API-Key: <token>`: 401 when missing, unknown or revoked, 403 when its scopes lack the
route's. `request.state.principal` is the caller; `request.state.api_key_id` its key id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from workflows.services.core.namespaces import (
    DEFAULT_NAMESPACE,
    NamespaceError,
    belongs,
    qualify,
)
from workflows.services.infra.api_keys import SCOPES, ApiKeyStore, Scope, granted
from workflows.services.trigger.deps import ApiProblem, context

__all__ = [
    "PUBLIC",
    "ROUTE_SCOPES",
    "Principal",
    "app_routes",
    "authorize",
    "principal",
    "required_scope",
    "stored_name",
    "visible",
]

PUBLIC = None
ROUTE_SCOPES: dict[tuple[str, str], Scope | None] = {
    # operations: health is open; /metrics needs a key (Prometheus: `authorization` in the
    # scrape config) unless served on its own port (WORKFLOWS_METRICS_PORT)
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): "read",
    # the dashboard's static files (its API calls carry the key)
    ("GET", "/"): PUBLIC,
    ("GET", "/dashboard"): PUBLIC,
    ("GET", "/dashboard/"): PUBLIC,
    ("GET", "/dashboard/{name:path}"): PUBLIC,
    # workflows and functions
    ("GET", "/workflows"): "read",
    ("POST", "/workflows"): "admin",
    ("GET", "/workflows/{name}"): "read",
    ("GET", "/workflows/{name}/metrics"): "read",
    ("POST", "/workflows/{name}/execute"): "execute",
    ("GET", "/functions"): "read",
    ("POST", "/functions"): "admin",
    # back-pressure limits (services/trigger/routes/limits.py)
    ("GET", "/limits"): "read",
    ("PUT", "/limits/functions/{name}"): "admin",
    ("DELETE", "/limits/functions/{name}"): "admin",
    # executions
    ("GET", "/executions"): "read",
    ("GET", "/executions/{execution_id}"): "read",
    ("POST", "/executions/{execution_id}/cancel"): "execute",
    ("POST", "/executions/{execution_id}/pause"): "execute",
    ("POST", "/executions/{execution_id}/resume"): "execute",
    ("POST", "/executions/{execution_id}/retry"): "execute",
    ("POST", "/executions/{execution_id}/signal"): "execute",
    ("POST", "/executions/{execution_id}/approvals/{step_id}"): "execute",
    ("GET", "/executions/{execution_id}/waits"): "read",
    ("GET", "/executions/{execution_id}/logs"): "read",
    ("POST", "/signals/{event_type}"): "execute",
    ("POST", "/events/{event_type}"): "execute",
    # schedules
    ("GET", "/schedules"): "read",
    ("POST", "/schedules"): "admin",
    ("GET", "/schedules/{schedule_id}"): "read",
    ("DELETE", "/schedules/{schedule_id}"): "admin",
    ("POST", "/schedules/{schedule_id}/pause"): "admin",
    ("POST", "/schedules/{schedule_id}/resume"): "admin",
    # templates: the catalogue is global; installing registers into the caller's namespace
    ("GET", "/templates"): "read",
    ("GET", "/templates/{template_id}"): "read",
    ("POST", "/templates/{template_id}/install"): "admin",
    # authoring (services/trigger/routes/authoring.py): checks and dry runs write nothing
    ("POST", "/workflows/validate"): "read",
    ("POST", "/workflows/simulate"): "read",
    ("GET", "/workflows/{name}/source"): "read",
    ("GET", "/workflows/{name}/diff"): "read",
    ("POST", "/templates/{template_id}/draft"): "read",
}

_bearer = HTTPBearer(auto_error=False, description="an API key: `wfk_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key: `wfk_...`")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who calls: the key (None when auth is off), its namespace and scopes."""

    key_id: str | None
    namespace: str
    scopes: tuple[Scope, ...]
    approver: str | None = None  # the approver identity the key is bound to, if any


OPEN = Principal(key_id=None, namespace=DEFAULT_NAMESPACE, scopes=SCOPES)


def required_scope(method: str, path: str) -> Scope | None:
    """The scope a route needs; `admin` for a route missing from the table (closed)."""
    return ROUTE_SCOPES.get((method, path), "admin")


def app_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path template) of every API route of the app, including included routers."""

    def walk(routes: Any) -> Iterator[tuple[str, str]]:
        for route in routes:
            contexts = getattr(route, "effective_route_contexts", None)
            if contexts is not None:  # a lazily included router (FastAPI >= 0.16x)
                for found in contexts():
                    if isinstance(found.original_route, APIRoute):
                        for method in sorted(found.original_route.methods or ()):
                            yield method, found.path
            elif isinstance(route, APIRoute):
                for method in sorted(route.methods or ()):
                    yield method, route.path

    yield from walk(app.routes)


def _token(
    bearer: HTTPAuthorizationCredentials | None, header: str | None
) -> tuple[str | None, str]:
    if bearer is not None:
        return bearer.credentials.strip(), "the Authorization header"
    if header:
        return header.strip(), "the X-API-Key header"
    return None, ""


async def authorize(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> None:
    """The app-wide dependency: 401/403 unless the caller's key allows this route."""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    needed = required_scope(request.method, path)
    ctx = context(request)
    if needed is PUBLIC:
        return
    if ctx.settings.auth == "off":
        request.state.principal = OPEN
        return
    token, where = _token(bearer, header)
    challenge = {"WWW-Authenticate": "Bearer"}
    if not token:
        raise ApiProblem(
            401,
            "an API key is required: send `Authorization: Bearer <key>` (or `X-API-Key`);"
            " create one with `workflows keys create`",
            headers=challenge,
        )
    store, _, _ = ctx.ready()
    key = await ApiKeyStore(store.redis, ctx.keys).lookup(token)
    if key is None:
        raise ApiProblem(401, f"the API key in {where} is not valid", headers=challenge)
    if key.revoked_at is not None:
        raise ApiProblem(
            401, f"API key {key.id} was revoked at {key.revoked_at}", headers=challenge
        )
    if not granted(key.scopes, needed):
        raise ApiProblem(
            403,
            f"API key {key.id} lacks the '{needed}' scope needed for {request.method} {path}"
            f" (it has: {', '.join(key.scopes)})",
        )
    request.state.principal = Principal(key.id, key.namespace, key.scopes, key.approver)
    request.state.api_key_id = key.id


def principal(request: Request) -> Principal:
    """The caller `authorize` admitted (auth off: an admin of the default namespace)."""
    found: Principal | None = getattr(request.state, "principal", None)
    return found or OPEN


def stored_name(request: Request, name: str, what: str = "workflow") -> str:
    """`name` as stored for the caller's namespace; 404 when it cannot exist there."""
    try:
        return qualify(principal(request).namespace, name)
    except NamespaceError:
        raise ApiProblem(404, f"{what} '{name}' not found") from None


def visible(request: Request, stored: str) -> bool:
    """Whether a stored workflow or schedule name belongs to the caller's namespace."""
    return belongs(principal(request).namespace, stored)
