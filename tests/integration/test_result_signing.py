"""A result must come from the command it answers (issue 20, item 4).

On the real broker: a plain producer tries to complete a running step. Without signing, a
result whose commandId is not the outstanding command of that step and attempt is refused;
with a signing key, an unsigned result, one signed with another key, and an unsigned step
command are refused too. Each refused record is in the DLQ with its reason, the step stays
running, and the real worker's (signed) result then completes it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from tests.support.runtime import Engine, running_engine
from workflows.contracts import StepCommand, StepResult, command_id, encode
from workflows.contracts.signing import SIGNATURE_HEADER, sign
from workflows.functions import FunctionContext, FunctionRegistry
from workflows.services.infra.dead_letters import read_dead_letters
from workflows.services.infra.settings import Settings

pytestmark = pytest.mark.integration

HELD = {"name": "held", "steps": [{"id": "a", "function": "heldStep"}]}


def _registry(release: asyncio.Event, calls: list[str]) -> FunctionRegistry:
    registry = FunctionRegistry()

    async def held(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        calls.append(ctx.command_id)
        await release.wait()
        return {"by": "the worker"}

    registry.register(held, "heldStep")
    return registry


async def _running(engine: Engine, execution_id: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = await engine.state(execution_id)
        if state is not None and "a" in state.steps and state.steps["a"].status == "running":
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"step a of {execution_id} never ran")


async def _dead_letters(settings: Settings, wanted: int) -> list[Any]:
    deadline = time.monotonic() + 30
    letters: list[Any] = []
    while time.monotonic() < deadline:
        letters = [e.letter for e in await read_dead_letters(settings) if e.letter is not None]
        if len(letters) >= wanted:
            return letters
        await asyncio.sleep(0.1)
    raise AssertionError(f"{wanted} dead letters expected, found {letters}")


def _forged(execution_id: str, cid: str) -> bytes:
    return encode(
        StepResult(
            execution_id=execution_id,
            command_id=cid,
            step_id="a",
            attempt=1,
            ok=True,
            output={"by": "a forger"},
        )
    )


async def _plain_send(
    settings: Settings, topic: str, value: bytes, key: str, headers: Any = None
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key.encode(), headers=headers)
    finally:
        await producer.stop()


async def _still_running_then_completed(
    engine: Engine, execution_id: str, release: asyncio.Event
) -> None:
    probe = await engine.start("held", {})  # behind the forged records on the topics
    await _running(engine, probe)
    state = await engine.state(execution_id)
    assert state is not None and state.steps["a"].status == "running", state
    release.set()
    done = await engine.wait(execution_id)
    assert done.status.value == "completed", done.error
    assert done.output == {"by": "the worker"}


async def test_a_result_for_another_command_is_refused(settings: Settings) -> None:
    release, calls = asyncio.Event(), []
    async with running_engine(settings, _registry(release, calls)) as engine:
        await engine.register(HELD)
        eid = await engine.start("held", {})
        await _running(engine, eid)
        topic = engine.topics.step_results
        await _plain_send(settings, topic, _forged(eid, "someone-else"), eid)
        letters = await _dead_letters(settings, 1)
        await _still_running_then_completed(engine, eid, release)

    (letter,) = letters
    assert letter.error_type == "wrong_command"
    assert "someone-else" in letter.reason and command_id(eid, "a", 1) in letter.reason


async def test_with_a_signing_key_only_signed_records_count(settings: Settings) -> None:
    signed = settings.model_copy(update={"signing_key": "deployment-key"})
    release, calls = asyncio.Event(), []
    async with running_engine(signed, _registry(release, calls)) as engine:
        await engine.register(HELD)
        eid = await engine.start("held", {})
        await _running(engine, eid)
        cid = command_id(eid, "a", 1)
        results = engine.topics.step_results
        await _plain_send(signed, results, _forged(eid, cid), eid)  # no signature
        wrong_key = [(SIGNATURE_HEADER, sign(b"guessed", _forged(eid, cid)))]
        await _plain_send(signed, results, _forged(eid, cid), eid, wrong_key)
        command = StepCommand(
            execution_id="forged-run",
            command_id=command_id("forged-run", "a", 1),
            workflow="held",
            workflow_version=1,
            step_id="a",
            function="heldStep",
            attempt=1,
            idempotency_key="forged-run:a",
        )
        await _plain_send(signed, engine.topics.step_commands, encode(command), "forged-run")
        letters = await _dead_letters(signed, 3)
        await _still_running_then_completed(engine, eid, release)

    assert sorted(letter.error_type for letter in letters) == ["bad_signature"] * 3
    reasons = sorted(letter.reason for letter in letters)
    assert sum("no wf-signature header" in r for r in reasons) == 2, reasons
    assert sum("does not match" in r for r in reasons) == 1, reasons
    assert command_id("forged-run", "a", 1) not in calls  # the forged command never ran
