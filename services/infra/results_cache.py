"""Run a step command at most once per idempotency key: results are remembered in Redis.

`{p}:done:<idempotency key>` holds the encoded StepResult (SET NX, `results_ttl_s`: 24 h). A command
delivered again gets the stored result instead of a second run. Only results worth
replaying are stored: successes and non-retryable failures. A retryable failure is not,
so that the next attempt (which may share the key) really runs again.

One Redis round trip per command, shared by the commands that finish together:

- A *fresh* command (the consumer fetched it for the first time, after it took the
  partition, and it is not being retried: see `ConcurrentConsumer.fresh`) cannot have a
  stored result unless the same key was already seen, so it runs without a GET first. Its
  result is written with SET NX; the writes of every command finishing meanwhile go in one
  pipeline (`_Writes`, with the WAIT for `wait_replicas` at its end). When the NX fails
  (another delivery stored a result first), the stored result is read and published instead.
- Every other command (possibly delivered before: a redelivery after a crash or a
  rebalance, a retry) and any key this process has already stored or seen stored
  (`_seen`, bounded) reads the stored result first and runs only without one, as before.
- Concurrent duplicates within the process wait for the first one (a per-key lock).

Callers pass a `run` that already applied the claim check (`workflows.services.infra.payloads`): a
large output is stored here as its reference, so a replay publishes the same small result.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from workflows.contracts import ContractError, StepCommand, StepResult, decode, encode
from workflows.contracts.base import new_message_id
from workflows.services.infra.keys import IDEMPOTENCY_TTL_S, Keys
from workflows.services.infra.redis_client import RedisClient, queue_wait

__all__ = ["ResultsCache"]

log = structlog.get_logger(__name__)
SEEN_KEYS = 50_000  # idempotency keys remembered as stored (~150 B each)
MAX_WRITES_PER_PIPELINE = 256


class ResultsCache:
    def __init__(
        self,
        redis: RedisClient,
        key_prefix: str,
        ttl_s: int = IDEMPOTENCY_TTL_S,
        *,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 100,
        seen_keys: int = SEEN_KEYS,
        failover_s: float = 10.0,
    ) -> None:
        self.redis = redis
        self.key_prefix = key_prefix
        self.ttl_s = ttl_s
        self.wait_replicas = wait_replicas  # WAIT after a put (see workflows.services.infra.store)
        self.wait_timeout_ms = wait_timeout_ms
        self._locks: dict[str, _KeyLock] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_max = seen_keys
        self.failover_s = failover_s  # a write whose pipeline failed is retried so long
        self._writes = _Writes(self)
        self.replayed = 0
        self.conflicts = 0  # SET NX refused: another delivery stored its result first

    def key(self, idempotency_key: str) -> str:
        return Keys(self.key_prefix).step_result(idempotency_key)

    async def get(self, command: StepCommand) -> StepResult | None:
        """The stored result for the command's key, addressed to this command."""
        raw = await self.redis.get(self.key(command.idempotency_key))
        if raw is None:
            return None
        data = raw.encode() if isinstance(raw, str) else raw
        try:
            stored = decode(StepResult, data)
        except ContractError as exc:  # an unreadable entry is as good as none
            log.warning("stored_result_unreadable", key=command.idempotency_key, reason=exc.reason)
            return None
        return _for_command(stored, command)

    async def put(self, command: StepCommand, result: StepResult) -> StepResult:
        """Store `result` unless one is stored already; return the one that counts."""
        if not _worth_storing(result):
            return result
        stored = await self._writes.set_nx(self.key(command.idempotency_key), encode(result))
        self._remember(command.idempotency_key)
        if stored:
            return result
        self.conflicts += 1
        earlier = await self.get(command)
        return earlier if earlier is not None else result

    async def run_once(
        self,
        command: StepCommand,
        run: Callable[[], Awaitable[StepResult]],
        *,
        fresh: bool = False,
    ) -> StepResult:
        """`run()` unless a result for this key exists; concurrent duplicates wait for the first.

        `fresh`: the command was not delivered before (see the module docstring), so its
        key is not read before the run unless this process has seen it stored.
        """
        key = command.idempotency_key
        lock = self._locks.setdefault(key, _KeyLock())
        lock.users += 1
        try:
            async with lock:
                if not fresh or key in self._seen:  # maybe stored already: look first
                    earlier = await self.get(command)
                    if earlier is not None:
                        return self._replayed(command, earlier)
                    return await self.put(command, await run())
                result = await run()
                if not _worth_storing(result):  # a result stored meanwhile still counts
                    return await self._stored_or(command, result)
                final = await self.put(command, result)  # the NX write: the one round trip
                if final is not result:
                    self.replayed += 1
                    _log_replayed(command, "stored_first")
                return final
        finally:
            lock.users -= 1
            if lock.users == 0:
                self._locks.pop(key, None)

    async def _stored_or(self, command: StepCommand, result: StepResult) -> StepResult:
        """The stored result for `command`'s key, else `result` (a retryable failure).

        Best effort: when Redis cannot answer (a failover), the failure is published as it
        is, since it only schedules another attempt; raising would make the redelivered
        command run the function again."""
        try:
            earlier = await self.get(command)
        except Exception as exc:
            log.warning("results_lookup_failed", key=command.idempotency_key, error=str(exc))
            return result
        return self._replayed(command, earlier) if earlier is not None else result

    def _replayed(self, command: StepCommand, earlier: StepResult) -> StepResult:
        self.replayed += 1
        self._remember(command.idempotency_key)
        _log_replayed(command, "stored")
        return earlier

    def _remember(self, idempotency_key: str) -> None:
        seen = self._seen
        seen[idempotency_key] = None
        seen.move_to_end(idempotency_key)
        if len(seen) > self._seen_max:
            seen.popitem(last=False)


class _Writes:
    """SET NX writes coalesced: one pipeline for every write queued while the previous one ran.

    The first write of a quiet moment starts a flush on the next loop iteration, so the
    commands finishing in the same iteration share it; later writes wait for the pipeline in
    flight and go together in the next one (at most `MAX_WRITES_PER_PIPELINE` each).
    """

    def __init__(self, cache: ResultsCache) -> None:
        self.cache = cache
        self._queue: list[tuple[str, bytes, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.pipelines = 0
        self.writes = 0
        self.fallbacks = 0  # writes retried on their own after their pipeline failed

    async def set_nx(self, key: str, value: bytes) -> bool:
        """True when `value` was stored, False when the key already held a result."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((key, value, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())
        return await future

    async def _flush_all(self) -> None:
        while self._queue:
            batch = self._queue[:MAX_WRITES_PER_PIPELINE]
            del self._queue[:MAX_WRITES_PER_PIPELINE]
            try:
                replies = await self._execute(batch)
            except asyncio.CancelledError:
                for *_, future in [*batch, *self._queue]:
                    future.cancel()
                self._queue.clear()
                raise
            except Exception as exc:  # e.g. a master killed: each write on its own instead
                log.warning("results_pipeline_failed", writes=len(batch), error=str(exc))
                self.fallbacks += len(batch)
                await asyncio.gather(*(self._alone(*write) for write in batch))
                continue
            for write, reply in zip(batch, replies, strict=True):
                if write[2].done():  # its caller was cancelled meanwhile
                    continue
                if isinstance(reply, Exception):  # e.g. MOVED while a slot fails over
                    self.fallbacks += 1
                    await self._alone(*write)
                else:
                    write[2].set_result(bool(reply))

    async def _alone(self, key: str, value: bytes, future: asyncio.Future[bool]) -> None:
        """One write in its own pipeline, with the client's own retries through a failover.

        A failed pipeline must not fail every command in it: a command whose result is not
        stored runs again when redelivered, so each write gets its own chance. SET NX is safe
        to repeat: when an earlier try of this write did land, NX refuses it and the caller
        reads the stored result (its own)."""
        deadline = time.monotonic() + self.cache.failover_s
        delay = 0.05
        while not future.done():
            try:
                replies = await self._execute([(key, value, future)])
                break
            except Exception as exc:  # retried for `failover_s`: the function already ran
                if time.monotonic() + delay > deadline:
                    if not future.done():
                        future.set_exception(exc)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
        if future.done():
            return
        if isinstance(replies[0], Exception):
            future.set_exception(replies[0])
        else:
            future.set_result(bool(replies[0]))

    async def _execute(self, batch: list[tuple[str, bytes, asyncio.Future[bool]]]) -> list[Any]:
        cache = self.cache
        keys = [key for key, _, _ in batch]
        async with cache.redis.pipeline(transaction=False) as pipe:
            for key, value, _ in batch:
                pipe.set(key, value, nx=True, ex=cache.ttl_s)
            await queue_wait(cache.redis, pipe, keys, cache.wait_replicas, cache.wait_timeout_ms)
            replies = await pipe.execute(raise_on_error=False)
        self.pipelines += 1
        self.writes += len(batch)
        stored, acks = replies[: len(batch)], replies[len(batch) :]
        for ack in acks:
            if isinstance(ack, Exception):
                raise ack
        if any(int(a) < cache.wait_replicas for a in acks):
            wanted = cache.wait_replicas
            log.warning("redis_wait_short", write="result", wanted=wanted, acked=acks)
        return list(stored)


def _log_replayed(command: StepCommand, how: str) -> None:
    log.info(
        "step_result_replayed",
        execution_id=command.execution_id,
        step_id=command.step_id,
        idempotency_key=command.idempotency_key,
        found=how,
    )


class _KeyLock:
    """An asyncio lock that counts its users, so idle ones can be forgotten."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self.users = 0

    async def __aenter__(self) -> None:
        await self._lock.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._lock.release()


def _worth_storing(result: StepResult) -> bool:
    return result.ok or (result.error is not None and not result.error.retryable)


def _for_command(result: StepResult, command: StepCommand) -> StepResult:
    """The same result, re-addressed when a later attempt of the step asked for it."""
    if result.command_id == command.command_id:
        return result
    return result.model_copy(
        update={
            "execution_id": command.execution_id,
            "command_id": command.command_id,
            "attempt": command.attempt,
            "step_id": command.step_id,
            "message_id": new_message_id(),
        }
    )
