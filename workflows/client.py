"""Python client of the Workflows HTTP API: `Workflows` (sync) and `AsyncWorkflows` (asyncio).

with Workflows("http://127.0.0.1:8000") as wf:
    wf.register("examples/customer_onboarding.yaml")
    output = wf.execute("customerOnboardingWorkflow", {"customerId": "c1", ...})
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from workflows.client_errors import (
    ApiError,
    AuthenticationError,
    ExecutionFailed,
    ExecutionTimeout,
    PermissionDenied,
)
from workflows.services.core.definition import WorkflowDefinition

__all__ = [
    "ApiError",
    "AsyncWorkflows",
    "ExecutionFailed",
    "ExecutionTimeout",
    "Workflows",
]

DEFAULT_URL = "http://127.0.0.1:8000"
TERMINAL = frozenset({"completed", "failed", "cancelled", "timed_out"})
MAX_SERVER_WAIT_S = 300.0
Definition = dict[str, Any] | WorkflowDefinition | str | Path


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    wait_s: float = 0.0


def _q(value: str) -> str:
    return quote(value, safe="")


def _register_call(definition: Definition) -> _Call:
    if isinstance(definition, WorkflowDefinition):
        return _Call("POST", "/workflows", json=definition.to_wire())
    if isinstance(definition, dict):
        return _Call("POST", "/workflows", json=definition)
    path = Path(definition)
    if path.suffix in (".yaml", ".yml", ".json"):
        media = "application/json" if path.suffix == ".json" else "application/yaml"
        text = path.read_text(encoding="utf-8")
        return _Call("POST", "/workflows", content=text, headers={"content-type": media})
    if path.suffix == ".py":
        from workflows.files import read_definition_file

        raw, _ = read_definition_file(path)
        return _register_call(raw)
    raise ValueError(f"cannot register {path}: expected a .yaml, .yml, .json or .py file")


def _templates_call(text: str | None, tag: str | None) -> _Call:
    params = {k: v for k, v in (("q", text), ("tag", tag)) if v}
    return _Call("GET", "/templates", params=params)


def _install_call(template_id: str, parameters: dict[str, Any] | None) -> _Call:
    path = f"/templates/{quote(template_id, safe='')}/install"
    return _Call("POST", path, json={"parameters": parameters or {}})


def _start_call(
    name: str,
    input: dict[str, Any] | None,
    idempotency_key: str | None,
    version: int | None,
    wait_s: float | None = None,
    priority: int | None = None,
) -> _Call:
    params: dict[str, Any] = {}
    if version is not None:
        params["version"] = version
    if priority is not None:
        params["priority"] = priority
    if wait_s is not None:
        params.update(wait="true", timeout=f"{wait_s:g}")
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return _Call(
        "POST",
        f"/workflows/{_q(name)}/execute",
        params=params,
        json=input or {},
        headers=headers,
        wait_s=wait_s or 0.0,
    )


def _status_call(execution_id: str, metrics: bool, audit: bool) -> _Call:
    params = {"includeMetrics": str(metrics).lower(), "includeAuditTrail": str(audit).lower()}
    return _Call("GET", f"/executions/{_q(execution_id)}", params=params)


def _list_executions_call(
    workflow: str | None,
    status: str | None,
    limit: int,
    query: str | None = None,
    cursor: str | None = None,
) -> _Call:
    params: dict[str, Any] = {"limit": limit}
    if workflow:
        params["workflow"] = workflow
    if status:
        params["status"] = status
    if query is not None:
        params["query"] = query
    if cursor:
        params["cursor"] = cursor
    return _Call("GET", "/executions", params=params)


def _logs_call(execution_id: str, step: str | None) -> _Call:
    params = {"step": step} if step else {}
    return _Call("GET", f"/executions/{_q(execution_id)}/logs", params=params)


SEARCH_PAGE = 500  # executions per request when a search follows its cursor


def _page(response: httpx.Response) -> tuple[list[dict[str, Any]], str | None]:
    return _l(_result(response)), response.headers.get("next-cursor")


def _control_call(execution_id: str, action: str, body: Any = None) -> _Call:
    return _Call("POST", f"/executions/{_q(execution_id)}/{action}", json=body)


def _signal_call(execution_id: str, name: str, payload: Any, correlation: str | None) -> _Call:
    body = {"name": name, "payload": payload, "correlation": correlation}
    return _control_call(execution_id, "signal", {k: v for k, v in body.items() if v is not None})


def _approve_call(
    execution_id: str, step_id: str, approver: str, reject: bool, comment: str | None
) -> _Call:
    body = {"approver": approver, "decision": "reject" if reject else "approve"}
    path = f"/executions/{_q(execution_id)}/approvals/{_q(step_id)}"
    return _Call("POST", path, json={**body, "comment": comment} if comment else body)


def _retry_call(execution_id: str, from_step: str | None, input: dict[str, Any] | None) -> _Call:
    body = {k: v for k, v in {"fromStep": from_step, "input": input}.items() if v is not None}
    return _control_call(execution_id, "retry", body)


def _function_call(
    name: str, url: str, method: str, headers: dict[str, str] | None, timeout_ms: int | None
) -> _Call:
    body: dict[str, Any] = {"name": name, "url": url, "method": method, "headers": headers or {}}
    if timeout_ms is not None:
        body["timeoutMs"] = timeout_ms
    return _Call("POST", "/functions", json=body)


def _schedule_call(
    name: str,
    cron_expression: str | None,
    input: dict[str, Any] | None,
    notifications: dict[str, list[str]] | None,
    options: dict[str, Any],
) -> _Call:
    body: dict[str, Any] = {"workflow": name, "input": input or {}}
    fields = {"cronExpression": cron_expression, "notifications": notifications, **options}
    body.update({k: v for k, v in fields.items() if v is not None})
    return _Call("POST", "/schedules", json=body)


def _schedule_options(
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


def _event_call(event_type: str, data: Any, event_id: str | None) -> _Call:
    headers = {"Event-Id": event_id} if event_id else {}
    return _Call("POST", f"/events/{_q(event_type)}", json=data, headers=headers)


def _result(response: httpx.Response) -> Any:
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = response.text
    if response.status_code >= 400:
        error = body.get("error") if isinstance(body, dict) else None
        kind = _ERRORS.get(response.status_code, ApiError)
        raise kind(response.status_code, str(error or response.reason_phrase), body)
    return body


_ERRORS: dict[int, type[ApiError]] = {401: AuthenticationError, 403: PermissionDenied}


def _auth_headers(headers: dict[str, str] | None, api_key: str | None) -> dict[str, str]:
    """`headers` plus `Authorization: Bearer <api_key or WORKFLOWS_API_KEY>` when there is one."""
    key = api_key if api_key is not None else os.environ.get("WORKFLOWS_API_KEY", "")
    return {**({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}


def _outcome(body: dict[str, Any]) -> Any:
    """The output of a completed execution; ExecutionFailed for any other end."""
    if body["status"] == "completed":
        return body.get("output")
    raise ExecutionFailed(body["executionId"], body["status"], body.get("error"))


def _next_delay(delay: float) -> float:
    return min(delay * 2, 0.5)


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[dict[str, Any]]:
    return value if isinstance(value, list) else []


def _workflow_call(name: str, version: int | None) -> _Call:
    params = {"version": version} if version is not None else {}
    return _Call("GET", f"/workflows/{_q(name)}", params=params)


def _workflow_metrics_call(name: str, limit: int | None) -> _Call:
    params = {"limit": limit} if limit is not None else {}
    return _Call("GET", f"/workflows/{_q(name)}/metrics", params=params)


class Workflows:
    """Synchronous client (httpx.Client); use as a context manager or call `close()`."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        timeout: float = 30.0,
        *,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        api_key: str | None = None,
    ) -> None:
        """`api_key` (default: env WORKFLOWS_API_KEY) is sent as `Authorization: Bearer`."""
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            headers=_auth_headers(headers, api_key),
            transport=transport,
        )

    def _send(self, call: _Call) -> Any:
        response = self._http.request(
            call.method,
            call.path,
            params=call.params,
            json=call.json,
            content=call.content,
            headers=call.headers,
            timeout=self.timeout + call.wait_s,
        )
        return _result(response)

    def register(self, definition: Definition) -> dict[str, Any]:
        """Register a definition (dict, WorkflowDefinition or file path): name, version, created."""
        return _d(self._send(_register_call(definition)))

    def list_workflows(self) -> list[dict[str, Any]]:
        return _l(self._send(_Call("GET", "/workflows")))

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll `GET /readyz` until the service answers 200; TimeoutError at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._http.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self._http.base_url} not ready after {timeout}s")
            time.sleep(0.05)

    def get_workflow(self, name: str, version: int | None = None) -> dict[str, Any]:
        return _d(self._send(_workflow_call(name, version)))

    def workflow_metrics(self, name: str, limit: int | None = None) -> dict[str, Any]:
        """KPIs (count, mean, p50, p95), completion rate and durations over ended executions."""
        return _d(self._send(_workflow_metrics_call(name, limit)))

    def start(
        self,
        name: str,
        input: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        version: int | None = None,
        priority: int | None = None,
    ) -> str:
        """Start an execution and return its id. `priority` (-1000..1000, default: the
        definition's): a backlogged function with a concurrency limit runs higher first."""
        call = _start_call(name, input, idempotency_key, version, priority=priority)
        return str(self._send(call)["executionId"])

    def execute(
        self,
        name: str,
        input: dict[str, Any] | None = None,
        *,
        wait: bool = True,
        timeout: float = 30.0,
        idempotency_key: str | None = None,
        version: int | None = None,
        priority: int | None = None,
    ) -> Any:
        """The output (wait=True; ExecutionFailed unless completed), or the start response."""
        if not wait:
            return self._send(_start_call(name, input, idempotency_key, version, priority=priority))
        deadline = time.monotonic() + timeout
        server_wait = min(timeout, MAX_SERVER_WAIT_S)
        body = self._send(_start_call(name, input, idempotency_key, version, server_wait, priority))
        if body["status"] not in TERMINAL:
            body = self.wait(body["executionId"], max(deadline - time.monotonic(), 0.0))
        return _outcome(body)

    def get_status(
        self, execution_id: str, include_metrics: bool = False, include_audit_trail: bool = False
    ) -> dict[str, Any]:
        return _d(self._send(_status_call(execution_id, include_metrics, include_audit_trail)))

    def wait(self, execution_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll until the execution ends; its status. ExecutionTimeout at the deadline."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            status = self.get_status(execution_id)
            remaining = deadline - time.monotonic()
            if status["status"] in TERMINAL:
                return status
            if remaining <= 0:
                raise ExecutionTimeout(execution_id, status["status"], timeout)
            time.sleep(min(delay, remaining))
            delay = _next_delay(delay)

    def list_executions(
        self,
        workflow: str | None = None,
        status: str | None = None,
        limit: int = 50,
        query: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first. With `query` (e.g. "customerId = 'cust_1' AND status = 'failed'"):
        searched by the index, following its cursor up to `limit` executions (no cap)."""
        if query is None:
            return _l(self._send(_list_executions_call(workflow, status, limit)))
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(out) < limit:
            page, cursor = self.search_executions(
                query, min(SEARCH_PAGE, limit - len(out)), cursor, workflow, status
            )
            out += page
            if cursor is None:
                break
        return out

    def logs(self, execution_id: str, step: str | None = None) -> list[dict[str, Any]]:
        """What the functions logged per attempt: `[{stepId, attempt, ok, lines}]`."""
        return list(_d(self._send(_logs_call(execution_id, step)))["attempts"])

    def search_executions(
        self,
        query: str,
        limit: int = 50,
        cursor: str | None = None,
        workflow: str | None = None,
        status: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a search and the cursor of the next (None: no more)."""
        call = _list_executions_call(workflow, status, limit, query, cursor)
        return _page(self._http.request(call.method, call.path, params=call.params))

    def cancel(self, execution_id: str, reason: str | None = None) -> dict[str, Any]:
        body = {"reason": reason} if reason else None
        return _d(self._send(_control_call(execution_id, "cancel", body)))

    def pause(self, execution_id: str) -> dict[str, Any]:
        return _d(self._send(_control_call(execution_id, "pause")))

    def resume(self, execution_id: str) -> dict[str, Any]:
        return _d(self._send(_control_call(execution_id, "resume")))

    def signal(
        self, execution_id: str, name: str, payload: Any = None, correlation: str | None = None
    ) -> dict[str, Any]:
        """Send a signal (event type `name`) to a waiting step of the execution."""
        return _d(self._send(_signal_call(execution_id, name, payload, correlation)))

    def signal_event(
        self, event_type: str, correlation: str, payload: Any = None
    ) -> dict[str, Any]:
        """Deliver an event to the executions waiting for it with `correlation` (or buffer it)."""
        body = {"correlation": correlation, "payload": payload}
        return _d(self._send(_Call("POST", f"/signals/{_q(event_type)}", json=body)))

    def approve(
        self,
        execution_id: str,
        step_id: str,
        approver: str,
        *,
        reject: bool = False,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Approve (or with `reject=True` reject) a waiting approval step as `approver`."""
        return _d(self._send(_approve_call(execution_id, step_id, approver, reject, comment)))

    def waits(self, execution_id: str) -> dict[str, Any]:
        """The steps waiting now and what for."""
        return _d(self._send(_Call("GET", f"/executions/{_q(execution_id)}/waits")))

    def retry(
        self, execution_id: str, from_step: str | None = None, input: dict[str, Any] | None = None
    ) -> str:
        """Re-run a failed/cancelled/timed-out execution; the new execution's id."""
        return str(self._send(_retry_call(execution_id, from_step, input))["executionId"])

    def declare_function(
        self,
        name: str,
        url: str,
        method: str = "POST",
        headers: dict[str, str] | None = None,
        timeout_ms: int | None = None,
    ) -> dict[str, Any]:
        """Declare an HTTP function the dispatcher calls for steps using `name`."""
        return _d(self._send(_function_call(name, url, method, headers, timeout_ms)))

    def list_functions(self) -> list[dict[str, Any]]:
        return _l(self._send(_Call("GET", "/functions")))

    def list_templates(
        self, text: str | None = None, tag: str | None = None
    ) -> list[dict[str, Any]]:
        """The template catalog, filtered by text and tag."""
        return _l(self._send(_templates_call(text, tag)))

    def get_template(self, template_id: str) -> dict[str, Any]:
        return _d(self._send(_Call("GET", f"/templates/{quote(template_id, safe='')}")))

    def install_template(
        self, template_id: str, parameters: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Fill in a template's parameters and register the workflow: name, version, functions."""
        return _d(self._send(_install_call(template_id, parameters)))

    def schedule(
        self,
        name: str,
        cron_expression: str | None = None,
        input: dict[str, Any] | None = None,
        notifications: dict[str, list[str]] | None = None,
        *,
        every: str | None = None,
        timezone: str = "UTC",
        start_at: datetime | None = None,
        end_at: datetime | None = None,
        catch_up: str = "none",
        schedule_id: str | None = None,
    ) -> dict[str, Any]:
        """Start `name` on a cron expression (or `every="15m"`); the schedule with its id."""
        options = _schedule_options(every, timezone, start_at, end_at, catch_up, schedule_id)
        call = _schedule_call(name, cron_expression, input, notifications, options)
        return _d(self._send(call))

    def list_schedules(self, upcoming: int = 5) -> list[dict[str, Any]]:
        return _l(self._send(_Call("GET", "/schedules", params={"upcoming": upcoming})))

    def get_schedule(self, schedule_id: str, upcoming: int = 5) -> dict[str, Any]:
        call = _Call("GET", f"/schedules/{_q(schedule_id)}", params={"upcoming": upcoming})
        return _d(self._send(call))

    def delete_schedule(self, schedule_id: str) -> None:
        self._send(_Call("DELETE", f"/schedules/{_q(schedule_id)}"))

    def pause_schedule(self, schedule_id: str) -> dict[str, Any]:
        return _d(self._send(_Call("POST", f"/schedules/{_q(schedule_id)}/pause")))

    def resume_schedule(self, schedule_id: str) -> dict[str, Any]:
        return _d(self._send(_Call("POST", f"/schedules/{_q(schedule_id)}/resume")))

    def publish_event(
        self, event_type: str, data: Any = None, event_id: str | None = None
    ) -> dict[str, Any]:
        """Publish an event; the executions its triggers started (`executions`)."""
        return _d(self._send(_event_call(event_type, data, event_id)))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncWorkflows:
    """Asyncio client (httpx.AsyncClient); use `async with` or await `aclose()`."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        timeout: float = 30.0,
        *,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        api_key: str | None = None,
    ) -> None:
        """`api_key` (default: env WORKFLOWS_API_KEY) is sent as `Authorization: Bearer`."""
        self.timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            headers=_auth_headers(headers, api_key),
            transport=transport,
        )

    async def _send(self, call: _Call) -> Any:
        response = await self._http.request(
            call.method,
            call.path,
            params=call.params,
            json=call.json,
            content=call.content,
            headers=call.headers,
            timeout=self.timeout + call.wait_s,
        )
        return _result(response)

    async def register(self, definition: Definition) -> dict[str, Any]:
        """Register a definition (dict, WorkflowDefinition or file path): name, version, created."""
        return _d(await self._send(_register_call(definition)))

    async def list_workflows(self) -> list[dict[str, Any]]:
        return _l(await self._send(_Call("GET", "/workflows")))

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll `GET /readyz` until the service answers 200; TimeoutError at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if (await self._http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self._http.base_url} not ready after {timeout}s")
            await asyncio.sleep(0.05)

    async def get_workflow(self, name: str, version: int | None = None) -> dict[str, Any]:
        return _d(await self._send(_workflow_call(name, version)))

    async def workflow_metrics(self, name: str, limit: int | None = None) -> dict[str, Any]:
        """KPIs (count, mean, p50, p95), completion rate and durations over ended executions."""
        return _d(await self._send(_workflow_metrics_call(name, limit)))

    async def start(
        self,
        name: str,
        input: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        version: int | None = None,
        priority: int | None = None,
    ) -> str:
        """Start an execution and return its id. `priority` (-1000..1000, default: the
        definition's): a backlogged function with a concurrency limit runs higher first."""
        call = _start_call(name, input, idempotency_key, version, priority=priority)
        started = await self._send(call)
        return str(started["executionId"])

    async def execute(
        self,
        name: str,
        input: dict[str, Any] | None = None,
        *,
        wait: bool = True,
        timeout: float = 30.0,
        idempotency_key: str | None = None,
        version: int | None = None,
        priority: int | None = None,
    ) -> Any:
        """The output (wait=True; ExecutionFailed unless completed), or the start response."""
        if not wait:
            return await self._send(
                _start_call(name, input, idempotency_key, version, priority=priority)
            )
        deadline = time.monotonic() + timeout
        server_wait = min(timeout, MAX_SERVER_WAIT_S)
        body = await self._send(
            _start_call(name, input, idempotency_key, version, server_wait, priority)
        )
        if body["status"] not in TERMINAL:
            body = await self.wait(body["executionId"], max(deadline - time.monotonic(), 0.0))
        return _outcome(body)

    async def get_status(
        self, execution_id: str, include_metrics: bool = False, include_audit_trail: bool = False
    ) -> dict[str, Any]:
        return _d(
            await self._send(_status_call(execution_id, include_metrics, include_audit_trail))
        )

    async def wait(
        self,
        execution_id: str,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Poll until the execution ends; its status. ExecutionTimeout at the deadline."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            status = await self.get_status(execution_id)
            remaining = deadline - time.monotonic()
            if status["status"] in TERMINAL:
                return status
            if remaining <= 0:
                raise ExecutionTimeout(execution_id, status["status"], timeout)
            await asyncio.sleep(min(delay, remaining))
            delay = _next_delay(delay)

    async def list_executions(
        self,
        workflow: str | None = None,
        status: str | None = None,
        limit: int = 50,
        query: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first. With `query` (e.g. "customerId = 'cust_1' AND status = 'failed'"):
        searched by the index, following its cursor up to `limit` executions (no cap)."""
        if query is None:
            return _l(await self._send(_list_executions_call(workflow, status, limit)))
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(out) < limit:
            page, cursor = await self.search_executions(
                query, min(SEARCH_PAGE, limit - len(out)), cursor, workflow, status
            )
            out += page
            if cursor is None:
                break
        return out

    async def logs(self, execution_id: str, step: str | None = None) -> list[dict[str, Any]]:
        """What the functions logged per attempt: `[{stepId, attempt, ok, lines}]`."""
        return list(_d(await self._send(_logs_call(execution_id, step)))["attempts"])

    async def search_executions(
        self,
        query: str,
        limit: int = 50,
        cursor: str | None = None,
        workflow: str | None = None,
        status: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a search and the cursor of the next (None: no more)."""
        call = _list_executions_call(workflow, status, limit, query, cursor)
        return _page(await self._http.request(call.method, call.path, params=call.params))

    async def cancel(self, execution_id: str, reason: str | None = None) -> dict[str, Any]:
        body = {"reason": reason} if reason else None
        return _d(await self._send(_control_call(execution_id, "cancel", body)))

    async def pause(self, execution_id: str) -> dict[str, Any]:
        return _d(await self._send(_control_call(execution_id, "pause")))

    async def resume(self, execution_id: str) -> dict[str, Any]:
        return _d(await self._send(_control_call(execution_id, "resume")))

    async def signal(
        self, execution_id: str, name: str, payload: Any = None, correlation: str | None = None
    ) -> dict[str, Any]:
        """Send a signal (event type `name`) to a waiting step of the execution."""
        return _d(await self._send(_signal_call(execution_id, name, payload, correlation)))

    async def signal_event(
        self, event_type: str, correlation: str, payload: Any = None
    ) -> dict[str, Any]:
        """Deliver an event to the executions waiting for it with `correlation` (or buffer it)."""
        body = {"correlation": correlation, "payload": payload}
        return _d(await self._send(_Call("POST", f"/signals/{_q(event_type)}", json=body)))

    async def approve(
        self,
        execution_id: str,
        step_id: str,
        approver: str,
        *,
        reject: bool = False,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Approve (or with `reject=True` reject) a waiting approval step as `approver`."""
        call = _approve_call(execution_id, step_id, approver, reject, comment)
        return _d(await self._send(call))

    async def waits(self, execution_id: str) -> dict[str, Any]:
        """The steps waiting now and what for."""
        return _d(await self._send(_Call("GET", f"/executions/{_q(execution_id)}/waits")))

    async def retry(
        self, execution_id: str, from_step: str | None = None, input: dict[str, Any] | None = None
    ) -> str:
        """Re-run a failed/cancelled/timed-out execution; the new execution's id."""
        retried = await self._send(_retry_call(execution_id, from_step, input))
        return str(retried["executionId"])

    async def declare_function(
        self,
        name: str,
        url: str,
        method: str = "POST",
        headers: dict[str, str] | None = None,
        timeout_ms: int | None = None,
    ) -> dict[str, Any]:
        """Declare an HTTP function the dispatcher calls for steps using `name`."""
        return _d(await self._send(_function_call(name, url, method, headers, timeout_ms)))

    async def list_functions(self) -> list[dict[str, Any]]:
        return _l(await self._send(_Call("GET", "/functions")))

    async def list_templates(
        self, text: str | None = None, tag: str | None = None
    ) -> list[dict[str, Any]]:
        return _l(await self._send(_templates_call(text, tag)))

    async def get_template(self, template_id: str) -> dict[str, Any]:
        return _d(await self._send(_Call("GET", f"/templates/{quote(template_id, safe='')}")))

    async def install_template(
        self, template_id: str, parameters: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return _d(await self._send(_install_call(template_id, parameters)))

    async def schedule(
        self,
        name: str,
        cron_expression: str | None = None,
        input: dict[str, Any] | None = None,
        notifications: dict[str, list[str]] | None = None,
        *,
        every: str | None = None,
        timezone: str = "UTC",
        start_at: datetime | None = None,
        end_at: datetime | None = None,
        catch_up: str = "none",
        schedule_id: str | None = None,
    ) -> dict[str, Any]:
        """Start `name` on a cron expression (or `every="15m"`); the schedule with its id."""
        options = _schedule_options(every, timezone, start_at, end_at, catch_up, schedule_id)
        call = _schedule_call(name, cron_expression, input, notifications, options)
        return _d(await self._send(call))

    async def list_schedules(self, upcoming: int = 5) -> list[dict[str, Any]]:
        return _l(await self._send(_Call("GET", "/schedules", params={"upcoming": upcoming})))

    async def get_schedule(self, schedule_id: str, upcoming: int = 5) -> dict[str, Any]:
        call = _Call("GET", f"/schedules/{_q(schedule_id)}", params={"upcoming": upcoming})
        return _d(await self._send(call))

    async def delete_schedule(self, schedule_id: str) -> None:
        await self._send(_Call("DELETE", f"/schedules/{_q(schedule_id)}"))

    async def pause_schedule(self, schedule_id: str) -> dict[str, Any]:
        return _d(await self._send(_Call("POST", f"/schedules/{_q(schedule_id)}/pause")))

    async def resume_schedule(self, schedule_id: str) -> dict[str, Any]:
        return _d(await self._send(_Call("POST", f"/schedules/{_q(schedule_id)}/resume")))

    async def publish_event(
        self, event_type: str, data: Any = None, event_id: str | None = None
    ) -> dict[str, Any]:
        """Publish an event; the executions its triggers started (`executions`)."""
        return _d(await self._send(_event_call(event_type, data, event_id)))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
