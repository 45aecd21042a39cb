"""Secrets and password fields never leak, not even in part (issue 20, item 5).

On the real broker: an HTTP function's server echoes pieces of its `${secret:NAME}` header
(a truncated error body cuts the secret in the middle, an output carries its first and last
characters), and a function echoes pieces of a `format: password` input field in its output
and in its error. No run of 6 characters of either secret may reach the state, the lifecycle
events (the audit feed), the results topic, the logs, or anything the API answers (status,
audit trail, list, `execute` with wait), which is what the CLI and the dashboard print.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from tests.support.api import app_client, records_about
from tests.support.http_server import JsonHandler, serving
from tests.support.runtime import running_engine
from tests.support.secrets import engine_with_secrets
from workflows.errors import FatalError
from workflows.functions import FunctionContext, FunctionRegistry
from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.settings import Settings

pytestmark = pytest.mark.integration

MIN_FRAGMENT = 6  # workflows.services.core.redaction.MIN_FRAGMENT (restated: the test predates it)

TOKEN = "tok-7c41d9e0b2a8f5"  # the HTTP function's header secret
PASSWORD = "hunter2-Q9x7m4Lp"  # the execution input's password field
ERROR_TEXT_LIMIT = 500  # http_functions._MAX_ERROR_TEXT: the error body is cut there


def fragments(secret: str) -> set[str]:
    return {secret[i : i + MIN_FRAGMENT] for i in range(len(secret) - MIN_FRAGMENT + 1)}


def leaks(blob: str | bytes, secret: str) -> list[str]:
    text = blob.decode(errors="replace") if isinstance(blob, bytes) else blob
    return sorted(f for f in fragments(secret) if f in text)


@pytest.fixture
def partner_url() -> Iterator[str]:
    """/cut: 502 whose body puts the secret across the error-text cut; /echo: 200 with its
    first 9 and last 8 characters inside longer strings."""

    class Handler(JsonHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            token = self.headers["Authorization"].removeprefix("Bearer ")
            if self.path == "/cut":
                pad = "x" * (ERROR_TEXT_LIMIT - len('{"detail": "') - 10)
                self.reply(502, {"detail": pad + token})
            else:
                self.reply(200, {"seen": f"got {token[:9]}...", "tail": f"...{token[-8:]}!"})

    with serving(Handler) as url:
        yield url


async def test_pieces_of_a_function_secret_never_leave(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, partner_url: str
) -> None:
    headers = {"Authorization": "Bearer ${secret:PARTNER}"}
    no_retry = {"retryStrategy": {"maxAttempts": 1}}
    env = {"WORKFLOWS_SECRET_PARTNER": TOKEN}
    async with engine_with_secrets(settings, tmp_path, monkeypatch, env, {}) as engine:
        for name in ("cut", "echo"):
            spec = {"url": f"{partner_url}/{name}", "headers": headers}
            await engine.store.declare_function(name, spec)
            steps = [{"id": "call", "function": name, "input": {}}]
            await engine.register({"name": name, "steps": steps, "errorHandling": no_retry})
        with structlog.testing.capture_logs() as logs:
            cut = await engine.wait(await engine.start("cut", {}))
            echo = await engine.wait(await engine.start("echo", {}))
        results = engine.topics.step_results
        places: dict[str, list[Any]] = {
            "state": [cut.model_dump_json(), echo.model_dump_json()],
            "logs": [json.dumps(logs, default=str)],
            "events": await records_about(
                settings, engine.topics.events, cut.execution_id, "failed"
            )
            + await records_about(settings, engine.topics.events, echo.execution_id, "completed"),
            "results": await records_about(settings, results, cut.execution_id, "ok")
            + await records_about(settings, results, echo.execution_id, "ok"),
        }
    assert cut.status.value == "failed" and "x" * 50 in (cut.error or {}).get("message", "")
    assert echo.status.value == "completed"
    assert echo.steps["call"].output == {"seen": "got ***...", "tail": "...***!"}
    for place, blobs in places.items():
        assert len(blobs) >= 2 or place == "logs", (place, blobs)  # read both executions' records
        for blob in blobs:
            assert not leaks(blob, TOKEN), (place, leaks(blob, TOKEN))


SECRETIVE = {
    "name": "passwords",
    "input": {
        "type": "object",
        "properties": {
            "user": {"type": "string"},
            "password": {"type": "string", "format": "password"},
        },
        "required": ["user", "password"],
    },
    "steps": [{"id": "login", "function": "login", "input": {"password": "{{input.password}}"}}],
}


def _registry() -> FunctionRegistry:
    registry = FunctionRegistry()

    def login(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        password = data["password"]
        if password.endswith("!"):
            raise FatalError(f"wrong password, it starts {password[:8]} and ends {password[-7:]}")
        return {"hint": f"{password[:10]}…", "ok": True}

    registry.register(login, "login")
    return registry


async def test_a_password_field_never_leaves_through_the_api(
    settings: Settings, redis: RedisClient
) -> None:
    async with running_engine(settings, _registry()) as engine, app_client(settings, redis) as api:
        assert (await api.post("/workflows", json=SECRETIVE)).status_code in (200, 201)
        done = await api.post(
            "/workflows/passwords/execute?wait=true",
            json={"user": "ann", "password": PASSWORD},
        )
        failed = await api.post(
            "/workflows/passwords/execute?wait=true",
            json={"user": "ann", "password": PASSWORD + "!"},
        )
        answers: list[httpx.Response] = [done, failed]
        for body in (done.json(), failed.json()):
            eid = body["executionId"]
            await engine.wait(eid)
            answers.append(await api.get(f"/executions/{eid}?includeAuditTrail=true"))
        answers.append(await api.get("/executions?workflow=passwords"))
        state = await engine.state(failed.json()["executionId"])
    assert done.json()["status"] == "completed" and failed.json()["status"] == "failed"
    assert done.json()["output"] == {"hint": "***…", "ok": True}
    assert "wrong password, it starts *** and ends ***" in failed.json()["error"]["message"]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert not leaks(answer.text, PASSWORD), (str(answer.url), leaks(answer.text, PASSWORD))
    assert state is not None and PASSWORD in state.input["password"]  # later steps need it
