"""`Workflows`: the synchronous client, sending the calls of `calls` with httpx.Client."""

from __future__ import annotations

import time
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

import workflows.client.calls as calls
import workflows.client.flows as flows
from workflows.client.calls import DEFAULT_URL, Definition

T = TypeVar("T")


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
        options = calls.client_options(base_url, timeout, headers, api_key)
        self._http = httpx.Client(transport=transport, **options)

    def _send(self, call: calls.Call[T]) -> T:
        return call.read(self._http.request(**call.request(self.timeout)))

    def _run(self, flow: flows.Flow[T]) -> T:
        reply: Any = None
        error: httpx.TransportError | None = None
        while True:
            try:
                step = flow.send(reply) if error is None else flow.throw(error)
            except StopIteration as end:
                return end.value  # type: ignore[no-any-return]
            reply, error = None, None
            if isinstance(step, flows.Sleep):
                time.sleep(step.seconds)
                continue
            try:
                reply = self._send(step)
            except httpx.TransportError as exc:
                error = exc

    def register(self, definition: Definition) -> dict[str, Any]:
        """Register a definition (dict, WorkflowDefinition or file path): name, version, created."""
        return self._send(calls.register(definition))

    def list_workflows(self) -> list[dict[str, Any]]:
        return self._send(calls.list_workflows())

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll `GET /readyz` until the service answers 200; TimeoutError at the deadline."""
        return self._run(flows.wait_ready(str(self._http.base_url), timeout))

    def get_workflow(self, name: str, version: int | None = None) -> dict[str, Any]:
        return self._send(calls.get_workflow(name, version))

    def workflow_metrics(self, name: str, limit: int | None = None) -> dict[str, Any]:
        """KPIs (count, mean, p50, p95), completion rate and durations over ended executions."""
        return self._send(calls.workflow_metrics(name, limit))

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
        return self._send(calls.start_id(name, input, idempotency_key, version, priority))

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
        flow = flows.execute(name, input, wait, timeout, idempotency_key, version, priority)
        return self._run(flow)

    def get_status(
        self, execution_id: str, include_metrics: bool = False, include_audit_trail: bool = False
    ) -> dict[str, Any]:
        return self._send(calls.status(execution_id, include_metrics, include_audit_trail))

    def wait(self, execution_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll until the execution ends; its status. ExecutionTimeout at the deadline."""
        return self._run(flows.wait(execution_id, timeout))

    def list_executions(
        self,
        workflow: str | None = None,
        status: str | None = None,
        limit: int = 50,
        query: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first. With `query` (e.g. "customerId = 'cust_1' AND status = 'failed'"):
        searched by the index, following its cursor up to `limit` executions (no cap)."""
        return self._run(flows.list_executions(workflow, status, limit, query))

    def logs(self, execution_id: str, step: str | None = None) -> list[dict[str, Any]]:
        """What the functions logged per attempt: `[{stepId, attempt, ok, lines}]`."""
        return self._send(calls.logs(execution_id, step))

    def search_executions(
        self,
        query: str,
        limit: int = 50,
        cursor: str | None = None,
        workflow: str | None = None,
        status: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a search and the cursor of the next (None: no more)."""
        return self._send(calls.search_executions(query, limit, cursor, workflow, status))

    def cancel(self, execution_id: str, reason: str | None = None) -> dict[str, Any]:
        return self._send(calls.cancel(execution_id, reason))

    def pause(self, execution_id: str) -> dict[str, Any]:
        return self._send(calls.control(execution_id, "pause"))

    def resume(self, execution_id: str) -> dict[str, Any]:
        return self._send(calls.control(execution_id, "resume"))

    def signal(
        self, execution_id: str, name: str, payload: Any = None, correlation: str | None = None
    ) -> dict[str, Any]:
        """Send a signal (event type `name`) to a waiting step of the execution."""
        return self._send(calls.signal(execution_id, name, payload, correlation))

    def signal_event(
        self, event_type: str, correlation: str, payload: Any = None
    ) -> dict[str, Any]:
        """Deliver an event to the executions waiting for it with `correlation` (or buffer it)."""
        return self._send(calls.signal_event(event_type, correlation, payload))

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
        return self._send(calls.approve(execution_id, step_id, approver, reject, comment))

    def waits(self, execution_id: str) -> dict[str, Any]:
        """The steps waiting now and what for."""
        return self._send(calls.waits(execution_id))

    def retry(
        self, execution_id: str, from_step: str | None = None, input: dict[str, Any] | None = None
    ) -> str:
        """Re-run a failed/cancelled/timed-out execution; the new execution's id."""
        return self._send(calls.retry(execution_id, from_step, input))

    def declare_function(
        self,
        name: str,
        url: str,
        method: str = "POST",
        headers: dict[str, str] | None = None,
        timeout_ms: int | None = None,
    ) -> dict[str, Any]:
        """Declare an HTTP function the dispatcher calls for steps using `name`."""
        return self._send(calls.declare_function(name, url, method, headers, timeout_ms))

    def list_functions(self) -> list[dict[str, Any]]:
        return self._send(calls.list_functions())

    def list_templates(
        self, text: str | None = None, tag: str | None = None
    ) -> list[dict[str, Any]]:
        """The template catalog, filtered by text and tag."""
        return self._send(calls.list_templates(text, tag))

    def get_template(self, template_id: str) -> dict[str, Any]:
        return self._send(calls.get_template(template_id))

    def install_template(
        self, template_id: str, parameters: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Fill in a template's parameters and register the workflow: name, version, functions."""
        return self._send(calls.install_template(template_id, parameters))

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
        options = calls.schedule_options(every, timezone, start_at, end_at, catch_up, schedule_id)
        call = calls.schedule(name, cron_expression, input, notifications, options)
        return self._send(call)

    def list_schedules(self, upcoming: int = 5) -> list[dict[str, Any]]:
        return self._send(calls.list_schedules(upcoming))

    def get_schedule(self, schedule_id: str, upcoming: int = 5) -> dict[str, Any]:
        return self._send(calls.get_schedule(schedule_id, upcoming))

    def delete_schedule(self, schedule_id: str) -> None:
        return self._send(calls.delete_schedule(schedule_id))

    def pause_schedule(self, schedule_id: str) -> dict[str, Any]:
        return self._send(calls.schedule_action(schedule_id, "pause"))

    def resume_schedule(self, schedule_id: str) -> dict[str, Any]:
        return self._send(calls.schedule_action(schedule_id, "resume"))

    def publish_event(
        self, event_type: str, data: Any = None, event_id: str | None = None
    ) -> dict[str, Any]:
        """Publish an event; the executions its triggers started (`executions`)."""
        return self._send(calls.publish_event(event_type, data, event_id))

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
