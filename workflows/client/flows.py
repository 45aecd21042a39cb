"""The client methods that take more than one request, written once for both clients.

A flow is a generator: it yields a `Call` and is sent what the call's `read` made of the
response (or is thrown the `httpx.TransportError` of a request that did not get one), or it
yields a `Sleep` and is resumed after it; what it returns is the method's result.
`Workflows` runs a flow with httpx.Client and time.sleep, `AsyncWorkflows` with
httpx.AsyncClient and asyncio.sleep.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

import workflows.client.calls as calls
from workflows.client_errors import ExecutionTimeout

T = TypeVar("T")


@dataclass(frozen=True)
class Sleep:
    seconds: float


Flow = Generator[calls.Call[Any] | Sleep, Any, T]


def wait_ready(base_url: str, timeout: float) -> Flow[None]:
    """Poll `GET /readyz` until the service answers 200; TimeoutError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if (yield calls.READY):
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{base_url} not ready after {timeout}s")
        yield Sleep(0.05)


def _next_delay(delay: float) -> float:
    return min(delay * 2, 0.5)


def wait(execution_id: str, timeout: float) -> Flow[dict[str, Any]]:
    """Poll until the execution ends; its status. ExecutionTimeout at the deadline."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        status: dict[str, Any] = yield calls.status(execution_id, False, False)
        remaining = deadline - time.monotonic()
        if status["status"] in calls.TERMINAL:
            return status
        if remaining <= 0:
            raise ExecutionTimeout(execution_id, status["status"], timeout)
        yield Sleep(min(delay, remaining))
        delay = _next_delay(delay)


def execute(
    name: str,
    input: dict[str, Any] | None,
    wait_for_end: bool,
    timeout: float,
    idempotency_key: str | None,
    version: int | None,
    priority: int | None,
) -> Flow[Any]:
    """The output (ExecutionFailed unless completed), or without `wait_for_end` the start."""
    if not wait_for_end:
        return (yield calls.start(name, input, idempotency_key, version, priority=priority))
    deadline = time.monotonic() + timeout
    server_wait = min(timeout, calls.MAX_SERVER_WAIT_S)
    body = yield calls.start(name, input, idempotency_key, version, server_wait, priority)
    if body["status"] not in calls.TERMINAL:
        body = yield from wait(body["executionId"], max(deadline - time.monotonic(), 0.0))
    return calls.outcome(body)


def list_executions(
    workflow: str | None, status: str | None, limit: int, query: str | None
) -> Flow[list[dict[str, Any]]]:
    """Newest first; with `query`, searched pages following the cursor up to `limit`."""
    if query is None:
        found: list[dict[str, Any]] = yield calls.list_executions(workflow, status, limit)
        return found
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(out) < limit:
        size = min(calls.SEARCH_PAGE, limit - len(out))
        page, cursor = yield calls.search_executions(query, size, cursor, workflow, status)
        out += page
        if cursor is None:
            break
    return out
