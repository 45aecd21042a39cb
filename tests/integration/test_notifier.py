"""The notifier against the real broker and Redis, with a real webhook receiver on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from redis.asyncio import Redis

from workflows.contracts import LifecycleEvent, Topics, encode
from workflows.services.infra.kafka import Bus, ensure_topics
from workflows.services.infra.keys import Keys
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import StateStore
from workflows.services.notifier import Notifier
from workflows.services.notifier.channels import recipients, sign, webhook_payload

pytestmark = pytest.mark.integration
SECRET = "s3cret"
WAIT_S = 30.0


class Receiver:
    """Records POSTs per path; answers 500 to the first `fail_first` requests of each path."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.fail_first = fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((self.path, dict(self.headers.items()), body))
                seen = sum(1 for p, _, _ in outer.requests if p == self.path)
                status = 500 if seen <= outer.fail_first or self.path == "/down" else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def on(self, path: str) -> list[tuple[str, dict[str, str], bytes]]:
        return [r for r in self.requests if r[0] == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(fail_first=1)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def event(execution_id: str, type_: str, **data: Any) -> LifecycleEvent:
    return LifecycleEvent(
        execution_id=execution_id,
        type=type_,
        workflow="onboarding",
        workflow_version=1,
        status=type_.split(".")[1],
        data=data,
    )


async def wait_until(check: Any, within_s: float = WAIT_S) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_signed_webhook_with_retry(
    settings: Settings, redis: Redis, receiver: Receiver
) -> None:
    settings = settings.model_copy(
        update={"webhook_urls": [f"{receiver.url}/all"], "dashboard_url": "http://dash"}
    )
    topics = Topics.with_prefix(settings.topic_prefix)
    await ensure_topics(settings, topics.fixed().values())
    eid = f"e-{uuid.uuid4().hex[:8]}"
    state = {
        "executionId": eid,
        "notifications": {
            "onComplete": [f"webhook:{receiver.url}/mine", "email:ops@example.com"],
            "onFailure": [f"webhook:{receiver.url}/failures"],
        },
    }
    await StateStore(redis, Keys(settings.key_prefix)).save(eid, 0, json.dumps(state), [])

    notifier = Notifier(
        settings.model_copy(
            update={"webhook_secret": SECRET, "notify_backoff_s": 0.01, "notify_attempts": 3}
        ),
        redis,
    )
    task = asyncio.create_task(notifier.run())
    bus = Bus(settings, "test")
    await bus.start()
    try:
        completed = event(eid, "execution.completed", durationMs=1234, output={"ok": True})
        for value in (
            b"garbage",
            encode(event(eid, "step.started")),  # not notified
            encode(completed),
            encode(completed),  # redelivered: notified once
        ):
            await bus.publish(topics.events, value, eid)
        await bus.flush()
        await wait_until(lambda: notifier.delivered >= 2)
    finally:
        await bus.stop()
        notifier.stop()
        notifier.stop()
        await asyncio.wait_for(task, 15)

    # one failed attempt then success, on both the global and the execution's own webhook
    assert len(receiver.on("/all")) == 2
    assert len(receiver.on("/mine")) == 2
    assert receiver.on("/failures") == []
    assert (notifier.delivered, notifier.failed) == (2, 0)
    _, headers, body = receiver.on("/mine")[-1]
    timestamp = headers["X-Workflows-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 120
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert headers["X-Workflows-Signature"] == f"sha256={expected.hexdigest()}"
    assert json.loads(body) == {
        "event": "execution.completed",
        "executionId": eid,
        "workflow": "onboarding",
        "status": "completed",
        "durationMs": 1234,
        "error": None,
        "link": f"http://dash/#/executions/{eid}",
    }


async def test_failing_webhook_is_counted_and_does_not_block(
    settings: Settings, redis: Redis, receiver: Receiver
) -> None:
    settings = settings.model_copy(update={"webhook_urls": [f"{receiver.url}/down"]})
    topics = Topics.with_prefix(settings.topic_prefix)
    await ensure_topics(settings, topics.fixed().values())
    notifier = Notifier(
        settings.model_copy(
            update={"webhook_secret": SECRET, "notify_backoff_s": 0.01, "notify_attempts": 2}
        ),
        redis,
    )
    task = asyncio.create_task(notifier.run())
    bus = Bus(settings, "test")
    await bus.start()
    try:
        for i in range(3):
            eid = f"e-{i}-{uuid.uuid4().hex[:6]}"
            failed = event(eid, "execution.failed", error={"type": "X", "message": "boom"})
            await bus.publish(topics.events, encode(failed), eid)
        await bus.flush()
        await wait_until(lambda: notifier.failed >= 3)
    finally:
        await bus.stop()
        notifier.stop()
        await asyncio.wait_for(task, 15)
    assert len(receiver.on("/down")) == 6  # 2 attempts each
    assert notifier.delivered == 0
    body = json.loads(receiver.on("/down")[0][2])
    assert body["error"] == {"type": "X", "message": "boom"}


def test_recipients_and_payload_helpers() -> None:
    notifications = {
        "onStart": ["webhook:http://a", "email:x@y"],
        "onFailure": ["webhook:http://b", "webhook:http://g"],
    }
    assert recipients("execution.started", notifications, ["http://g"]) == (
        ["http://g", "http://a"],
        ["x@y"],
    )
    assert recipients("execution.timed_out", notifications, ["http://g"]) == (
        ["http://g", "http://b"],
        [],
    )
    assert recipients("execution.completed", None, []) == ([], [])
    payload = webhook_payload(event("e1", "execution.started"), "http://d/")
    assert payload["link"] == "http://d/#/executions/e1" and payload["durationMs"] is None
    mac = hmac.new(b"k", b"1.{}", hashlib.sha256).hexdigest()
    assert sign("k", "1", "{}") == f"sha256={mac}"
