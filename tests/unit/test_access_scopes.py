"""Access control, pure parts: the route -> scope table, scope implication, tokens, namespaces."""

from __future__ import annotations

import httpx
import pytest

from workflows.client import Workflows
from workflows.client_errors import ApiError, AuthenticationError, PermissionDenied
from workflows.services.core.namespaces import (
    NamespaceError,
    belongs,
    check_namespace,
    namespace_of,
    qualify,
    qualify_definition,
    unqualify,
    unqualify_definition,
)
from workflows.services.core.validation import compile_workflow
from workflows.services.infra.api_keys import digest, granted, new_token, parse_scope, token_id
from workflows.services.infra.settings import Settings
from workflows.services.trigger.app import create_app
from workflows.services.trigger.auth import ROUTE_SCOPES, app_routes, required_scope


def test_every_route_of_the_app_has_an_explicit_scope() -> None:
    app = create_app(Settings(kafka_bootstrap="127.0.0.1:1", redis_url="redis://127.0.0.1:1/0"))
    routes = set(app_routes(app))
    assert len(routes) > 30  # the walk found the routes of the included routers
    unmapped = sorted(routes - set(ROUTE_SCOPES))
    assert not unmapped, f"add these routes to services/trigger/auth.py ROUTE_SCOPES: {unmapped}"
    stale = sorted(set(ROUTE_SCOPES) - routes)
    assert not stale, f"ROUTE_SCOPES names routes the app does not have: {stale}"


def test_reads_need_read_changes_need_more_and_health_is_open() -> None:
    assert required_scope("GET", "/healthz") is None
    assert required_scope("GET", "/dashboard/{name:path}") is None
    assert required_scope("GET", "/executions/{execution_id}") == "read"
    assert required_scope("POST", "/workflows/{name}/execute") == "execute"
    assert required_scope("POST", "/workflows") == "admin"
    assert required_scope("PUT", "/a/route/nobody/mapped") == "admin"  # closed by default
    for (method, path), scope in ROUTE_SCOPES.items():  # reading never needs more than read
        assert method != "GET" or scope in (None, "read"), (method, path, scope)


@pytest.mark.parametrize(
    ("held", "needed", "ok"),
    [
        (["admin"], "read", True),
        (["admin"], "execute", True),
        (["execute"], "read", True),
        (["execute"], "admin", False),
        (["read"], "execute", False),
        (["read", "execute"], "execute", True),
    ],
)
def test_admin_implies_execute_implies_read(held: list[str], needed: str, ok: bool) -> None:
    assert granted([parse_scope(s) for s in held], parse_scope(needed)) is ok


def test_unknown_scope_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'write'"):
        parse_scope("write")


def test_tokens_are_random_and_name_their_key() -> None:
    key_id, token = new_token()
    other_id, other = new_token()
    assert token.startswith(f"wfk_{key_id}_") and len(token) > 40
    assert token != other and key_id != other_id
    assert token_id(token) == key_id
    assert token_id("wfk_") is None and token_id("Bearer x") is None and token_id("wfk_id_") is None
    assert digest(token) != digest(other) and len(digest(token)) == 64


def test_default_namespace_names_are_stored_as_they_are() -> None:
    assert qualify("default", "orders") == "orders"
    assert qualify("acme", "orders") == "acme~orders"
    assert namespace_of("acme~orders") == "acme" and namespace_of("orders") == "default"
    assert unqualify("acme~orders") == "orders" and unqualify("orders") == "orders"
    assert belongs("acme", "acme~orders") and not belongs("default", "acme~orders")
    assert not belongs("acme", "orders")


def test_a_caller_cannot_name_another_namespace() -> None:
    with pytest.raises(NamespaceError, match="cannot contain"):
        qualify("default", "acme~orders")
    with pytest.raises(NamespaceError, match="lowercase"):
        check_namespace("Acme")


def test_child_workflows_are_qualified_with_their_parent() -> None:
    wire = {
        "name": "parent",
        "steps": [
            {"id": "a", "function": "charge"},
            {"id": "b", "function": "workflow:child"},
        ],
    }
    stored = qualify_definition("acme", wire)
    assert stored["name"] == "acme~parent"
    assert [s["function"] for s in stored["steps"]] == ["charge", "workflow:acme~child"]
    compile_workflow(stored)  # a stored definition is valid (the orchestrator compiles it)
    assert unqualify_definition(stored) == wire
    with pytest.raises(NamespaceError):
        qualify_definition("acme", {**wire, "steps": [{"id": "b", "function": "workflow:x~y"}]})


def test_the_client_sends_its_key_and_names_auth_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        if request.url.path == "/workflows":
            return httpx.Response(401, json={"error": "an API key is required"})
        return httpx.Response(403, json={"error": "lacks the 'execute' scope"})

    transport = httpx.MockTransport(answer)
    monkeypatch.setenv("WORKFLOWS_API_KEY", "wfk_env_secret")
    missing = pytest.raises(AuthenticationError, match="HTTP 401: an API key is required")
    with Workflows("http://test", transport=transport) as wf, missing:
        wf.list_workflows()
    with (
        Workflows("http://test", transport=transport, api_key="wfk_arg_secret") as wf,
        pytest.raises(PermissionDenied, match="'execute' scope") as denied,
    ):
        wf.start("orders")
    assert isinstance(denied.value, ApiError) and denied.value.status_code == 403
    monkeypatch.delenv("WORKFLOWS_API_KEY")
    with Workflows("http://test", transport=transport) as wf, pytest.raises(ApiError):
        wf.list_workflows()
    assert seen == ["Bearer wfk_env_secret", "Bearer wfk_arg_secret", None]
