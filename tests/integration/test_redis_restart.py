"""Redis restarts under a running dispatcher, worker and notifier: they keep running and the
commands that arrived while Redis was away are run once it is back."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.integration.test_dispatcher import TopicReader, have_all, make_command, publish
from workflows.contracts import LifecycleEvent, Topics, encode
from workflows.functions import FunctionRegistry, function
from workflows.services.dispatcher import Dispatcher
from workflows.services.infra.kafka import ensure_topics
from workflows.services.infra.settings import Settings
from workflows.services.notifier import Notifier
from workflows.services.worker import Worker
from workflows.testing.embedded import free_port, wait_for_port

pytestmark = pytest.mark.integration
WAIT_S = 30.0


class RestartableRedis:
    """A redis-server with an append-only file on a fixed port, killed and started again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port)]
        argv += ["--dir", str(self.folder), "--save", "", "--appendonly", "yes"]
        argv += ["--appendfsync", "always"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, proc=self.proc)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None


@contextmanager
def restartable_redis(folder: Path) -> Iterator[RestartableRedis]:
    server = RestartableRedis(folder)
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None:
            server.proc.terminate()
            server.proc.wait(10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RestartableRedis]:
    with restartable_redis(tmp_path) as found:
        yield found


@pytest.fixture
async def own_redis(server: RestartableRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(server.url)
    yield client
    await client.aclose()


async def fetched(service: Dispatcher, topic: str, at_least: int) -> None:
    """Poll until the dispatcher's consumer has fetched `at_least` records of `topic`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        samples = service.metrics.engine.registry.get_sample_value(
            "workflows_messages_processed_total",
            {"service": "dispatcher", "topic": topic},
        )
        if (samples or 0) >= at_least:
            return
        if loop.time() > deadline:
            raise AssertionError(f"the dispatcher fetched {samples} < {at_least} records")
        await asyncio.sleep(0.02)


async def told(notifier: Notifier, at_least: int) -> None:
    """Poll until the notifier has notified `at_least` events (its log channel)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    labels = {"channel": "log", "outcome": "delivered"}
    while True:
        count = notifier.metrics.engine.registry.get_sample_value(
            "workflows_notifications_total", labels
        )
        if (count or 0) >= at_least:
            return
        if loop.time() > deadline:
            raise AssertionError(f"the notifier notified {count} < {at_least} events")
        await asyncio.sleep(0.02)


async def test_dispatcher_worker_and_notifier_keep_running_through_a_redis_restart(
    settings: Settings, server: RestartableRedis, own_redis: Redis
) -> None:
    settings = settings.model_copy(update={"redis_url": server.url})
    topics = Topics.with_prefix(settings.topic_prefix)
    await ensure_topics(settings, topics.fixed().values())
    registry, remote = FunctionRegistry(), FunctionRegistry()

    @function("here", registry=registry)
    async def here(value: Any) -> Any:
        return value

    @function("there", registry=remote)
    async def there(value: Any) -> Any:
        return value

    dispatcher = Dispatcher(settings, own_redis, registry=registry)
    worker = Worker(settings, own_redis, registry=remote)
    notifier = Notifier(settings, own_redis)
    reader = TopicReader(settings, topics.step_results)
    await reader.consumer.start()
    tasks = [asyncio.create_task(s.run()) for s in (dispatcher, worker, notifier)]
    try:
        before = [make_command("here", 1), make_command("there", 2)]
        await publish(settings, topics.step_commands, *(encode(c) for c in before))
        await reader.wait_for(have_all(*before))

        server.kill()
        during = [make_command("here", i) for i in range(5)]
        during += [make_command("there", i) for i in range(5)]
        await publish(settings, topics.step_commands, *(encode(c) for c in during))
        completed = LifecycleEvent(
            execution_id="e-notified", type="execution.completed", workflow="w", workflow_version=1
        )
        await publish(settings, topics.events, encode(completed))
        await fetched(dispatcher, topics.step_commands, len(before) + len(during))
        assert not any(t.done() for t in tasks), "a service exited while Redis was down"

        server.start()
        back = asyncio.get_running_loop().time()
        await reader.wait_for(have_all(*during))
        took = asyncio.get_running_loop().time() - back
        print(f"commands held up by the outage ran {took:.2f} s after Redis was back")
        await told(notifier, 1)
        assert not any(t.done() for t in tasks)
    finally:
        for service in (dispatcher, worker, notifier):
            service.stop()
        done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        await reader.consumer.stop()
    assert all(r is None for r in done), done
