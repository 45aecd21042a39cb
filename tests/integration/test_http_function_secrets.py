"""HTTP functions with `${secret:NAME}` headers, over the real broker, Redis and a loopback server.

The header reaches the server with the secret's value; the audit trail records the call
(method, URL, status, duration) but never the secret, and neither do the logs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.support.http_server import JsonHandler, serving
from tests.support.runtime import Engine
from tests.support.secrets import engine_with_secrets
from workflows.services.infra.settings import Settings

pytestmark = pytest.mark.integration

ENV_SECRET = "tok-env-5f1c9a77d2"
FILE_SECRET = "tenant-file-83be01"


class Server:
    """The loopback server's URL and the (path, headers) of every request it received."""

    def __init__(self, url: str, requests: list[tuple[str, dict[str, str]]]) -> None:
        self.url = url
        self.requests = requests


@pytest.fixture
def server() -> Iterator[Server]:
    """POST /ok -> 200; /reject -> 400 whose message echoes the Authorization header."""
    requests: list[tuple[str, dict[str, str]]] = []

    class Handler(JsonHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            requests.append((self.path, dict(self.headers.items())))
            if self.path == "/ok":
                self.reply(200, {"accepted": True})
            else:
                self.reply(400, {"message": f"bad credentials {self.headers['Authorization']}"})

    with serving(Handler) as url:
        yield Server(url, requests)


@pytest.fixture
async def engine(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Engine]:
    env = {"WORKFLOWS_SECRET_PARTNER_TOKEN": ENV_SECRET}
    file = {"tenant": FILE_SECRET}
    async with engine_with_secrets(settings, tmp_path, monkeypatch, env, file) as running:
        yield running


def _workflow(name: str, function: str) -> dict[str, Any]:
    return {"name": name, "steps": [{"id": "call", "function": function, "input": {"a": 1}}]}


async def _run(engine: Engine, name: str, function: str, spec: dict[str, Any]) -> Any:
    await engine.store.declare_function(function, spec)
    await engine.register(_workflow(name, function))
    return await engine.wait(await engine.start(name, {}))


async def test_secret_headers_reach_the_server_and_only_the_call_reaches_the_audit_trail(
    engine: Engine, server: Server
) -> None:
    headers = {
        "Authorization": "Bearer ${secret:PARTNER_TOKEN}",
        "X-Tenant": "${secret:tenant}",
        "X-Plain": "visible",
    }
    with structlog.testing.capture_logs() as logs:
        state = await _run(
            engine, "secretCall", "partnerCall", {"url": f"{server.url}/ok", "headers": headers}
        )
    assert state.status.value == "completed", state.error
    path, received = server.requests[0]
    assert path == "/ok"
    assert received["Authorization"] == f"Bearer {ENV_SECRET}"
    assert received["X-Tenant"] == FILE_SECRET
    assert received["X-Plain"] == "visible"

    succeeded = next(e for e in state.history if e.type == "step.succeeded")
    call = succeeded.data["call"]
    assert {k: call[k] for k in ("method", "url", "status")} == {
        "method": "POST",
        "url": f"{server.url}/ok",
        "status": 200,
    }
    assert isinstance(call["durationMs"], int) and call["durationMs"] >= 0
    stored = state.model_dump_json()
    assert ENV_SECRET not in stored and FILE_SECRET not in stored
    assert "${secret:PARTNER_TOKEN}" not in stored  # header values are not recorded at all
    logged = json.dumps(logs, default=str)
    assert "http_function_called" in logged
    assert ENV_SECRET not in logged and FILE_SECRET not in logged


async def test_a_missing_secret_is_a_final_error_naming_it(engine: Engine, server: Server) -> None:
    spec = {"url": f"{server.url}/ok", "headers": {"X-Key": "${secret:NOT_THERE}"}}
    state = await _run(engine, "missingSecret", "needsSecret", spec)
    assert state.status.value == "failed"
    assert state.error is not None and state.error["type"] == "MissingSecret"
    assert "NOT_THERE" in state.error["message"]
    assert state.steps["call"].attempt == 1  # final: not retried
    assert server.requests == []  # nothing was sent
    failed = next(e for e in state.history if e.type == "step.failed")
    assert failed.data["call"]["status"] is None
    assert failed.data["call"]["url"] == f"{server.url}/ok"


async def test_a_secret_echoed_in_an_error_is_scrubbed(engine: Engine, server: Server) -> None:
    spec = {"url": f"{server.url}/reject", "headers": {"Authorization": "${secret:PARTNER_TOKEN}"}}
    with structlog.testing.capture_logs() as logs:
        state = await _run(engine, "rejected", "rejectingCall", spec)
    assert state.status.value == "failed"
    assert server.requests[0][1]["Authorization"] == ENV_SECRET
    assert state.error is not None and "bad credentials ***" in state.error["message"]
    failed = next(e for e in state.history if e.type == "step.failed")
    assert failed.data["call"]["status"] == 400
    assert ENV_SECRET not in state.model_dump_json()
    assert ENV_SECRET not in json.dumps(logs, default=str)
