"""Schedules in Redis, and the per-occurrence claims that make a fire time start exactly once.

| key | type | holds | TTL |
|---|---|---|---|
| `{p}:{sched}:<id>` | hash | `doc` (JSON), `next` (ms or ""), `paused`, counters, last fire | - |
| `{p}:{sched}:due` | zset | ids of active schedules by next fire time (ms) | none |
| `{p}:{sched}:ids` | set | every schedule id | none |
| `{p}:sched-claim:<execution id>` | string | firing replica's token, then `published` | 10 s, 7 d |

All schedule keys share the hash tag `{sched}` (one slot, scripts work on Redis Cluster).

Firing an occurrence (any number of replicas may try at once):
1. `claim()` the occurrence's execution id with SET NX PX: one replica wins; a replica that
   dies before publishing loses its claim after `CLAIM_TTL_MS` and another one fires it;
2. publish StartExecution (flushed), then `mark_published()`;
3. `advance()` the schedule's `next` with compare-and-set; a replica that finds the claim
   `published` only advances. A repeated publish is harmless: the orchestrator ignores a
   start for an execution id it already has.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import RedisClient

__all__ = ["CLAIM_TTL_MS", "PUBLISHED_TTL_S", "ScheduleRuntime", "ScheduleStore"]

CLAIM_TTL_MS = 10_000
PUBLISHED_TTL_S = 7 * 24 * 3600
PUBLISHED = "published"

_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'next', ARGV[3], 'paused', ARGV[4])
redis.call('HSET', KEYS[1], 'fired', 0, 'skipped', 0)
redis.call('SADD', KEYS[3], ARGV[1])
if ARGV[3] ~= '' and ARGV[4] ~= '1' then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) end
return 1
"""

_ADVANCE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if (redis.call('HGET', KEYS[1], 'next') or '') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'next', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'fired', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'skipped', ARGV[5])
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'lastFireTime', ARGV[6], 'lastExecutionId', ARGV[7])
end
if ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'paused') ~= '1' then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 1
"""

_PAUSE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'paused', '1')
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[1], 'paused', '0', 'next', ARGV[3])
  if ARGV[3] ~= '' then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) end
end
return 1
"""

_DELETE = """
local existed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
return existed
"""


@dataclass(frozen=True, slots=True)
class ScheduleRuntime:
    """A stored schedule: its document and where it stands."""

    doc: dict[str, Any]
    next_ms: int | None
    paused: bool
    fired: int
    skipped: int
    last_fire_time: str | None
    last_execution_id: str | None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ms(value: int | None) -> str:
    return "" if value is None else str(value)


class ScheduleStore:
    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.keys = Keys(prefix)
        self._create = redis.register_script(_CREATE)
        self._advance = redis.register_script(_ADVANCE)
        self._pause = redis.register_script(_PAUSE)
        self._delete = redis.register_script(_DELETE)

    def key(self, schedule_id: str) -> str:
        return self.keys.schedule(schedule_id)

    @property
    def due_key(self) -> str:
        return self.keys.schedules_due

    @property
    def ids_key(self) -> str:
        return self.keys.schedule_ids

    def claim_key(self, execution_id: str) -> str:
        return self.keys.schedule_claim(execution_id)

    def _keys(self, schedule_id: str) -> list[str]:
        return [self.key(schedule_id), self.due_key, self.ids_key]

    async def create(
        self, schedule_id: str, doc: str, next_ms: int | None, paused: bool = False
    ) -> bool:
        """Store a new schedule (`paused`: not due until resumed); False when the id is taken."""
        created = await self._create(
            keys=self._keys(schedule_id),
            args=[schedule_id, doc, _ms(next_ms), "1" if paused else "0"],
        )
        return bool(created)

    async def get(self, schedule_id: str) -> ScheduleRuntime | None:
        raw = await self.redis.hgetall(self.key(schedule_id))
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
        if "doc" not in fields:
            return None
        return ScheduleRuntime(
            doc=json.loads(fields["doc"]),
            next_ms=int(fields["next"]) if fields.get("next") else None,
            paused=fields.get("paused") == "1",
            fired=int(fields.get("fired") or 0),
            skipped=int(fields.get("skipped") or 0),
            last_fire_time=fields.get("lastFireTime") or None,
            last_execution_id=fields.get("lastExecutionId") or None,
        )

    async def ids(self) -> list[str]:
        return sorted(_text(i) for i in await self.redis.smembers(self.ids_key))

    async def delete(self, schedule_id: str) -> bool:
        return bool(await self._delete(keys=self._keys(schedule_id), args=[schedule_id]))

    async def set_paused(self, schedule_id: str, paused: bool, next_ms: int | None) -> bool:
        """Pause (drop from the due set) or resume with a fresh `next`; False if unknown."""
        args = [schedule_id, "1" if paused else "0", _ms(next_ms)]
        return bool(await self._pause(keys=self._keys(schedule_id), args=args))

    async def park(self, schedule_id: str) -> None:
        """Take a schedule that cannot be evaluated out of the due set (it stays listed)."""
        await self.redis.zrem(self.due_key, schedule_id)

    async def due(self, now_ms: int, limit: int = 100) -> list[str]:
        ids = await self.redis.zrangebyscore(self.due_key, "-inf", now_ms, start=0, num=limit)
        return [_text(i) for i in ids]

    async def claim(self, execution_id: str, token: str, ttl_ms: int = CLAIM_TTL_MS) -> str:
        """`claimed` (ours now), `published` (fired already) or `busy` (another replica)."""
        key = self.claim_key(execution_id)
        if await self.redis.set(key, token, nx=True, px=ttl_ms):
            return "claimed"
        holder = await self.redis.get(key)
        if holder is None:  # expired between the two calls: try once more
            return "claimed" if await self.redis.set(key, token, nx=True, px=ttl_ms) else "busy"
        return PUBLISHED if _text(holder) == PUBLISHED else "busy"

    async def release(self, execution_id: str, token: str) -> None:
        """Give a claim back after a failed publish so the next tick retries at once."""
        key = self.claim_key(execution_id)
        holder = await self.redis.get(key)
        if holder is not None and _text(holder) == token:
            await self.redis.delete(key)

    async def mark_published(self, execution_id: str) -> None:
        await self.redis.set(self.claim_key(execution_id), PUBLISHED, ex=PUBLISHED_TTL_S)

    async def advance(
        self,
        schedule_id: str,
        expected_ms: int | None,
        next_ms: int | None,
        *,
        fired: int = 0,
        skipped: int = 0,
        last_fire_time: str = "",
        last_execution_id: str = "",
    ) -> bool:
        """Move `next` from `expected_ms` to `next_ms`; False when someone else moved it."""
        args = [
            schedule_id,
            _ms(expected_ms),
            _ms(next_ms),
            str(fired),
            str(skipped),
            last_fire_time,
            last_execution_id,
        ]
        return bool(await self._advance(keys=self._keys(schedule_id)[:2], args=args))
