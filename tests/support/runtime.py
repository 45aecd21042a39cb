"""A running engine for integration tests: orchestrator + dispatcher as asyncio tasks.

Real broker, real Redis; functions come from a registry the test fills.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from workflows.contracts import Actor, StartExecution, encode
from workflows.contracts.topics import Topics
from workflows.functions import FunctionRegistry
from workflows.services.core.definition import WorkflowDefinition
from workflows.services.core.state import ExecutionState
from workflows.services.dispatcher import Dispatcher
from workflows.services.infra.kafka import Bus, ensure_topics
from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import RedisClient, connect_redis
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import StateStore
from workflows.services.orchestrator import Orchestrator

TERMINAL = {"completed", "failed", "cancelled", "timed_out"}


class Engine:
    def __init__(self, settings: Settings, redis: RedisClient, bus: Bus) -> None:
        self.settings = settings
        self.redis = redis
        self.bus = bus
        self.store = StateStore(redis, Keys(settings.key_prefix))
        self.topics = bus.topics
        self.orchestrator: Orchestrator | None = None  # set by running_engine
        self.dispatcher: Dispatcher | None = None  # set by running_engine

    async def register(self, definition: dict[str, Any] | WorkflowDefinition) -> int:
        wire = definition.to_wire() if isinstance(definition, WorkflowDefinition) else definition
        version, _ = await self.store.register_definition(wire["name"], json.dumps(wire), {})
        return version

    async def start(
        self, workflow: str, input_: dict[str, Any], execution_id: str | None = None
    ) -> str:
        execution_id = execution_id or uuid.uuid4().hex
        message = StartExecution(
            execution_id=execution_id, workflow=workflow, input=input_, actor=Actor(kind="api")
        )
        await self.publish(self.topics.start, message)
        return execution_id

    async def publish(self, topic: str, message: Any, key: str | None = None) -> None:
        await self.bus.publish(topic, encode(message), key or message.execution_id)
        await self.bus.flush()

    async def state(self, execution_id: str) -> ExecutionState | None:
        doc = await self.store.get_state(execution_id)
        return ExecutionState.model_validate_json(doc) if doc else None

    async def wait(
        self, execution_id: str, timeout: float = 30.0, status: set[str] | None = None
    ) -> ExecutionState:
        """Poll Redis with a deadline until the execution reaches one of `status` (terminal)."""
        wanted = status or TERMINAL
        deadline = time.monotonic() + timeout
        delay = 0.005
        while time.monotonic() < deadline:
            state = await self.state(execution_id)
            if state is not None and state.status.value in wanted:
                return state
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        raise AssertionError(f"execution {execution_id} not in {wanted} after {timeout}s: {state}")


@asynccontextmanager
async def running_engine(
    settings: Settings, registry: FunctionRegistry, *, local_handoff: bool = False
) -> AsyncIterator[Engine]:
    """Orchestrator and dispatcher as tasks of this process; with `local_handoff`, commands
    go to the dispatcher and results to the orchestrator in memory too, as in `workflows run
    orchestrator dispatcher` with WORKFLOWS_LOCAL_HANDOFF=true."""
    redis = connect_redis(settings)
    await ensure_topics(settings, Topics.with_prefix(settings.topic_prefix).fixed().values())
    orchestrator = Orchestrator(settings, redis)
    dispatcher = Dispatcher(settings, redis, registry=registry)
    if local_handoff:
        orchestrator.take_results_from(dispatcher.bus)
        dispatcher.take_commands_from(orchestrator.bus)
    bus = Bus(settings, "test")
    await bus.start()
    tasks = [asyncio.create_task(orchestrator.run()), asyncio.create_task(dispatcher.run())]
    try:
        engine = Engine(settings, redis, bus)
        engine.orchestrator = orchestrator
        engine.dispatcher = dispatcher
        yield engine
    finally:
        orchestrator.stop()
        dispatcher.stop()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 20)
        await bus.stop()
        await redis.aclose()
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception():
                raise task.exception()  # type: ignore[misc]


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `check` with a deadline (doubling from 5 ms up to 100 ms); AssertionError after."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)
