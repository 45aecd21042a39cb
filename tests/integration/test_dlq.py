"""Poison messages land on the DLQ with their reason; operators list and re-drive them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.support.runtime import Engine, running_engine
from workflows.contracts import Actor, StartExecution, encode
from workflows.functions import FunctionRegistry
from workflows.services.infra.dead_letters import read_dead_letters, replay_dead_letters
from workflows.services.infra.settings import Settings

pytestmark = pytest.mark.integration
EXE = str(Path(sys.executable).parent / "workflows")


def _registry() -> FunctionRegistry:
    registry = FunctionRegistry()
    registry.register(lambda data, ctx: {"ok": True}, "noop")
    return registry


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    async with running_engine(settings, _registry()) as running:
        yield running


async def _until(settings: Settings, count: int) -> list:  # type: ignore[type-arg]
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        entries = await read_dead_letters(settings)
        if len(entries) >= count or asyncio.get_running_loop().time() > deadline:
            return entries
        await asyncio.sleep(0.1)


async def test_poison_messages_are_dead_lettered_listed_and_replayed(
    engine: Engine, settings: Settings, redis: Redis
) -> None:
    await engine.bus.publish(engine.topics.start, b"{not json", "k1")
    early = StartExecution(execution_id="early-1", workflow="later", actor=Actor(kind="api"))
    await engine.bus.publish(engine.topics.start, encode(early), "early-1")
    await engine.bus.flush()

    # the consumer keeps going: a good execution behind the poison completes
    await engine.register({"name": "ok", "steps": [{"id": "a", "function": "noop"}]})
    done = await engine.wait(await engine.start("ok", {}))
    assert done.status.value == "completed"

    entries = await _until(settings, 2)
    reasons = {e.letter.error_type: e.letter for e in entries if e.letter}
    assert set(reasons) == {"invalid_json", "rejected"}, entries
    assert reasons["rejected"].reason == "unknown workflow 'later' version latest"
    assert reasons["rejected"].execution_id == "early-1"
    assert reasons["invalid_json"].original_text == "{not json"
    assert reasons["invalid_json"].source_topic == engine.topics.start

    env = {
        **os.environ,
        "WORKFLOWS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "WORKFLOWS_REDIS_URL": settings.redis_url,
        "WORKFLOWS_TOPIC_PREFIX": settings.topic_prefix,
        "WORKFLOWS_KEY_PREFIX": settings.key_prefix,
    }
    listed = await asyncio.to_thread(
        subprocess.run, [EXE, "dlq", "list"], env=env, capture_output=True, text=True, check=True
    )
    assert "unknown workflow 'later'" in listed.stdout and "invalid_json" in listed.stdout

    # fix the cause, then re-drive only that entry: the execution now runs
    await engine.register({"name": "later", "steps": [{"id": "a", "function": "noop"}]})
    rejected = [e for e in entries if e.letter and e.letter.error_type == "rejected"]
    outcomes = await replay_dead_letters(settings, redis, rejected)
    assert [o for _, o in outcomes] == [f"replayed to {engine.topics.start}"]
    state = await engine.wait("early-1")
    assert state.status.value == "completed"
    again = await replay_dead_letters(settings, redis, rejected)
    assert [o for _, o in again] == ["skipped: already replayed (use --force)"]
