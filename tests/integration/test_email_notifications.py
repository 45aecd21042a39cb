"""E-mail notifications of a scheduled execution, received by a real SMTP server on loopback
(aiosmtpd), next to a signed webhook from the workflow definition's own notifications."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes
from email.message import Message
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from redis.asyncio import Redis

from tests.support.runtime import Engine, running_engine
from workflows.client import AsyncWorkflows
from workflows.functions import FunctionRegistry
from workflows.services.infra.settings import Settings
from workflows.services.notifier import Notifier
from workflows.services.trigger import create_app
from workflows.testing.embedded import free_port

pytestmark = pytest.mark.integration
SECRET = "hook-secret"
DASHBOARD = "http://dash.example"


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(content, policy=default)))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for rcpt, m in self.messages if address in rcpt]


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


class Hooks:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    server = Hooks()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _workflow(hook_url: str) -> dict[str, Any]:
    return {
        "name": "nightlyReport",
        "input": {"type": "object", "properties": {"region": {"type": "string"}}},
        "steps": [{"id": "build", "function": "buildReport", "input": {"r": "{{input.region}}"}}],
        "notifications": {"onComplete": [f"webhook:{hook_url}"]},
    }


@pytest.fixture
async def stack(
    settings: Settings, redis: Redis, inbox: tuple[Inbox, int], hooks: Hooks
) -> AsyncIterator[tuple[AsyncWorkflows, Engine, Notifier]]:
    settings = settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": inbox[1],
            "smtp_from": "workflows@example.com",
            "dashboard_url": DASHBOARD,
            "scheduler_poll_ms": 50,
        }
    )
    registry = FunctionRegistry()
    registry.register(lambda data, ctx: {"rows": 3, "region": data["r"]}, "buildReport")
    notifier = Notifier(
        settings.model_copy(
            update={"webhook_secret": SECRET, "notify_backoff_s": 0.01, "notify_attempts": 3}
        ),
        redis,
    )
    task = asyncio.create_task(notifier.run())
    app: FastAPI = create_app(settings, redis)
    try:
        async with running_engine(settings, registry) as engine, app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with AsyncWorkflows("http://test", transport=transport) as wf:
                await wf.register(_workflow(hooks.url))
                yield wf, engine, notifier
    finally:
        notifier.stop()
        await asyncio.wait_for(task, 20)


async def _until(check: Any, what: str, within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_scheduled_execution_mails_on_start_and_completion(
    stack: tuple[AsyncWorkflows, Engine, Notifier], inbox: tuple[Inbox, int], hooks: Hooks
) -> None:
    wf, engine, _ = stack
    mailbox, _ = inbox
    created = await wf.schedule(
        "nightlyReport",
        input={"region": "emea"},
        notifications={
            "onStart": ["ops@example.com"],
            "onComplete": ["ops@example.com", "email:boss@example.com"],
            "onFailure": ["pager@example.com"],
        },
        every="1s",
    )
    await _until(lambda: len(mailbox.to("boss@example.com")) >= 1, "the completion mail")
    await wf.pause_schedule(created["id"])
    done = mailbox.to("boss@example.com")[0]
    execution_id = done["X-Workflows-Execution-Id"]
    assert execution_id.startswith(f"sched-{created['id']}-")
    state = await engine.wait(execution_id)
    assert state.status.value == "completed"

    def for_ops() -> list[Message]:
        mails = mailbox.to("ops@example.com")
        return [m for m in mails if m["X-Workflows-Execution-Id"] == execution_id]

    await _until(lambda: len(for_ops()) == 2, "both mails to ops")
    ops = for_ops()
    kinds = sorted(m["X-Workflows-Event"] for m in ops)
    assert kinds == ["execution.completed", "execution.started"]
    started = next(m for m in ops if m["X-Workflows-Event"] == "execution.started")
    assert started["Subject"].strip() == f"[workflows] nightlyReport started: {execution_id}"
    assert started["From"] == "workflows@example.com"
    body = done.get_payload(decode=True).decode()
    assert done["Subject"].strip() == f"[workflows] nightlyReport completed: {execution_id}"
    assert "Workflow:   nightlyReport (version 1)" in body
    assert f"Execution:  {execution_id}" in body
    assert "Status:     completed" in body
    assert "Status:     running" in started.get_payload(decode=True).decode()
    assert "Duration:   " in body and "Duration:   -" not in body
    assert f"{DASHBOARD}/#/executions/{execution_id}" in body
    assert mailbox.to("pager@example.com") == []  # it did not fail

    # the definition's own notifications (a webhook) merged with the schedule's
    await _until(lambda: any(execution_id.encode() in b for _, b in hooks.received), "the hook")
    headers, raw = next((h, b) for h, b in hooks.received if execution_id.encode() in b)
    payload = json.loads(raw)
    assert payload["event"] == "execution.completed" and payload["status"] == "completed"
    mac = hmac.new(
        SECRET.encode(),
        f"{headers['X-Workflows-Timestamp']}.{raw.decode()}".encode(),
        hashlib.sha256,
    )
    assert headers["X-Workflows-Signature"] == f"sha256={mac.hexdigest()}"


async def test_a_dead_mail_server_never_blocks_the_workflow_and_failures_are_recorded(
    settings: Settings, redis: Redis
) -> None:
    settings = settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": free_port(), "scheduler_poll_ms": 50}
    )
    registry = FunctionRegistry()
    registry.register(lambda data, ctx: {"rows": 0}, "buildReport")
    notifier = Notifier(
        settings.model_copy(
            update={"notify_backoff_s": 0.01, "notify_attempts": 3, "notify_timeout_s": 2}
        ),
        redis,
    )
    task = asyncio.create_task(notifier.run())
    try:
        async with running_engine(settings, registry) as engine:
            await engine.register(
                {**_workflow("http://127.0.0.1:9/x"), "notifications": {"onComplete": ["a@b.c"]}}
            )
            execution_id = await engine.start("nightlyReport", {"region": "x"})
            assert (await engine.wait(execution_id)).status.value == "completed"
            key = f"{settings.key_prefix}:notify:failed"
            deadline = time.monotonic() + 30
            while not await redis.llen(key):
                assert time.monotonic() < deadline, "the failed delivery was not recorded"
                await asyncio.sleep(0.05)
            record = json.loads((await redis.lrange(key, 0, 0))[0])
            assert record["recipient"] == "a@b.c" and record["executionId"] == execution_id
            assert record["attempts"] == 3 and record["error"]
            counts = await redis.hgetall(f"{settings.key_prefix}:notify:counts")
            assert counts[b"email.failed"] == b"1"
    finally:
        notifier.stop()
        await asyncio.wait_for(task, 20)
