"""The limits that apply to one step command, held for the duration of its call.

    async with limiter.slot(command) as decision:
        if not decision.acquired:
            await limiter.park(raw, decision)   # durable; the dispatcher re-publishes it later
            return
        ... call the function ...            # the lease is renewed meanwhile

Checked in this order: the workflow's `rateLimit` (admits the execution once), the
function's `rateLimit` (counts the call once), the function's `concurrency` (a lease).
Function limits are read from `{p}:limits:functions` and cached for `refresh_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import structlog

from contracts import StepCommand
from services.core.limits import (
    ADMISSION_MEMORY_S,
    FunctionLimit,
    LimitDecision,
    holder_id,
    park_delay_ms,
    rate_window_ms,
)
from services.infra.definitions import DefinitionCache
from services.infra.keys import Keys
from services.infra.leases import Leases, ParkedCommands
from services.infra.metrics import EngineMetrics
from services.infra.redis_client import RedisClient
from services.infra.settings import Settings
from services.infra.store import StateStore

__all__ = ["FunctionLimits", "Limiter"]

log = structlog.get_logger(__name__)
GO = LimitDecision(acquired=True)


class FunctionLimits:
    """Declared function limits (`PUT /limits/functions/{name}`), stored in one Redis hash."""

    def __init__(self, redis: RedisClient, keys: Keys, refresh_s: float = 1.0) -> None:
        self.redis = redis
        self.keys = keys
        self.refresh_s = refresh_s
        self._cached: dict[str, FunctionLimit] = {}
        self._loaded_at: float | None = None

    async def all(self) -> dict[str, FunctionLimit]:
        raw = await self.redis.hgetall(self.keys.function_limits)
        found = {}
        for name, doc in raw.items():
            key = name.decode() if isinstance(name, bytes) else str(name)
            try:
                found[key] = FunctionLimit.model_validate_json(doc)
            except ValueError as exc:  # written by hand? then it limits nothing, loudly
                log.warning("function_limit_unreadable", function=key, error=str(exc))
        return found

    async def get(self, name: str) -> FunctionLimit | None:
        now = time.monotonic()
        if self._loaded_at is None or now - self._loaded_at >= self.refresh_s:
            self._cached = await self.all()
            self._loaded_at = now
        return self._cached.get(name)

    async def put(self, name: str, limit: FunctionLimit) -> None:
        await self.redis.hset(self.keys.function_limits, name, limit.model_dump_json(by_alias=True))

    async def delete(self, name: str) -> bool:
        return bool(await self.redis.hdel(self.keys.function_limits, name))


class Limiter:
    def __init__(
        self,
        redis: RedisClient,
        settings: Settings,
        worker_id: str,
        *,
        metrics: EngineMetrics | None = None,
        refresh_s: float = 1.0,
    ) -> None:
        self.settings = settings
        self.keys = Keys(settings.key_prefix)
        self.worker_id = worker_id
        self.leases = Leases(redis)
        self.parked = ParkedCommands(redis, self.keys.parked)
        self.functions = FunctionLimits(redis, self.keys, refresh_s)
        self.definitions = DefinitionCache(StateStore(redis, self.keys))
        self.metrics = metrics

    async def check(self, command: StepCommand) -> LimitDecision:
        """Admission by the rate limits; the concurrency lease is `slot()`'s business."""
        try:
            compiled = await self.definitions.get(command.workflow, command.workflow_version)
        except ValueError as exc:  # a definition this code cannot read has no limits it knows
            log.warning("definition_unreadable", workflow=command.workflow, error=str(exc))
            compiled = None
        rate = compiled.definition.rate_limit if compiled is not None else None
        if rate is not None:
            decision = await self.leases.admit(
                self.keys.workflow_rate(command.workflow),
                command.execution_id,
                rate.limit,
                rate_window_ms(rate),
                ADMISSION_MEMORY_S * 1000,
            )
            if not decision.acquired:
                return decision
        limit = await self.functions.get(command.function)
        if limit is not None and limit.rate_limit is not None:
            window = rate_window_ms(limit.rate_limit)
            return await self.leases.admit(
                self.keys.function_rate(command.function),
                command.command_id,
                limit.rate_limit.limit,
                window,
                window,
            )
        return GO

    @contextlib.asynccontextmanager
    async def slot(self, command: StepCommand) -> AsyncIterator[LimitDecision]:
        """Every limit of the command, held (and renewed) until the block exits."""
        decision = await self.check(command)
        limit = await self.functions.get(command.function) if decision.acquired else None
        if limit is None or limit.concurrency is None:
            yield decision
            return
        key = self.keys.function_lease(command.function)
        holder = holder_id(self.worker_id, command.command_id)
        ttl_ms = limit.lease_seconds * 1000
        decision = await self.leases.acquire(key, holder, limit.concurrency, ttl_ms)
        if not decision.acquired:
            yield decision
            return
        self._held(command.function, 1)
        heartbeat = asyncio.create_task(self._renew(key, holder, ttl_ms))
        try:
            yield decision
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            self._held(command.function, -1)
            try:
                await self.leases.release(key, holder)
            except Exception as exc:  # Redis gone: the lease expires on its own
                log.warning("lease_release_failed", holder=holder, error=str(exc))

    async def park(self, raw: bytes, command: StepCommand, decision: LimitDecision) -> int:
        """Put the command aside until a slot may be free; returns the delay in ms."""
        delay = park_delay_ms(
            decision.retry_after_ms,
            min_ms=self.settings.park_min_ms,
            max_ms=max(self.settings.park_max_ms, self.settings.park_min_ms),
        )
        await self.parked.park(raw, delay)
        if self.metrics is not None:
            self.metrics.limit_parked.labels(_limit_label(decision.limit, self.keys)).inc()
        log.info(
            "step_parked",
            execution_id=command.execution_id,
            step_id=command.step_id,
            function=command.function,
            limit=decision.limit,
            delay_ms=delay,
        )
        return delay

    async def _renew(self, key: str, holder: str, ttl_ms: int) -> None:
        """The heartbeat: renew every third of the lease; a lost lease is taken back."""
        while True:
            await asyncio.sleep(ttl_ms / 3000)
            try:
                if not await self.leases.renew(key, holder, ttl_ms):
                    log.warning("lease_lost_and_retaken", holder=holder, key=key)
            except Exception as exc:  # try again at the next beat; the lease still runs
                log.warning("lease_renew_failed", holder=holder, error=str(exc))

    def _held(self, function: str, delta: int) -> None:
        if self.metrics is not None:
            self.metrics.limit_held.labels(function).inc(delta)


def _limit_label(key: str, keys: Keys) -> str:
    """`fn:<name>`, `rate:fn:<name>` or `rate:wf:<name>` from a limit's Redis key."""
    return key.removeprefix(f"{keys.prefix}:").removeprefix("lease:")
