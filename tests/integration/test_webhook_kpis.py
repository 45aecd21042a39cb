"""KPIs in webhook and email bodies (issue 21 item 2, the notifier): an ended execution's
webhook carries its KPIs with their units, and says which have no number. The engine runs a
real workflow (real broker and Redis); a local HTTP server is the webhook."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.runtime import running_engine
from workflows import FunctionContext, FunctionRegistry, function
from workflows.contracts import LifecycleEvent
from workflows.services.infra.settings import Settings
from workflows.services.notifier import Notifier
from workflows.services.notifier.email import email_message

pytestmark = pytest.mark.integration
functions = FunctionRegistry()


@function("scoreOrder", registry=functions)
def score_order(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"score": data["score"]}


WORKFLOW = {
    "name": "kpiHook",
    "steps": [{"id": "score", "function": "scoreOrder", "input": {"score": "{{input.score}}"}}],
    "metrics": [
        {"name": "orderScore", "value": "{{score.score}}", "unit": "points"},
        {
            "name": "completion",
            "value": '{{execution.status === "completed" ? 100 : 0}}',
            "unit": "percent",
        },
        {"name": "timeToShip", "description": "reported by a later system", "unit": "days"},
    ],
}


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", bodies
    server.shutdown()
    server.server_close()


async def test_an_ended_executions_webhook_carries_its_kpis(
    settings: Settings, hook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, bodies = hook
    settings = settings.model_copy(update={"webhook_urls": [url]})
    async with running_engine(settings, functions) as engine:
        notifier = Notifier(
            settings.model_copy(update={"notify_backoff_s": 0.01, "notify_attempts": 3}),
            engine.redis,
        )
        task = asyncio.create_task(notifier.run())
        try:
            await engine.register(WORKFLOW)
            execution_id = await engine.start("kpiHook", {"score": 42})
            state = await engine.wait(execution_id)
            assert state.status.value == "completed", state.error
            deadline = time.monotonic() + 30
            while not any(b["event"] == "execution.completed" for b in bodies):
                assert time.monotonic() < deadline, bodies
                await asyncio.sleep(0.05)
        finally:
            notifier.stop()
            await asyncio.wait_for(task, 15)
    [done] = [b for b in bodies if b["event"] == "execution.completed"]
    assert done["kpis"] == {
        "orderScore": {"value": 42, "unit": "points", "text": "42 points"},
        "completion": {"value": 100, "unit": "percent", "text": "100 %"},
    }
    assert "timeToShip" in done["kpisMissing"]
    started = [b for b in bodies if b["event"] == "execution.started"]
    assert started and "kpis" not in started[0]  # only an ended execution has KPIs


def test_the_email_lists_the_kpis_with_units() -> None:
    event = LifecycleEvent(
        execution_id="e1",
        type="execution.completed",
        workflow="kpiHook",
        workflow_version=1,
        status="completed",
        data={"durationMs": 5, "kpis": {"completion": 100}, "kpisMissing": {"timeToShip": "x"}},
    )
    text = email_message(event, "a@b.c", "ops@b.c", "http://d", {"completion": "percent"})
    body = text.get_content()
    assert "KPIs:" in body and "completion  100 %" in body and "timeToShip" in body
