"""Run a step command at most once per idempotency key: results are remembered in Redis.

`{p}:done:<idempotency key>` holds the encoded StepResult (SET NX, 24 h). A command
delivered again gets the stored result instead of a second run. Only results worth
replaying are stored: successes and non-retryable failures. A retryable failure is not,
so that the next attempt (which may share the key) really runs again.

Callers pass a `run` that already applied the claim check (`services.infra.payloads`): a
large output is stored here as its reference, so a replay publishes the same small result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from contracts import ContractError, StepCommand, StepResult, decode, encode
from contracts.base import new_message_id
from services.infra.keys import IDEMPOTENCY_TTL_S
from services.infra.redis_client import RedisClient, queue_wait

__all__ = ["ResultsCache"]

log = structlog.get_logger(__name__)


class ResultsCache:
    def __init__(
        self,
        redis: RedisClient,
        key_prefix: str,
        ttl_s: int = IDEMPOTENCY_TTL_S,
        *,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 100,
    ) -> None:
        self.redis = redis
        self.key_prefix = key_prefix
        self.ttl_s = ttl_s
        self.wait_replicas = wait_replicas  # WAIT after a put (see services.infra.store)
        self.wait_timeout_ms = wait_timeout_ms
        self._locks: dict[str, _KeyLock] = {}
        self.replayed = 0

    def key(self, idempotency_key: str) -> str:
        return f"{self.key_prefix}:done:{idempotency_key}"

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
        key = self.key(command.idempotency_key)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(key, encode(result), nx=True, ex=self.ttl_s)
            await queue_wait(self.redis, pipe, [key], self.wait_replicas, self.wait_timeout_ms)
            stored, *acks = await pipe.execute()
        if any(int(a) < self.wait_replicas for a in acks):
            log.warning("redis_wait_short", write="result", wanted=self.wait_replicas, acked=acks)
        if stored:
            return result
        earlier = await self.get(command)
        return earlier if earlier is not None else result

    async def run_once(
        self, command: StepCommand, run: Callable[[], Awaitable[StepResult]]
    ) -> StepResult:
        """`run()` unless a result for this key exists; concurrent duplicates wait for the first."""
        lock = self._locks.setdefault(command.idempotency_key, _KeyLock())
        lock.users += 1
        try:
            async with lock:
                earlier = await self.get(command)
                if earlier is not None:
                    self.replayed += 1
                    log.info(
                        "step_result_replayed",
                        execution_id=command.execution_id,
                        step_id=command.step_id,
                        idempotency_key=command.idempotency_key,
                    )
                    return earlier
                return await self.put(command, await run())
        finally:
            lock.users -= 1
            if lock.users == 0:
                self._locks.pop(command.idempotency_key, None)


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
