"""The limits that apply to one step command, held for the duration of its call.

    async with limiter.slot(command) as decision:
        if not decision.acquired:
            await limiter.park(raw, decision)   # durable; the dispatcher re-publishes it later
            return
        ... call the function ...            # the lease is renewed meanwhile

Checked in this order: the workflow's `rateLimit` (admits the execution once), the
function's `rateLimit` (counts the call once), the function's `concurrency` (a lease).
Function limits are read from `{p}:limits:functions` and workflow rate limits from the
definitions, both cached (`_Cached`) and read again every `refresh_s`: a command that no
limit applies to costs no Redis round trip.

The parking lot is watched by `next_parked()`: one small script per look, and the dispatcher
looks again when the earliest command is due, when this process parks one, or (nothing
parked) after `park_max_ms`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog

from workflows.contracts import StepCommand
from workflows.services.core.limits import (
    ADMISSION_MEMORY_S,
    FunctionLimit,
    LimitDecision,
    RateLimit,
    holder_id,
    park_delay_ms,
    rate_window_ms,
)
from workflows.services.infra.definitions import DefinitionCache
from workflows.services.infra.keys import Keys
from workflows.services.infra.leases import Leases, ParkedCommands
from workflows.services.infra.metrics import EngineMetrics
from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import StateStore
from workflows.services.infra.waiting import WaitingCommands

__all__ = ["FunctionLimits", "Limiter", "ParkedStatus"]

log = structlog.get_logger(__name__)
GO = LimitDecision(acquired=True)
T = TypeVar("T")

# KEYS[1] parked zset -> {count, ms until the earliest is due (-1: none parked)}
_PEEK = """
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then return {0, -1} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {redis.call('ZCARD', KEYS[1]), math.max(0, tonumber(first[2]) - now)}
"""


# KEYS[1] parked zset; ARGV lease ms, max -> {lease end, due members...}: each leased until then
_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local lease_end = now + tonumber(ARGV[1])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], lease_end, member) end
table.insert(due, 1, lease_end)
return due
"""

# KEYS[1] parked zset; ARGV lease end, members -> drops those still leased until then (one
# parked again meanwhile, e.g. by the replica that got it back, has another score: kept)
_DROP_CLAIMED = """
local dropped = 0
for i = 2, #ARGV do
  if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i]) or -1) == tonumber(ARGV[1]) then
    dropped = dropped + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return dropped
"""


class _Cached(Generic[T]):
    """A value read from Redis, shared by every caller, read again once `max_age_s` old.

    One read at a time: the first callers wait for the same read; once there is a value, a
    stale one is still answered while the newer one is read in the background (a failed
    read keeps the old value and is tried again on the next call). `max_age_s=None`: read
    once (a failed first read is tried again).
    """

    def __init__(self, load: Callable[[], Awaitable[T]], max_age_s: float | None) -> None:
        self.load = load
        self.max_age_s = max_age_s
        self._value: T | None = None
        self._loaded_at: float | None = None
        self._reading: asyncio.Task[T] | None = None

    async def get(self) -> T:
        if self._loaded_at is None:
            return await asyncio.shield(self._read())
        if self.max_age_s is not None and time.monotonic() - self._loaded_at >= self.max_age_s:
            self._read()
        return self._value  # type: ignore[return-value]  # set with _loaded_at

    def _read(self) -> asyncio.Task[T]:
        if self._reading is None or self._reading.done():
            self._reading = asyncio.create_task(self._load())
        return self._reading

    async def _load(self) -> T:
        began = time.monotonic()
        try:
            value = await self.load()
        except Exception as exc:
            if self._loaded_at is None:
                raise
            log.warning("limits_refresh_failed", error=f"{type(exc).__name__}: {exc}")
            return self._value  # type: ignore[return-value]
        self._value, self._loaded_at = value, began
        return value


@dataclass(frozen=True, slots=True)
class ParkedStatus:
    count: int
    due_in_ms: int | None  # None: nothing parked


class FunctionLimits:
    """Declared function limits (`PUT /limits/functions/{name}`), stored in one Redis hash."""

    def __init__(self, redis: RedisClient, keys: Keys, refresh_s: float = 1.0) -> None:
        self.redis = redis
        self.keys = keys
        self.refresh_s = refresh_s
        self._cached = _Cached(self.all, refresh_s)

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
        """The function's limit as last read (read again every `refresh_s`)."""
        return (await self._cached.get()).get(name)

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
        self.refresh_s = refresh_s
        self._rates: dict[tuple[str, int | None], _Cached[RateLimit | None]] = {}
        self._peek = redis.register_script(_PEEK)
        self._claim = redis.register_script(_CLAIM)
        self._drop_claimed = redis.register_script(_DROP_CLAIMED)
        self.parked_now = asyncio.Event()  # set by park(): the unpark loop looks again
        self.waiting = WaitingCommands(redis, self.keys)
        self.waiting_now = asyncio.Event()  # a command queued or a slot freed: take the next

    async def workflow_rate(self, workflow: str, version: int | None) -> RateLimit | None:
        """The workflow's `rateLimit`: a registered version never changes, so it is read once;
        an unknown workflow or version (or the latest) is read again every `refresh_s`."""
        cached = self._rates.get((workflow, version))
        if cached is None:
            entry: _Cached[RateLimit | None] = _Cached(_no_rate, self.refresh_s)
            entry.load = lambda: self._read_rate(workflow, version, entry)
            self._rates[(workflow, version)] = cached = entry
        return await cached.get()

    async def _read_rate(
        self, workflow: str, version: int | None, cached: _Cached[RateLimit | None]
    ) -> RateLimit | None:
        try:
            compiled = await self.definitions.get(workflow, version)
        except ValueError as exc:  # a definition this code cannot read has no limits it knows
            log.warning("definition_unreadable", workflow=workflow, error=str(exc))
            return None
        if compiled is None:
            return None
        if version is not None:
            cached.max_age_s = None  # a registered version never changes: read it once
        return compiled.definition.rate_limit

    async def check(self, command: StepCommand) -> LimitDecision:
        """Admission by the rate limits; the concurrency lease is `slot()`'s business."""
        rate = await self.workflow_rate(command.workflow, command.workflow_version)
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
    async def slot(
        self, command: StepCommand, queue: bytes | None = None
    ) -> AsyncIterator[LimitDecision]:
        """Every limit of the command, held (and renewed) until the block exits.

        `queue` (the command's bytes): with every concurrency slot taken the command waits
        in its function's priority queue (`infra.waiting`, `decision.queued`) instead of
        being refused, and takes a free slot only if it outranks every waiting command."""
        decision = await self.check(command)
        limit = await self.functions.get(command.function) if decision.acquired else None
        if limit is None or limit.concurrency is None:
            yield decision
            return
        key = self.keys.function_lease(command.function)
        holder = holder_id(self.worker_id, command.command_id)
        ttl_ms = limit.lease_seconds * 1000
        if queue is not None:
            decision = await self.waiting.enter(
                command, queue, self.worker_id, limit.concurrency, ttl_ms
            )
        else:
            decision = await self.leases.acquire(key, holder, limit.concurrency, ttl_ms)
        if not decision.acquired:
            if decision.queued:  # counted as parked: it waits for the same limit
                self.waiting_now.set()
                if self.metrics is not None:
                    self.metrics.limit_parked.labels(f"fn:{command.function}").inc()
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
            self.waiting_now.set()

    async def park(self, raw: bytes, command: StepCommand, decision: LimitDecision) -> int:
        """Put the command aside until a slot may be free; returns the delay in ms."""
        delay = park_delay_ms(
            decision.retry_after_ms,
            min_ms=self.settings.park_min_ms,
            max_ms=max(self.settings.park_max_ms, self.settings.park_min_ms),
        )
        await self.parked.park(raw, delay)
        self.parked_now.set()
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

    async def next_parked(self) -> ParkedStatus:
        """How many commands are parked and when the earliest is due (one script call)."""
        count, due_in = await self._peek(keys=[self.keys.parked])
        return ParkedStatus(int(count), None if int(due_in) < 0 else int(due_in))

    async def claim_parked(self, lease_ms: int, limit: int = 200) -> tuple[int, list[bytes]]:
        """The due parked commands, leased for `lease_ms` (a claimer that dies before
        `drop_claimed` loses none); with the lease's end, for `drop_claimed`."""
        until, *due = await self._claim(keys=[self.keys.parked], args=[str(lease_ms), str(limit)])
        return int(until), [m if isinstance(m, bytes) else str(m).encode() for m in due]

    async def drop_claimed(self, until: int, commands: list[bytes]) -> None:
        """Drop claimed commands once published, but not one parked again meanwhile."""
        if commands:
            await self._drop_claimed(keys=[self.keys.parked], args=[str(until), *commands])

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


async def _no_rate() -> RateLimit | None:
    return None


def _limit_label(key: str, keys: Keys) -> str:
    """`fn:<name>`, `rate:fn:<name>` or `rate:wf:<name>` from a limit's Redis key."""
    return key.removeprefix(f"{keys.prefix}:").removeprefix("lease:")
