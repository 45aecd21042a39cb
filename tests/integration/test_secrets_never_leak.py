"""A function secret never reaches the state, lifecycle events (the audit feed) or logs.

The HTTP function's server answers 200 with the secret it received echoed in its body: the
step's output is scrubbed before it is stored or published.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog

from tests.support.api import records_about
from tests.support.http_server import JsonHandler, serving
from tests.support.runtime import Engine
from tests.support.secrets import engine_with_secrets
from workflows.services.infra.settings import Settings

pytestmark = pytest.mark.integration

ENV_SECRET = "env-tok-41d9c0e2b7"
FILE_SECRET = "file-tok-9a7e55c1f3"


@pytest.fixture
def echo_url() -> Iterator[str]:
    """POST -> 200 `{"seen": {"auth": <Authorization>, "tenant": <X-Tenant>}}`."""

    class Handler(JsonHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen = {"auth": self.headers["Authorization"], "tenant": self.headers["X-Tenant"]}
            self.reply(200, {"seen": seen, FILE_SECRET: "as a key"})

    with serving(Handler) as url:
        yield f"{url}/echo"


@pytest.fixture
async def engine(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Engine]:
    env = {"WORKFLOWS_SECRET_PARTNER": ENV_SECRET}
    file = {"tenant": FILE_SECRET}
    async with engine_with_secrets(settings, tmp_path, monkeypatch, env, file) as running:
        yield running


async def test_an_echoed_secret_is_scrubbed_everywhere(engine: Engine, echo_url: str) -> None:
    headers = {"Authorization": "Bearer ${secret:PARTNER}", "X-Tenant": "${secret:tenant}"}
    await engine.store.declare_function("echo", {"url": echo_url, "headers": headers})
    workflow = {"name": "echoing", "steps": [{"id": "call", "function": "echo", "input": {}}]}
    await engine.register(workflow)
    with structlog.testing.capture_logs() as logs:
        execution_id = await engine.start("echoing", {})
        state = await engine.wait(execution_id)
    assert state.status.value == "completed", state.error
    output = state.steps["call"].output
    assert output == {"seen": {"auth": "Bearer ***", "tenant": "***"}, "***": "as a key"}
    settings = engine.settings
    events = await records_about(
        settings, engine.topics.events, execution_id, "execution.completed"
    )
    assert events, "no lifecycle records (the audit feed) of the execution were read"
    places = {
        "state": [state.model_dump_json().encode()],
        "events": events,
        "logs": [json.dumps(logs, default=str).encode()],
    }
    for place, records in places.items():
        for secret in (ENV_SECRET, FILE_SECRET):
            assert not any(secret.encode() in r for r in records), (place, secret)
    assert any(b"Bearer ***" in r for r in events)  # the scrubbed output was published
