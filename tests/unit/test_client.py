"""Request shaping and error mapping of the API client, over httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from workflows.client import AsyncWorkflows, Workflows
from workflows.client_errors import ApiError, ExecutionFailed, ExecutionTimeout
from workflows.services.core.definition import WorkflowDefinition

EXAMPLE = Path(__file__).parents[2] / "examples" / "customer_onboarding.yaml"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Answers each request with the next canned reply and remembers the request."""

    def __init__(self, *replies: tuple[int, Any]) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return httpx.Response(status, json=body)

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


def client(recorder: Handler) -> Workflows:
    return Workflows("http://api", transport=httpx.MockTransport(recorder))


def test_register_a_yaml_file_sends_yaml() -> None:
    rec = Recorder((201, {"name": "customerOnboardingWorkflow", "version": 1, "created": True}))
    with client(rec) as wf:
        assert wf.register(str(EXAMPLE))["version"] == 1
    request = rec.requests[0]
    assert request.method == "POST"
    assert request.url.path == "/workflows"
    assert request.headers["content-type"] == "application/yaml"
    assert request.content.decode() == EXAMPLE.read_text()


def test_register_a_model_sends_its_wire_form() -> None:
    definition = WorkflowDefinition.model_validate(
        {"name": "tiny", "steps": [{"id": "a", "function": "fnA"}]}
    )
    rec = Recorder((201, {"name": "tiny", "version": 1, "created": True}))
    with client(rec) as wf:
        wf.register(definition)
        wf.register({"name": "raw"})
    assert rec.body(0) == definition.to_wire()
    assert rec.body(1) == {"name": "raw"}
    with pytest.raises(ValueError, match=r"\.txt"), client(rec) as wf:
        wf.register("notes.txt")


def test_execute_waits_on_the_server_and_returns_the_output() -> None:
    rec = Recorder((200, {"executionId": "e1", "status": "completed", "output": {"ok": 1}}))
    with client(rec) as wf:
        output = wf.execute("my wf", {"a": 1}, timeout=5, idempotency_key="k1", version=2)
    assert output == {"ok": 1}
    request = rec.requests[0]
    assert request.url.raw_path.decode().startswith("/workflows/my%20wf/execute?")
    assert dict(request.url.params) == {"version": "2", "wait": "true", "timeout": "5"}
    assert request.headers["idempotency-key"] == "k1"
    assert rec.body() == {"a": 1}


def test_execute_polls_when_the_server_wait_ran_out_then_raises_on_failure() -> None:
    failed = {"executionId": "e1", "status": "failed", "error": {"message": "boom"}}
    rec = Recorder(
        (202, {"executionId": "e1", "status": "running"}),
        (200, {"executionId": "e1", "status": "running"}),
        (200, failed),
    )
    with client(rec) as wf, pytest.raises(ExecutionFailed) as caught:
        wf.execute("w", {}, timeout=5)
    assert caught.value.execution_id == "e1"
    assert caught.value.status == "failed"
    assert caught.value.error == {"message": "boom"}
    assert "boom" in str(caught.value)
    assert [r.url.path for r in rec.requests[1:]] == ["/executions/e1", "/executions/e1"]


def test_wait_raises_execution_timeout() -> None:
    rec = Recorder((200, {"executionId": "e1", "status": "running"}))
    with client(rec) as wf, pytest.raises(ExecutionTimeout) as caught:
        wf.wait("e1", timeout=0.05)
    assert caught.value.status == "running"
    assert isinstance(caught.value, TimeoutError)


def test_execute_without_wait_returns_the_start_response() -> None:
    start = {"executionId": "e1", "workflow": "w", "version": 1, "status": "running"}
    rec = Recorder((202, start))
    with client(rec) as wf:
        assert wf.execute("w", {"x": 1}, wait=False) == start
        assert wf.start("w") == "e1"
    assert "wait" not in rec.requests[0].url.params
    assert rec.body(1) == {}


def test_api_errors_carry_status_message_and_issues() -> None:
    body = {
        "error": "input does not match the input schema of w",
        "issues": [{"path": "plan", "message": "'x' is not one of ['a']"}],
    }
    rec = Recorder((422, body))
    with client(rec) as wf, pytest.raises(ApiError) as caught:
        wf.start("w", {"plan": "x"})
    assert caught.value.status_code == 422
    assert caught.value.error == body["error"]
    assert caught.value.body == body
    assert "plan: 'x' is not one of" in str(caught.value)


def test_status_listing_and_controls_shape_requests() -> None:
    rec = Recorder((200, {"executionId": "new"}))
    with client(rec) as wf:
        wf.get_status("e1", include_metrics=True, include_audit_trail=True)
        wf.list_executions(workflow="w", status="failed", limit=5)
        wf.cancel("e1", reason="stop")
        wf.pause("e1")
        wf.resume("e1")
        assert wf.retry("e1", from_step="s2", input={"a": 1}) == "new"
        wf.declare_function("fn", "http://fn.local", timeout_ms=100)
        wf.get_workflow("w", version=3)
    urls = [(r.method, r.url.path, dict(r.url.params)) for r in rec.requests]
    assert urls == [
        ("GET", "/executions/e1", {"includeMetrics": "true", "includeAuditTrail": "true"}),
        ("GET", "/executions", {"limit": "5", "workflow": "w", "status": "failed"}),
        ("POST", "/executions/e1/cancel", {}),
        ("POST", "/executions/e1/pause", {}),
        ("POST", "/executions/e1/resume", {}),
        ("POST", "/executions/e1/retry", {}),
        ("POST", "/functions", {}),
        ("GET", "/workflows/w", {"version": "3"}),
    ]
    assert rec.body(2) == {"reason": "stop"}
    assert rec.requests[3].content == b""
    assert rec.body(5) == {"fromStep": "s2", "input": {"a": 1}}
    assert rec.body(6) == {
        "name": "fn",
        "url": "http://fn.local",
        "method": "POST",
        "headers": {},
        "timeoutMs": 100,
    }


async def test_async_client_mirrors_the_sync_one() -> None:
    rec = Recorder(
        (202, {"executionId": "e1", "status": "pending"}),
        (200, {"executionId": "e1", "status": "completed", "output": 7}),
    )
    transport = httpx.MockTransport(rec)
    async with AsyncWorkflows("http://api", transport=transport) as wf:
        assert await wf.execute("w", {"a": 1}, timeout=5) == 7
    assert [r.url.path for r in rec.requests] == ["/workflows/w/execute", "/executions/e1"]

    rec = Recorder((409, {"error": "cannot retry execution 'e1': it is running"}))
    async with AsyncWorkflows("http://api", transport=httpx.MockTransport(rec)) as wf:
        with pytest.raises(ApiError, match="409"):
            await wf.retry("e1")


def test_wait_ready_polls_readyz_until_it_answers_200() -> None:
    answers = iter([503, 503, 200])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(next(answers), json={})

    with Workflows("http://api", transport=httpx.MockTransport(handler)) as wf:
        wf.wait_ready(timeout=5)
    assert seen == ["/readyz"] * 3


def test_wait_ready_gives_up_at_its_deadline() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={})

    with (
        Workflows("http://api", transport=httpx.MockTransport(handler)) as wf,
        pytest.raises(TimeoutError, match="not ready"),
    ):
        wf.wait_ready(timeout=0.1)
