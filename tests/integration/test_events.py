"""Event triggers: POST /events and Kafka event topics (written by kcat, not Python) start
matching workflows once per event; malformed records go to the DLQ."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from redis.asyncio import Redis

from tests.support.runtime import Engine, running_engine
from workflows.client import AsyncWorkflows
from workflows.contracts import DeadLetter, decode
from workflows.functions import FunctionRegistry
from workflows.services.infra.settings import Settings
from workflows.services.trigger import create_app

pytestmark = pytest.mark.integration
KCAT = shutil.which("kcat") or "/usr/bin/kcat"

WELCOME = {
    "name": "welcome",
    "input": {
        "type": "object",
        "properties": {"customerId": {"type": "string"}, "plan": {"type": "string"}},
        "required": ["customerId"],
    },
    "steps": [
        {
            "id": "greet",
            "function": "sendWelcome",
            "input": {"to": "{{input.customerId}}", "plan": "{{input.plan}}"},
        }
    ],
    "triggers": [
        {
            "event": "customer.*",
            "filter": "{{event.plan !== 'free'}}",
            "input": {"customerId": "{{event.customer.id}}", "plan": "{{event.plan}}"},
        }
    ],
}
AUDIT = {
    "name": "auditAll",
    "steps": [{"id": "log", "function": "sendWelcome", "input": {"to": "audit"}}],
    "triggers": [{"event": "*", "input": {}}],
}


@pytest.fixture
def event_settings(settings: Settings) -> Settings:
    tag = settings.topic_prefix
    return settings.model_copy(
        update={
            "event_topics": {f"{tag}ext.customers": "", f"{tag}ext.signups": "customer.signed_up"}
        }
    )


@pytest.fixture
async def engine(event_settings: Settings) -> AsyncIterator[Engine]:
    registry = FunctionRegistry()
    registry.register(lambda data, ctx: {"sent": data["to"]}, "sendWelcome")
    async with running_engine(event_settings, registry) as engine:
        yield engine


@pytest.fixture
async def app(event_settings: Settings, redis: Redis, engine: Engine) -> AsyncIterator[FastAPI]:
    app = create_app(event_settings, redis)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def wf(app: FastAPI) -> AsyncIterator[AsyncWorkflows]:
    async with AsyncWorkflows("http://test", transport=httpx.ASGITransport(app=app)) as client:
        await client.register(WELCOME)
        yield client


async def test_post_event_starts_matching_workflows_once(
    wf: AsyncWorkflows, engine: Engine
) -> None:
    payload = {"customer": {"id": "c1"}, "plan": "pro"}
    first = await wf.publish_event("customer.signed_up", payload, event_id="evt-1")
    assert [e["workflow"] for e in first["executions"]] == ["welcome"]
    again = await wf.publish_event("customer.signed_up", payload, event_id="evt-1")
    assert again["executions"] == first["executions"]  # same id: the orchestrator ignores it
    execution_id = first["executions"][0]["executionId"]
    state = await engine.wait(execution_id)
    assert state.status.value == "completed" and state.input == {"customerId": "c1", "plan": "pro"}
    assert state.actor == {"kind": "event", "id": "evt-1"}
    assert state.steps["greet"].output == {"sent": "c1"}

    free = await wf.publish_event("customer.signed_up", {"customer": {"id": "c2"}, "plan": "free"})
    assert free["executions"] == [] and free["skipped"] == []
    other = await wf.publish_event("order.created", {"customer": {"id": "c3"}, "plan": "pro"})
    assert other["executions"] == []
    bad_input = await wf.publish_event("customer.signed_up", {"plan": "pro"})
    assert bad_input["executions"] == [] and "customerId" in bad_input["skipped"][0]["reason"]

    await wf.register(AUDIT)  # registered after the first events: picked up on the next one
    both = await wf.publish_event("order.created", {}, event_id="evt-9")
    assert [e["workflow"] for e in both["executions"]] == ["auditAll"]


async def test_post_event_refuses_bad_types(wf: AsyncWorkflows) -> None:
    from workflows.client_errors import ApiError

    with pytest.raises(ApiError) as refused:
        await wf.publish_event("nodots", {})
    assert refused.value.status_code == 422


NODE_DIR = Path(__file__).parents[2] / "examples" / "workers" / "node"
NODE_PRODUCER = """
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const { Kafka, logLevel } = require('kafkajs');
const [bootstrap, topic, key] = process.argv.slice(1);
const values = require('fs').readFileSync(0, 'utf8').split('\\n').filter((v) => v);
(async () => {
  const producer = new Kafka({ brokers: [bootstrap], logLevel: logLevel.ERROR }).producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: values.map((value) => ({ key, value })) });
  await producer.disconnect();
})().catch((e) => { console.error(e); process.exit(1); });
"""


def _kcat(bootstrap: str, topic: str, key: str, *values: bytes) -> None:
    """kcat (librdkafka) as the producer, murmur2-keyed like the Java client; fails loudly."""
    settings = ["-X", "acks=all", "-X", "topic.partitioner=murmur2_random"]
    proc = subprocess.run(
        [KCAT, "-P", "-b", bootstrap, "-t", topic, "-k", key, *settings],
        input=b"\n".join(values) + b"\n",
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0 and not proc.stderr, f"kcat failed: {proc.stderr.decode()}"


def _produce(bootstrap: str, topic: str, key: str, *values: bytes) -> None:
    """Write JSON lines to a topic from a non-Python producer: kcat (the test broker is Apache
    Kafka, which librdkafka talks to), or Node.js kafkajs where kcat is not installed."""
    if shutil.which(KCAT):
        _kcat(bootstrap, topic, key, *values)
        return
    subprocess.run(
        ["node", "-e", NODE_PRODUCER, bootstrap, topic, key],
        input=b"\n".join(values) + b"\n",
        cwd=NODE_DIR,
        check=True,
        timeout=60,
    )


async def _dead_letters(settings: Settings, want: int) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(
        f"{settings.topic_prefix}wf.dlq",
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    letters: list[DeadLetter] = []
    try:
        deadline = time.monotonic() + 30
        while len(letters) < want and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            letters += [decode(DeadLetter, r.value) for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    return letters


async def _executions(engine: Engine, workflow: str, want: int) -> list[Any]:
    deadline = time.monotonic() + 30
    while True:
        ids = await engine.store.recent_executions(100)
        states = [s for s in [await engine.state(i) for i in ids] if s and s.workflow == workflow]
        done = [s for s in states if s.status.value == "completed"]
        if len(done) >= want or time.monotonic() > deadline:
            return done
        await asyncio.sleep(0.05)


async def test_events_from_a_non_python_producer_start_workflows_and_malformed_ones_go_to_the_dlq(
    wf: AsyncWorkflows, engine: Engine, event_settings: Settings
) -> None:
    topics = sorted(event_settings.event_topics)
    enveloped, plain = topics  # "...ext.customers" (envelope), "...ext.signups" (plain)
    tag = uuid.uuid4().hex[:6]
    envelope = {
        "type": "customer.upgraded",
        "id": f"k-{tag}",
        "data": {"customer": {"id": "k1"}, "plan": "pro"},
    }
    await asyncio.to_thread(
        _produce,
        event_settings.kafka_bootstrap,
        enveloped,
        "k1",
        json.dumps(envelope).encode(),
        json.dumps(envelope).encode(),  # delivered twice: one execution
        b"{not json",
        json.dumps({"id": "x", "data": {}}).encode(),  # no type
    )
    await asyncio.to_thread(
        _produce,
        event_settings.kafka_bootstrap,
        plain,
        "k2",
        json.dumps({"customer": {"id": "k2"}, "plan": "team"}).encode(),
    )
    done = await _executions(engine, "welcome", 2)
    assert sorted(s.input["customerId"] for s in done) == ["k1", "k2"]
    assert {s.actor["kind"] for s in done if s.actor} == {"event"}
    assert {s.actor["id"] for s in done if s.actor} >= {f"k-{tag}"}
    letters = await _dead_letters(event_settings, 2)
    assert sorted(letter.error_type for letter in letters) == ["invalid_envelope", "invalid_json"]
    assert all(letter.source_topic == enveloped and letter.reason for letter in letters)
    # the duplicate envelope (routed before the DLQ'd records) started nothing more
    assert len(await _executions(engine, "welcome", 0)) == 2


async def test_a_step_reads_the_event_that_started_it(wf: AsyncWorkflows, engine: Engine) -> None:
    """`{{trigger.event.*}}` (issue 17 item 6): the event travels with the start command."""
    await wf.register(
        {
            "name": "orderPlaced",
            "steps": [
                {
                    "id": "note",
                    "function": "sendWelcome",
                    "input": {"to": "{{trigger.event.type}}:{{trigger.event.data.x}}"},
                }
            ],
            "triggers": [{"event": "order.placed", "input": {}}],
        }
    )
    started = await wf.publish_event("order.placed", {"x": 41}, event_id="evt-t1")
    state = await engine.wait(started["executions"][0]["executionId"])
    assert state.steps["note"].output == {"sent": "order.placed:41"}
    assert state.trigger is not None and state.trigger["event"]["data"] == {"x": 41}
