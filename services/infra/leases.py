"""Limit slots as Redis leases, and the durable parking lot of commands waiting for one.

- A concurrency slot is a member of `{p}:lease:fn:<function>` (holder -> lease expiry ms).
  Acquiring first drops expired holders, then adds the holder if fewer than `limit` remain;
  the holder renews while it works and releases at the end. A holder that dies stops
  renewing, so its slot frees when the lease expires: slots never leak.
- A rate slot is a member of a sliding-window zset (holder -> start time ms): at most `limit`
  members fall in the last `window` ms. Re-admitting a member already in the set is free,
  so a redelivered command or a later step of an admitted execution is not counted twice.
- Parked commands wait in `{p}:parked` (command bytes -> due ms) until a claimer publishes
  them back to the step-command topic; a claim is itself a lease (like the durable timers).

Every expiry is computed from the Redis server's clock (`TIME`), so replicas need no
synchronized clocks. All keys are listed in `services/infra/keys.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

from workflows.services.core.limits import Held, LimitDecision
from workflows.services.infra.redis_client import RedisClient

__all__ = ["Leases", "ParkedCommands"]

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1] lease zset; ARGV holder, limit, ttl ms -> 0 acquired, else ms until the next expiry
_ACQUIRE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]))
  return 0
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(first[2]) - now)
"""
)

# KEYS[1] lease zset; ARGV holder, ttl ms -> 1 renewed, 0 lost (added back: the call runs)
_RENEW = (
    _NOW
    + """
local had = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]))
if had then return 1 end
return 0
"""
)

# KEYS[1] window zset; ARGV holder, limit, window ms, memory ms -> 0 admitted, else wait ms
_ADMIT = (
    _NOW
    + """
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[4]))
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local since = '(' .. (now - window)
if redis.call('ZCOUNT', KEYS[1], since, '+inf') < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
  return 0
end
local first = redis.call('ZRANGEBYSCORE', KEYS[1], since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
return math.max(1, tonumber(first[2]) + window - now)
"""
)

# KEYS[1] parked zset; ARGV claim lease ms, max -> due members, each leased for a while
_CLAIM = (
    _NOW
    + """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), member) end
return due
"""
)

# KEYS[1] parked zset; ARGV delay ms, member -> parks it (a re-park keeps one entry)
_PARK = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
return now
"""
)

_HOLDERS = (
    _NOW
    + """
return redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf', 'WITHSCORES')
"""
)


class Leases:
    """Acquire, renew, release and list the slots of one Redis-backed limit."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._admit = redis.register_script(_ADMIT)
        self._holders = redis.register_script(_HOLDERS)

    async def acquire(self, key: str, holder: str, limit: int, ttl_ms: int) -> LimitDecision:
        """Take one of `limit` slots for `ttl_ms` (re-acquiring a held slot renews it)."""
        wait = int(await self._acquire(keys=[key], args=[holder, str(limit), str(ttl_ms)]))
        return LimitDecision(acquired=wait == 0, retry_after_ms=wait, limit=key)

    async def renew(self, key: str, holder: str, ttl_ms: int) -> bool:
        """Extend the lease; False when it had expired (the slot is taken back regardless)."""
        return bool(int(await self._renew(keys=[key], args=[holder, str(ttl_ms)])))

    async def release(self, key: str, holder: str) -> None:
        await self.redis.zrem(key, holder)

    async def admit(
        self, key: str, holder: str, limit: int, window_ms: int, memory_ms: int
    ) -> LimitDecision:
        """Count `holder` in a window of `limit` per `window_ms`; remember it for `memory_ms`."""
        args = [holder, str(limit), str(window_ms), str(max(memory_ms, window_ms))]
        wait = int(await self._admit(keys=[key], args=args))
        return LimitDecision(acquired=wait == 0, retry_after_ms=wait, limit=key)

    async def lease_holders(self, key: str, name: str) -> list[Held]:
        """The live holders of a lease zset (expiry in the future)."""
        return _held(name, await self._holders(keys=[key], args=["0"]), 0)

    async def window_holders(self, key: str, name: str, window_ms: int) -> list[Held]:
        """The members counting in the window now; each stops counting `window_ms` after it."""
        rows = await self._holders(keys=[key], args=[str(window_ms)])
        return _held(name, rows, window_ms)


class ParkedCommands:
    """A durable delay queue of encoded step commands (`{p}:parked`)."""

    def __init__(self, redis: RedisClient, key: str) -> None:
        self.redis = redis
        self.key = key
        self._park = redis.register_script(_PARK)
        self._claim = redis.register_script(_CLAIM)

    async def park(self, command: bytes, delay_ms: int) -> None:
        await self._park(keys=[self.key], args=[str(max(delay_ms, 0)), command])

    async def claim_due(self, lease_ms: int, limit: int = 200) -> list[bytes]:
        """Due commands, leased for `lease_ms`: a claimer that dies before `drop` loses none."""
        due = await self._claim(keys=[self.key], args=[str(lease_ms), str(limit)])
        return [m if isinstance(m, bytes) else str(m).encode() for m in due]

    async def drop(self, commands: Sequence[bytes]) -> None:
        if commands:
            await self.redis.zrem(self.key, *commands)

    async def count(self) -> int:
        return int(await self.redis.zcard(self.key))


def _held(name: str, rows: list[object], add_ms: int) -> list[Held]:
    pairs = list(zip(rows[::2], rows[1::2], strict=True))
    return [
        Held(
            limit=name,
            holder=member.decode() if isinstance(member, bytes) else str(member),
            expires_at_ms=int(float(score)) + add_ms,  # type: ignore[arg-type]
        )
        for member, score in pairs
    ]
