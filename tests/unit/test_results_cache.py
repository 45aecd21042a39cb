"""The results cache's one round trip per command: run, then SET NX, coalesced per batch.

A small in-memory stand-in for redis-py (GET, and pipelines of SET NX) counts the round
trips; `tests/integration/test_dispatcher.py` runs the same paths against a real Redis.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

import pytest

from workflows.contracts import StepCommand, StepError, StepResult, command_id, decode, encode
from workflows.functions import step_result
from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.results_cache import ResultsCache


class FakeRedis:
    """GET and non-transactional pipelines of SET NX EX over a dict; counts round trips."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.gets = 0
        self.pipelines: list[int] = []  # writes per pipeline, in order
        self.fail_next: Exception | None = None
        self.gate: asyncio.Event | None = None  # when set, pipelines wait for it

    async def get(self, key: str) -> bytes | None:
        self.gets += 1
        await asyncio.sleep(0)
        return self.data.get(key)

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        assert transaction is False
        return FakePipeline(self)


class FakePipeline:
    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.writes: list[tuple[str, bytes]] = []

    async def __aenter__(self) -> FakePipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def set(self, key: str, value: bytes, *, nx: bool, ex: int) -> None:
        assert nx and ex > 0
        self.writes.append((key, value))

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        redis = self.redis
        if redis.gate is not None:
            await redis.gate.wait()
        await asyncio.sleep(0)
        redis.pipelines.append(len(self.writes))
        if redis.fail_next is not None:
            error, redis.fail_next = redis.fail_next, None
            raise error
        replies: list[Any] = []
        for key, value in self.writes:
            replies.append(True if key not in redis.data else None)
            redis.data.setdefault(key, value)
        return replies


def make_command(n: int, key: str | None = None) -> StepCommand:
    eid = f"e-{n}"
    cid = command_id(eid, "s1", 1)
    return StepCommand(
        execution_id=eid,
        command_id=cid,
        workflow="wf",
        workflow_version=1,
        step_id="s1",
        function="f",
        input={"n": n},
        attempt=1,
        idempotency_key=key or cid,
    )


def ok(command: StepCommand, output: Any) -> StepResult:
    return step_result(command, datetime.now(UTC), "w", output=output)


def cache_on(redis: FakeRedis, **options: Any) -> ResultsCache:
    return ResultsCache(cast(RedisClient, redis), "wf", **options)


async def test_fresh_commands_run_without_a_get_and_share_one_pipeline() -> None:
    redis = FakeRedis()
    cache = cache_on(redis)
    commands = [make_command(n) for n in range(20)]
    ran: list[int] = []

    async def run(command: StepCommand) -> StepResult:
        ran.append(command.input["n"])
        return ok(command, command.input["n"] * 2)

    results = await asyncio.gather(
        *(cache.run_once(c, partial(run, c), fresh=True) for c in commands)
    )
    assert [r.output for r in results] == [n * 2 for n in range(20)]
    assert sorted(ran) == list(range(20))
    assert redis.gets == 0  # nothing read before the runs
    assert redis.pipelines == [20]  # all SET NX in one round trip
    stored = decode(StepResult, redis.data[cache.key(commands[3].idempotency_key)])
    assert stored.output == 6


async def test_writes_queued_while_a_pipeline_runs_go_together_in_the_next() -> None:
    redis = FakeRedis()
    redis.gate = asyncio.Event()
    cache = cache_on(redis)
    first = asyncio.create_task(
        cache.run_once(make_command(0), lambda: _ok(make_command(0), 0), fresh=True)
    )
    for _ in range(5):  # the first write's pipeline is on its way (held at the gate)
        await asyncio.sleep(0)
    assert cache._writes._flusher is not None and not cache._writes._queue
    later = [make_command(n) for n in range(1, 6)]
    rest = [asyncio.create_task(cache.run_once(c, partial(_ok, c, 1), fresh=True)) for c in later]
    for _ in range(5):
        await asyncio.sleep(0)
    redis.gate.set()
    await asyncio.gather(first, *rest)
    assert redis.pipelines == [1, 5]


async def _ok(command: StepCommand, output: Any) -> StepResult:
    return ok(command, output)


async def test_a_duplicate_gets_the_stored_result_through_the_nx_conflict() -> None:
    """Another process stored a result for the key first: the fresh command's own run loses
    the SET NX, and the stored result (re-addressed to this command) is what counts."""
    redis = FakeRedis()
    first_process, second_process = cache_on(redis), cache_on(redis)
    original = make_command(1, key="shared-key")
    stored = await first_process.run_once(original, lambda: _ok(original, "first"), fresh=True)
    assert stored.output == "first"

    again = make_command(2, key="shared-key")  # e.g. a later attempt sharing the key
    result = await second_process.run_once(again, lambda: _ok(again, "second"), fresh=True)
    assert result.output == "first"
    assert (result.command_id, result.execution_id) == (again.command_id, again.execution_id)
    assert second_process.conflicts == 1 and second_process.replayed == 1
    assert redis.gets == 1  # read only because the NX failed
    assert decode(StepResult, redis.data[first_process.key("shared-key")]).output == "first"


async def test_a_key_seen_stored_is_read_first_and_not_run_again() -> None:
    redis = FakeRedis()
    cache = cache_on(redis)
    command = make_command(1)
    runs: list[str] = []

    async def run() -> StepResult:
        runs.append("run")
        return ok(command, len(runs))

    first, second = await asyncio.gather(
        cache.run_once(command, run, fresh=True), cache.run_once(command, run, fresh=True)
    )
    third = await cache.run_once(command, run, fresh=True)
    assert runs == ["run"]
    assert first.output == second.output == third.output == 1
    assert cache.replayed == 2


async def test_a_command_that_may_have_been_delivered_before_is_read_first() -> None:
    redis = FakeRedis()
    command = make_command(1)
    redis.data[cache_on(redis).key(command.idempotency_key)] = encode(ok(command, "stored"))
    cache = cache_on(redis)

    async def run() -> StepResult:
        raise AssertionError("must not run: a result is stored")

    assert (await cache.run_once(command, run)).output == "stored"  # fresh=False
    assert redis.pipelines == []


async def test_a_retryable_failure_is_not_stored_but_a_stored_result_still_counts() -> None:
    redis = FakeRedis()
    cache = cache_on(redis)
    command = make_command(1)
    error = StepError(type="Busy", message="later", retryable=True)
    failed = step_result(command, datetime.now(UTC), "w", error=error)

    async def fail() -> StepResult:
        return failed

    assert await cache.run_once(command, fail, fresh=True) is failed
    assert redis.pipelines == [] and redis.data == {}

    other = make_command(2, key=command.idempotency_key)
    redis.data[cache.key(command.idempotency_key)] = encode(ok(command, "done meanwhile"))
    replay = await cache_on(redis).run_once(other, fail, fresh=True)
    assert replay.ok and replay.output == "done meanwhile"


async def test_a_failed_pipeline_retries_each_write_on_its_own() -> None:
    """A master killed under a pipeline must not fail every command in it: each failed
    command would run its function again when redelivered (the Redis Cluster failover test
    saw that). Each write goes again alone; one that still fails fails only its command."""
    redis = FakeRedis()
    redis.fail_next = ConnectionError("Redis went away")
    cache = cache_on(redis)
    commands = [make_command(n) for n in range(3)]
    results = await asyncio.gather(
        *(cache.run_once(c, partial(_ok, c, 1), fresh=True) for c in commands)
    )
    assert [r.output for r in results] == [1, 1, 1]
    assert redis.pipelines == [3, 1, 1, 1]
    assert cache._writes.fallbacks == 3
    assert sorted(redis.data) == sorted(cache.key(c.idempotency_key) for c in commands)


async def test_a_write_that_fails_alone_too_fails_only_its_command() -> None:
    redis = FakeRedis()
    cache = cache_on(redis, failover_s=0.2)
    real_execute = FakePipeline.execute
    doomed = cache.key(make_command(1).idempotency_key)

    async def execute(self: FakePipeline, raise_on_error: bool = True) -> list[Any]:
        if any(key == doomed for key, _ in self.writes):
            raise ConnectionError("this key's master is gone")
        return await real_execute(self, raise_on_error)

    FakePipeline.execute = execute  # type: ignore[method-assign]
    try:
        commands = [make_command(n) for n in range(3)]
        outcomes = await asyncio.gather(
            *(cache.run_once(c, partial(_ok, c, 1), fresh=True) for c in commands),
            return_exceptions=True,
        )
    finally:
        FakePipeline.execute = real_execute  # type: ignore[method-assign]
    assert isinstance(outcomes[1], ConnectionError)
    assert [o.output for o in (outcomes[0], outcomes[2])] == [1, 1]  # type: ignore[union-attr]
    assert doomed not in redis.data and len(redis.data) == 2


async def test_a_write_alone_is_retried_through_a_failover() -> None:
    """The function already ran: its write is retried (for `failover_s`) until a promoted
    replica takes it, so the redelivered command does not run the function again."""
    redis = FakeRedis()
    cache = cache_on(redis)
    failures = iter([ConnectionError("closed"), ConnectionError("refused"), None, None])
    real_execute = FakePipeline.execute

    async def execute(self: FakePipeline, raise_on_error: bool = True) -> list[Any]:
        error = next(failures)
        if error is not None:
            raise error
        return await real_execute(self, raise_on_error)

    FakePipeline.execute = execute  # type: ignore[method-assign]
    try:
        command = make_command(1)
        result = await cache.run_once(command, partial(_ok, command, 1), fresh=True)
    finally:
        FakePipeline.execute = real_execute  # type: ignore[method-assign]
    assert result.output == 1
    assert cache.key(command.idempotency_key) in redis.data


async def test_a_retryable_failure_is_published_when_the_lookup_after_it_fails() -> None:
    redis = FakeRedis()
    cache = cache_on(redis)
    command = make_command(1)
    error = StepError(type="Busy", message="later", retryable=True)
    failed = step_result(command, datetime.now(UTC), "w", error=error)

    async def get(key: str) -> bytes | None:
        raise ConnectionError("failing over")

    async def fail() -> StepResult:
        return failed

    redis.get = get  # type: ignore[method-assign]
    assert await cache.run_once(command, fail, fresh=True) is failed


async def test_a_cancelled_waiter_does_not_disturb_the_others() -> None:
    redis = FakeRedis()
    redis.gate = asyncio.Event()
    cache = cache_on(redis)
    a, b = make_command(1), make_command(2)
    task_a = asyncio.create_task(cache.run_once(a, lambda: _ok(a, "a"), fresh=True))
    task_b = asyncio.create_task(cache.run_once(b, lambda: _ok(b, "b"), fresh=True))
    for _ in range(5):
        await asyncio.sleep(0)
    task_a.cancel()
    redis.gate.set()
    assert (await task_b).output == "b"
    with pytest.raises(asyncio.CancelledError):
        await task_a
    assert redis.pipelines == [2]  # a's write went out all the same (harmless: NX)
