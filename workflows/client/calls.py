"""The calls of the Workflows HTTP API, built once for both clients (no I/O here).

Each builder returns a `Call`: the request (method, path, params, json or content, headers,
how long the server may hold it) and `read`, which turns the response into what the client
method returns, mapping an error status to `ApiError` (401 `AuthenticationError`, 403
`PermissionDenied`). `Workflows` sends a call with httpx.Client, `AsyncWorkflows` with
httpx.AsyncClient; neither builds a request of its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from workflows.client_errors import (
    ApiError,
    AuthenticationError,
    ExecutionFailed,
    PermissionDenied,
)
from workflows.services.core.definition import WorkflowDefinition

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8000"
TERMINAL = frozenset({"completed", "failed", "cancelled", "timed_out"})
MAX_SERVER_WAIT_S = 300.0
SEARCH_PAGE = 500  # executions per request when a search follows its cursor
Definition = dict[str, Any] | WorkflowDefinition | str | Path

_ERRORS: dict[int, type[ApiError]] = {401: AuthenticationError, 403: PermissionDenied}


def result(response: httpx.Response) -> Any:
    """The decoded body (JSON, else text); ApiError (or a subclass) for a status >= 400."""
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = response.text
    if response.status_code >= 400:
        error = body.get("error") if isinstance(body, dict) else None
        kind = _ERRORS.get(response.status_code, ApiError)
        raise kind(response.status_code, str(error or response.reason_phrase), body)
    return body


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how to read its response (`result`, the body, unless said)."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    wait_s: float = 0.0  # the server may hold the request this long (on top of the timeout)
    read: Callable[[httpx.Response], T] = result

    def request(self, timeout: float) -> dict[str, Any]:
        """The arguments of httpx's `request()`; the server's hold comes on top of `timeout`."""
        return {
            "method": self.method,
            "url": self.path,
            "params": self.params,
            "json": self.json,
            "content": self.content,
            "headers": self.headers,
            "timeout": timeout + self.wait_s,
        }


def _q(value: str) -> str:
    return quote(value, safe="")


def _dict(response: httpx.Response) -> dict[str, Any]:
    body = result(response)
    return body if isinstance(body, dict) else {}


def _list(response: httpx.Response) -> list[dict[str, Any]]:
    body = result(response)
    return body if isinstance(body, list) else []


def _nothing(response: httpx.Response) -> None:
    result(response)


def _execution_id(response: httpx.Response) -> str:
    return str(result(response)["executionId"])


def _attempts(response: httpx.Response) -> list[dict[str, Any]]:
    return list(_dict(response)["attempts"])


def _page(response: httpx.Response) -> tuple[list[dict[str, Any]], str | None]:
    return _list(response), response.headers.get("next-cursor")


def _ready(response: httpx.Response) -> bool:
    return response.status_code == 200


def auth_headers(headers: dict[str, str] | None, api_key: str | None) -> dict[str, str]:
    """`headers` plus `Authorization: Bearer <api_key or WORKFLOWS_API_KEY>` when there is one."""
    key = api_key if api_key is not None else os.environ.get("WORKFLOWS_API_KEY", "")
    return {**({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}


def client_options(
    base_url: str, timeout: float, headers: dict[str, str] | None, api_key: str | None
) -> dict[str, Any]:
    """The options of the httpx client: base URL, default timeout, headers with the API key."""
    return {"base_url": base_url, "timeout": timeout, "headers": auth_headers(headers, api_key)}


def outcome(body: dict[str, Any]) -> Any:
    """The output of a completed execution; ExecutionFailed for any other end."""
    if body["status"] == "completed":
        return body.get("output")
    raise ExecutionFailed(body["executionId"], body["status"], body.get("error"))


READY = Call("GET", "/readyz", read=_ready)


def register(definition: Definition) -> Call[dict[str, Any]]:
    if isinstance(definition, WorkflowDefinition):
        return Call("POST", "/workflows", json=definition.to_wire(), read=_dict)
    if isinstance(definition, dict):
        return Call("POST", "/workflows", json=definition, read=_dict)
    path = Path(definition)
    if path.suffix in (".yaml", ".yml", ".json"):
        media = "application/json" if path.suffix == ".json" else "application/yaml"
        text = path.read_text(encoding="utf-8")
        headers = {"content-type": media}
        return Call("POST", "/workflows", content=text, headers=headers, read=_dict)
    if path.suffix == ".py":
        from workflows.files import read_definition_file

        raw, _ = read_definition_file(path)
        return register(raw)
    raise ValueError(f"cannot register {path}: expected a .yaml, .yml, .json or .py file")


def list_workflows() -> Call[list[dict[str, Any]]]:
    return Call("GET", "/workflows", read=_list)


def get_workflow(name: str, version: int | None) -> Call[dict[str, Any]]:
    params = {"version": version} if version is not None else {}
    return Call("GET", f"/workflows/{_q(name)}", params=params, read=_dict)


def workflow_metrics(name: str, limit: int | None) -> Call[dict[str, Any]]:
    params = {"limit": limit} if limit is not None else {}
    return Call("GET", f"/workflows/{_q(name)}/metrics", params=params, read=_dict)


def start(
    name: str,
    input: dict[str, Any] | None,
    idempotency_key: str | None,
    version: int | None,
    wait_s: float | None = None,
    priority: int | None = None,
) -> Call[Any]:
    """`POST /workflows/{name}/execute`; with `wait_s` the server holds it until the end."""
    params: dict[str, Any] = {}
    if version is not None:
        params["version"] = version
    if priority is not None:
        params["priority"] = priority
    if wait_s is not None:
        params.update(wait="true", timeout=f"{wait_s:g}")
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return Call(
        "POST",
        f"/workflows/{_q(name)}/execute",
        params=params,
        json=input or {},
        headers=headers,
        wait_s=wait_s or 0.0,
    )


def start_id(
    name: str,
    input: dict[str, Any] | None,
    idempotency_key: str | None,
    version: int | None,
    priority: int | None,
) -> Call[str]:
    """`start` read as the new execution's id."""
    call = start(name, input, idempotency_key, version, priority=priority)
    return replace(call, read=_execution_id)


def status(execution_id: str, metrics: bool, audit: bool) -> Call[dict[str, Any]]:
    params = {"includeMetrics": str(metrics).lower(), "includeAuditTrail": str(audit).lower()}
    return Call("GET", f"/executions/{_q(execution_id)}", params=params, read=_dict)


def _executions_params(workflow: str | None, status: str | None, limit: int) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if workflow:
        params["workflow"] = workflow
    if status:
        params["status"] = status
    return params


def list_executions(
    workflow: str | None, status: str | None, limit: int
) -> Call[list[dict[str, Any]]]:
    params = _executions_params(workflow, status, limit)
    return Call("GET", "/executions", params=params, read=_list)


def search_executions(
    query: str, limit: int, cursor: str | None, workflow: str | None, status: str | None
) -> Call[tuple[list[dict[str, Any]], str | None]]:
    """One page of `GET /executions?query=` and the cursor of the next (None: no more)."""
    params = {**_executions_params(workflow, status, limit), "query": query}
    if cursor:
        params["cursor"] = cursor
    return Call("GET", "/executions", params=params, read=_page)


def logs(execution_id: str, step: str | None) -> Call[list[dict[str, Any]]]:
    params = {"step": step} if step else {}
    return Call("GET", f"/executions/{_q(execution_id)}/logs", params=params, read=_attempts)


def control(execution_id: str, action: str, body: Any = None) -> Call[dict[str, Any]]:
    """`POST /executions/{id}/{action}` (cancel, pause, resume, signal)."""
    return Call("POST", f"/executions/{_q(execution_id)}/{action}", json=body, read=_dict)


def cancel(execution_id: str, reason: str | None) -> Call[dict[str, Any]]:
    return control(execution_id, "cancel", {"reason": reason} if reason else None)


def signal(
    execution_id: str, name: str, payload: Any, correlation: str | None
) -> Call[dict[str, Any]]:
    body = {"name": name, "payload": payload, "correlation": correlation}
    return control(execution_id, "signal", {k: v for k, v in body.items() if v is not None})


def signal_event(event_type: str, correlation: str, payload: Any) -> Call[dict[str, Any]]:
    body = {"correlation": correlation, "payload": payload}
    return Call("POST", f"/signals/{_q(event_type)}", json=body, read=_dict)


def approve(
    execution_id: str, step_id: str, approver: str, reject: bool, comment: str | None
) -> Call[dict[str, Any]]:
    body = {"approver": approver, "decision": "reject" if reject else "approve"}
    path = f"/executions/{_q(execution_id)}/approvals/{_q(step_id)}"
    return Call("POST", path, json={**body, "comment": comment} if comment else body, read=_dict)


def waits(execution_id: str) -> Call[dict[str, Any]]:
    return Call("GET", f"/executions/{_q(execution_id)}/waits", read=_dict)


def retry(execution_id: str, from_step: str | None, input: dict[str, Any] | None) -> Call[str]:
    body = {k: v for k, v in {"fromStep": from_step, "input": input}.items() if v is not None}
    path = f"/executions/{_q(execution_id)}/retry"
    return Call("POST", path, json=body, read=_execution_id)


def declare_function(
    name: str, url: str, method: str, headers: dict[str, str] | None, timeout_ms: int | None
) -> Call[dict[str, Any]]:
    body: dict[str, Any] = {"name": name, "url": url, "method": method, "headers": headers or {}}
    if timeout_ms is not None:
        body["timeoutMs"] = timeout_ms
    return Call("POST", "/functions", json=body, read=_dict)


def list_functions() -> Call[list[dict[str, Any]]]:
    return Call("GET", "/functions", read=_list)


def list_templates(text: str | None, tag: str | None) -> Call[list[dict[str, Any]]]:
    params = {k: v for k, v in (("q", text), ("tag", tag)) if v}
    return Call("GET", "/templates", params=params, read=_list)


def get_template(template_id: str) -> Call[dict[str, Any]]:
    return Call("GET", f"/templates/{_q(template_id)}", read=_dict)


def install_template(template_id: str, parameters: dict[str, Any] | None) -> Call[dict[str, Any]]:
    path = f"/templates/{_q(template_id)}/install"
    return Call("POST", path, json={"parameters": parameters or {}}, read=_dict)


def schedule(
    name: str,
    cron_expression: str | None,
    input: dict[str, Any] | None,
    notifications: dict[str, list[str]] | None,
    options: dict[str, Any],
) -> Call[dict[str, Any]]:
    body: dict[str, Any] = {"workflow": name, "input": input or {}}
    fields = {"cronExpression": cron_expression, "notifications": notifications, **options}
    body.update({k: v for k, v in fields.items() if v is not None})
    return Call("POST", "/schedules", json=body, read=_dict)


def schedule_options(
    every: str | None,
    timezone: str,
    start_at: datetime | None,
    end_at: datetime | None,
    catch_up: str,
    schedule_id: str | None,
) -> dict[str, Any]:
    return {
        "every": every,
        "timezone": timezone,
        "startAt": start_at.isoformat() if start_at else None,
        "endAt": end_at.isoformat() if end_at else None,
        "catchUp": catch_up,
        "id": schedule_id,
    }


def list_schedules(upcoming: int) -> Call[list[dict[str, Any]]]:
    return Call("GET", "/schedules", params={"upcoming": upcoming}, read=_list)


def get_schedule(schedule_id: str, upcoming: int) -> Call[dict[str, Any]]:
    params = {"upcoming": upcoming}
    return Call("GET", f"/schedules/{_q(schedule_id)}", params=params, read=_dict)


def delete_schedule(schedule_id: str) -> Call[None]:
    return Call("DELETE", f"/schedules/{_q(schedule_id)}", read=_nothing)


def schedule_action(schedule_id: str, action: str) -> Call[dict[str, Any]]:
    """`POST /schedules/{id}/{action}` (pause, resume)."""
    return Call("POST", f"/schedules/{_q(schedule_id)}/{action}", read=_dict)


def publish_event(event_type: str, data: Any, event_id: str | None) -> Call[dict[str, Any]]:
    headers = {"Event-Id": event_id} if event_id else {}
    return Call("POST", f"/events/{_q(event_type)}", json=data, headers=headers, read=_dict)
