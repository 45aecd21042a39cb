"""The dispatcher and the Python worker against the real broker and Redis."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from redis.asyncio import Redis

from tests.support.http_server import JsonHandler
from workflows.contracts import (
    DeadLetter,
    StepCommand,
    StepResult,
    Topics,
    command_id,
    decode,
    encode,
)
from workflows.errors import FatalError
from workflows.functions import FunctionContext, FunctionRegistry, function, step_result
from workflows.services.dispatcher import Dispatcher
from workflows.services.infra.kafka import Bus, ensure_topics
from workflows.services.infra.keys import Keys
from workflows.services.infra.results_cache import ResultsCache
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import StateStore
from workflows.services.worker import Worker

pytestmark = pytest.mark.integration
WAIT_S = 30.0
ROOT = Path(__file__).resolve().parents[2]


# -- helpers ---------------------------------------------------------------------------------
def make_command(fn: str, input_: Any = None, *, key: str | None = None) -> StepCommand:
    eid = f"e-{uuid.uuid4().hex[:8]}"
    cid = command_id(eid, "s1", 1)
    return StepCommand(
        execution_id=eid,
        command_id=cid,
        workflow="wf",
        workflow_version=1,
        step_id="s1",
        function=fn,
        input=input_,
        attempt=1,
        idempotency_key=key or cid,
    )


async def publish(settings: Settings, topic: str, *values: bytes) -> None:
    bus = Bus(settings, "test")
    await bus.start()
    try:
        for value in values:
            await bus.publish(topic, value, "k")
        await bus.flush()
    finally:
        await bus.stop()


class TopicReader:
    """Reads a topic from the beginning; `wait_for` polls until enough records match."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self.values: list[bytes] = []

    async def wait_for(
        self, predicate: Callable[[list[bytes]], bool], within_s: float = WAIT_S
    ) -> list[bytes]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while not predicate(self.values):
            if loop.time() > deadline:
                raise AssertionError(f"timed out; got {len(self.values)} records: {self.values}")
            batch = await self.consumer.getmany(timeout_ms=100)
            self.values.extend(r.value for rs in batch.values() for r in rs)
        return self.values


@pytest.fixture
async def topics(settings: Settings) -> Topics:
    topics = Topics.with_prefix(settings.topic_prefix)
    await ensure_topics(settings, topics.fixed().values())
    return topics


@pytest.fixture
async def results_reader(settings: Settings, topics: Topics) -> AsyncIterator[TopicReader]:
    reader = TopicReader(settings, topics.step_results)
    await reader.consumer.start()
    yield reader
    await reader.consumer.stop()


def results_for(values: list[bytes], *commands: StepCommand) -> dict[str, list[StepResult]]:
    wanted = {c.command_id for c in commands}
    found: dict[str, list[StepResult]] = {}
    for value in values:
        result = decode(StepResult, value)
        if result.command_id in wanted:
            found.setdefault(result.command_id, []).append(result)
    return found


def have_all(*commands: StepCommand, each: int = 1) -> Callable[[list[bytes]], bool]:
    def check(values: list[bytes]) -> bool:
        found = results_for(values, *commands)
        return all(len(found.get(c.command_id, [])) >= each for c in commands)

    return check


class running:
    """`async with running(service):` runs it as a task, then stops and awaits it."""

    def __init__(self, service: Dispatcher | Worker) -> None:
        self.service = service
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> None:
        self.task = asyncio.create_task(self.service.run())

    async def __aexit__(self, *exc: object) -> None:
        self.service.stop()
        self.service.stop()  # idempotent
        assert self.task is not None
        await asyncio.wait_for(self.task, 15)


# -- a tiny real HTTP server on loopback -----------------------------------------------------
class FunctionServer:
    """POST /ok -> 200 echo, /busy -> 503, /missing -> 404, /slow -> 1 s; records requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        outer = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((self.path, dict(self.headers.items()), body))
                if self.path == "/slow":
                    time.sleep(1.0)
                status, reply = {
                    "/ok": (200, {"echo": body, "by": "http"}),
                    "/busy": (503, {"type": "Overloaded", "message": "try later"}),
                    "/missing": (404, {"message": "no such customer"}),
                }.get(self.path, (500, {}))
                self.reply(status, reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def function_server() -> Iterator[FunctionServer]:
    server = FunctionServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


# -- tests -------------------------------------------------------------------------------------
async def test_in_process_function(
    settings: Settings, redis: Redis, topics: Topics, results_reader: TopicReader
) -> None:
    registry = FunctionRegistry()

    @function("double", registry=registry)
    async def double(input: dict[str, int], ctx: FunctionContext) -> dict[str, int]:
        return {"value": input["value"] * 2}

    @function("refuse", registry=registry)
    def refuse(input: Any, ctx: FunctionContext) -> None:
        raise FatalError("refused")

    ok, bad = make_command("double", {"value": 21}), make_command("refuse")
    dispatcher = Dispatcher(settings, redis, registry=registry)
    async with running(dispatcher):
        await publish(settings, topics.step_commands, encode(ok), encode(bad))
        values = await results_reader.wait_for(have_all(ok, bad))
    found = results_for(values, ok, bad)
    assert found[ok.command_id][0].ok
    assert found[ok.command_id][0].output == {"value": 42}
    assert found[ok.command_id][0].execution_id == ok.execution_id
    error = found[bad.command_id][0].error
    assert error is not None and (error.type, error.retryable) == ("FatalError", False)
    assert dispatcher.counts["in_process"] == 2


async def test_http_functions(
    settings: Settings,
    redis: Redis,
    topics: Topics,
    results_reader: TopicReader,
    function_server: FunctionServer,
) -> None:
    store = StateStore(redis, Keys(settings.key_prefix))
    url = function_server.url
    await store.declare_function(
        "httpOk", {"url": f"{url}/ok", "timeoutMs": 5000, "headers": {"X-Api-Key": "secret"}}
    )
    await store.declare_function("httpBusy", {"url": f"{url}/busy"})
    await store.declare_function("httpMissing", {"url": f"{url}/missing"})
    ok = make_command("httpOk", {"customer": "ada"})
    busy, missing = make_command("httpBusy", [1]), make_command("httpMissing", "x")

    async with running(Dispatcher(settings, redis, registry=FunctionRegistry())):
        await publish(settings, topics.step_commands, encode(ok), encode(busy), encode(missing))
        values = await results_reader.wait_for(have_all(ok, busy, missing))
    found = results_for(values, ok, busy, missing)

    assert found[ok.command_id][0].ok
    assert found[ok.command_id][0].output == {"echo": {"customer": "ada"}, "by": "http"}
    busy_error = found[busy.command_id][0].error
    assert busy_error is not None
    assert (busy_error.type, busy_error.retryable) == ("Overloaded", True)
    assert busy_error.details == {"status": 503}
    missing_error = found[missing.command_id][0].error
    assert missing_error is not None and missing_error.retryable is False
    assert missing_error.message == "no such customer"

    _, headers, body = next(r for r in function_server.requests if r[0] == "/ok")
    assert body == {"customer": "ada"}
    assert headers["Idempotency-Key"] == ok.idempotency_key
    assert headers["X-Workflows-Execution-Id"] == ok.execution_id
    assert headers["X-Workflows-Step-Id"] == "s1"
    assert headers["X-Workflows-Attempt"] == "1"
    assert headers["X-Api-Key"] == "secret"


async def test_http_function_timeout_and_connection_refused_are_retryable(
    settings: Settings,
    redis: Redis,
    topics: Topics,
    results_reader: TopicReader,
    function_server: FunctionServer,
) -> None:
    store = StateStore(redis, Keys(settings.key_prefix))
    closed = FunctionServer()  # bound but never serving: take its port, then close it
    port = closed.server.server_address[1]
    closed.server.server_close()
    dispatcher = Dispatcher(settings, redis)
    async with running(dispatcher):
        # declared after the dispatcher started: found on the first use all the same
        await store.declare_function("httpDown", {"url": f"http://127.0.0.1:{port}/x"})
        await store.declare_function(
            "httpSlow", {"url": f"{function_server.url}/slow", "timeoutMs": 200}
        )
        down, slow = make_command("httpDown", {}), make_command("httpSlow", {})
        await publish(settings, topics.step_commands, encode(down), encode(slow))
        values = await results_reader.wait_for(have_all(down, slow))
    found = results_for(values, down, slow)
    down_error, slow_error = found[down.command_id][0].error, found[slow.command_id][0].error
    assert down_error is not None and slow_error is not None
    assert (down_error.type, down_error.retryable) == ("HttpConnectionError", True)
    assert (slow_error.type, slow_error.retryable) == ("HttpTimeout", True)
    assert dispatcher.counts["http"] == 2 and dispatcher.counts["forwarded"] == 0


async def test_forwarded_command_is_answered_by_worker(
    settings: Settings, redis: Redis, topics: Topics, results_reader: TopicReader
) -> None:
    worker_registry = FunctionRegistry()

    @function("billing.charge", registry=worker_registry)
    def charge(input: dict[str, int], ctx: FunctionContext) -> dict[str, Any]:
        return {"charged": input["amount"], "attempt": ctx.attempt}

    command = make_command("billing.charge", {"amount": 5})
    fn_topic = topics.function("billing.charge")
    async with (
        running(Dispatcher(settings, redis)),
        running(Worker(settings, registry=worker_registry)),
    ):
        await publish(settings, topics.step_commands, encode(command))
        values = await results_reader.wait_for(have_all(command))
    result = results_for(values, command)[command.command_id][0]
    assert result.ok and result.output == {"charged": 5, "attempt": 1}
    assert result.worker_id is not None and result.worker_id.startswith("worker-")

    forwarded = TopicReader(settings, fn_topic)
    await forwarded.consumer.start()
    try:
        (raw,) = await forwarded.wait_for(lambda v: len(v) >= 1)
    finally:
        await forwarded.consumer.stop()
    assert raw == encode(command)  # forwarded unchanged


async def test_duplicate_command_runs_once_in_dispatcher_and_worker(
    settings: Settings, redis: Redis, topics: Topics, results_reader: TopicReader
) -> None:
    settings = settings.model_copy(update={"results_ttl_s": 120})  # kept 2 min, not 24 h
    calls: list[str] = []
    registry = FunctionRegistry()

    @function("once", registry=registry)
    async def once(input: Any, ctx: FunctionContext) -> dict[str, str]:
        calls.append(ctx.command_id)
        await asyncio.sleep(0.05)
        return {"n": str(len(calls))}

    in_process = make_command("once", {})
    async with running(Dispatcher(settings, redis, registry=registry)):
        await publish(settings, topics.step_commands, encode(in_process), encode(in_process))
        await results_reader.wait_for(have_all(in_process, each=2))
        # a later delivery, in another batch, is answered from Redis too
        await publish(settings, topics.step_commands, encode(in_process))
        values = await results_reader.wait_for(have_all(in_process, each=3))
    outputs = [r.output for r in results_for(values, in_process)[in_process.command_id]]
    assert outputs == [{"n": "1"}] * 3
    assert calls == [in_process.command_id]

    direct = make_command("once", {})
    data = encode(direct)
    async with running(Worker(settings, redis, registry=registry)):
        await publish(settings, topics.function("once"), data, data)
        values = await results_reader.wait_for(have_all(direct, each=2))
    assert calls == [in_process.command_id, direct.command_id]
    for stored in (in_process, direct):  # both keep it `WORKFLOWS_RESULTS_TTL_S`
        assert 0 < await redis.ttl(f"{settings.key_prefix}:done:{stored.idempotency_key}") <= 120


async def test_malformed_command_goes_to_dlq_and_consumer_continues(
    settings: Settings, redis: Redis, topics: Topics, results_reader: TopicReader
) -> None:
    registry = FunctionRegistry()

    @function("echo", registry=registry)
    async def echo(input: Any, ctx: FunctionContext) -> Any:
        return input

    good = make_command("echo", {"a": 1})
    bad_shape = json.dumps({"executionId": "e-bad", "function": "echo"}).encode()
    dlq = TopicReader(settings, topics.dlq)
    await dlq.consumer.start()
    try:
        async with running(Dispatcher(settings, redis, registry=registry)):
            await publish(settings, topics.step_commands, b"{not json", bad_shape, encode(good))
            values = await results_reader.wait_for(have_all(good))
            letters = await dlq.wait_for(lambda v: len(v) >= 2)
    finally:
        await dlq.consumer.stop()
    assert results_for(values, good)[good.command_id][0].output == {"a": 1}
    decoded = [decode(DeadLetter, v) for v in letters]
    by_type = {d.error_type: d for d in decoded}
    assert by_type["invalid_json"].reason.startswith("invalid JSON")
    assert by_type["invalid_json"].original_text == "{not json"
    assert by_type["invalid_json"].source_topic == topics.step_commands
    assert by_type["invalid_json"].service == "dispatcher"
    assert "commandId" in by_type["validation"].reason
    assert by_type["validation"].execution_id == "e-bad"


async def test_a_duplicate_gets_the_stored_result_through_the_nx_conflict_on_redis(
    settings: Settings, redis: Redis
) -> None:
    """Two processes' caches: the second runs a fresh duplicate (no read first), loses the
    SET NX and returns the stored result; concurrent writes share one pipeline with its WAIT
    (no replica here: WAIT answers 0 after its timeout, and the write still counts)."""
    first = ResultsCache(redis, settings.key_prefix)
    second = ResultsCache(redis, settings.key_prefix, wait_replicas=1, wait_timeout_ms=10)
    original = make_command("f", {"n": 1}, key=f"k-{uuid.uuid4().hex[:8]}")

    async def result(command: StepCommand, output: Any) -> StepResult:
        return step_result(command, datetime.now(UTC), "w", output=output)

    stored = await first.run_once(original, lambda: result(original, "first"), fresh=True)
    assert stored.output == "first"
    duplicate = make_command("f", {"n": 2}, key=original.idempotency_key)
    replay = await second.run_once(duplicate, lambda: result(duplicate, "second"), fresh=True)
    assert replay.output == "first" and replay.command_id == duplicate.command_id
    assert second.conflicts == 1 and second.replayed == 1

    batch = [make_command("f", {"n": n}) for n in range(10)]
    outputs = await asyncio.gather(
        *(second.run_once(c, partial(result, c, c.input["n"]), fresh=True) for c in batch)
    )
    assert [r.output for r in outputs] == list(range(10))
    assert (second._writes.pipelines, second._writes.writes) == (2, 11)
    for command in batch:
        raw = await redis.get(second.key(command.idempotency_key))
        assert isinstance(raw, bytes) and decode(StepResult, raw).output == command.input["n"]


def start_child(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(
            [sys.executable, "-c", CHILD], env=env, stdout=log_file, stderr=subprocess.STDOUT
        )


def kill(child: subprocess.Popen[bytes]) -> None:
    child.kill()
    child.wait(10)


CHILD = """
import asyncio
from workflows.services.dispatcher import Dispatcher
from workflows.services.infra.redis_client import connect_redis
from workflows.services.infra.settings import Settings
from workflows.functions import FunctionRegistry, function

async def main() -> None:
    settings = Settings()
    redis = connect_redis(settings)
    registry = FunctionRegistry()

    @function("counted", registry=registry)
    async def counted(value, ctx):
        await redis.incr(f"{settings.key_prefix}:runs:{ctx.idempotency_key}")
        return {"value": value}

    await Dispatcher(settings, redis, registry=registry).run()

asyncio.run(main())
"""


@pytest.mark.timeout(180)
async def test_a_dispatcher_killed_between_run_and_commit_loses_nothing_and_runs_once(
    settings: Settings,
    redis: Redis,
    topics: Topics,
    results_reader: TopicReader,
    tmp_path: Path,
) -> None:
    """Commits are off the fetch path and late (here: never before the kill), so the command
    comes back to the next dispatcher, which answers it from the results cache."""
    settings = settings.model_copy(update={"session_timeout_ms": 6000})
    env = {
        **os.environ,
        "WORKFLOWS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "WORKFLOWS_REDIS_URL": settings.redis_url,
        "WORKFLOWS_TOPIC_PREFIX": settings.topic_prefix,
        "WORKFLOWS_KEY_PREFIX": settings.key_prefix,
        "WORKFLOWS_PARTITIONS": str(settings.partitions),
        "WORKFLOWS_SESSION_TIMEOUT_MS": "6000",
        "WORKFLOWS_COMMIT_INTERVAL_MS": "600000",
        "PYTHONPATH": str(ROOT),
    }
    command = make_command("counted", 7)
    child = start_child(env, tmp_path / "dispatcher.log")
    try:
        await publish(settings, topics.step_commands, encode(command))
        await results_reader.wait_for(have_all(command), within_s=60)
    finally:
        kill(child)  # between the run (result published, cached) and the commit
    runs_key = f"{settings.key_prefix}:runs:{command.idempotency_key}"
    assert await redis.get(runs_key) == b"1"

    registry = FunctionRegistry()

    @function("counted", registry=registry)
    async def counted(value: Any, ctx: FunctionContext) -> dict[str, Any]:
        await redis.incr(runs_key)
        return {"value": value}

    async with running(Dispatcher(settings, redis, registry=registry)):
        values = await results_reader.wait_for(have_all(command, each=2), within_s=60)
    first, again = results_for(values, command)[command.command_id][:2]
    assert first.output == again.output == {"value": 7}
    assert await redis.get(runs_key) == b"1"  # the redelivery did not run the function

    group = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"{settings.topic_prefix}wf-dispatcher",
        enable_auto_commit=False,
    )
    await group.start()
    try:
        committed = [
            await group.committed(TopicPartition(topics.step_commands, p))
            for p in range(settings.partitions)
        ]
    finally:
        await group.stop()
    assert sum(c or 0 for c in committed) == 1  # committed on stop, after the replay
