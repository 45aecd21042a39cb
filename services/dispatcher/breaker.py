"""Per-function circuit breakers in Redis, shared by every dispatcher replica.

One hash per function, `{p}:breaker:{<function>}`: `state` (`closed`, `open`, `half_open`),
`failures` (in a row, while closed), `until` (ms: an open circuit half-opens then; a half-open
one whose trial calls never answered starts its trials again then), `probes` (trial calls let
through) and `successes` (trial calls that succeeded), `opened` (how often it opened). Both
steps are one Lua script each, so replicas deciding at once agree. The configuration is the
function limit's `circuitBreaker` (`PUT /limits/functions/{name}`,
`workflows.services.core.limits`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflows.services.core.limits import CircuitBreaker
from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import RedisClient

__all__ = ["Admission", "CircuitBreakers", "breaker_key"]

_ADMIT = """
local k = KEYS[1]
local now, half, reset = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HGET', k, 'state') or 'closed'
if state == 'closed' then return {1, 'closed', 0} end
local until_ = tonumber(redis.call('HGET', k, 'until') or '0')
if state == 'open' then
  if now < until_ then return {0, 'open', until_ - now} end
  redis.call('HSET', k, 'state', 'half_open', 'probes', 1, 'successes', 0, 'until', now + reset)
  return {1, 'half_open', 0}
end
local probes = tonumber(redis.call('HGET', k, 'probes') or '0')
if probes < half then
  redis.call('HINCRBY', k, 'probes', 1)
  return {1, 'half_open', 0}
end
if now >= until_ then  -- the trial calls never answered: try again
  redis.call('HSET', k, 'probes', 1, 'successes', 0, 'until', now + reset)
  return {1, 'half_open', 0}
end
return {0, 'half_open', until_ - now}
"""

_RECORD = """
local k = KEYS[1]
local ok = ARGV[1] == '1'
local now, threshold = tonumber(ARGV[2]), tonumber(ARGV[3])
local reset, half = tonumber(ARGV[4]), tonumber(ARGV[5])
local state = redis.call('HGET', k, 'state') or 'closed'
if ok then
  if state == 'half_open' then
    if redis.call('HINCRBY', k, 'successes', 1) >= half then
      redis.call('HSET', k, 'state', 'closed', 'failures', 0, 'probes', 0, 'successes', 0)
      return 'closed'
    end
  elseif state == 'closed' then
    redis.call('HSET', k, 'failures', 0)
  end
  return state
end
if state == 'half_open' then
  redis.call('HSET', k, 'state', 'open', 'until', now + reset, 'probes', 0, 'successes', 0)
  redis.call('HINCRBY', k, 'opened', 1)
  return 'open'
end
if state == 'open' then return 'open' end
if redis.call('HINCRBY', k, 'failures', 1) >= threshold then
  redis.call('HSET', k, 'state', 'open', 'until', now + reset, 'failures', 0)
  redis.call('HINCRBY', k, 'opened', 1)
  return 'open'
end
redis.call('HSET', k, 'state', 'closed')
return 'closed'
"""


def breaker_key(prefix: str, function: str) -> str:
    return Keys(prefix).breaker(function)


@dataclass(frozen=True, slots=True)
class Admission:
    """May the call go ahead; the circuit's state; when to try again (ms) when not."""

    allowed: bool
    state: str
    retry_after_ms: int = 0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class CircuitBreakers:
    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._admit = redis.register_script(_ADMIT)
        self._record = redis.register_script(_RECORD)

    async def admit(self, function: str, config: CircuitBreaker, now_ms: int) -> Admission:
        allowed, state, retry = await self._admit(
            keys=[breaker_key(self.prefix, function)],
            args=[now_ms, config.half_open_calls, config.reset_after],
        )
        return Admission(bool(int(allowed)), _text(state), int(retry))

    async def record(self, function: str, config: CircuitBreaker, ok: bool, now_ms: int) -> str:
        state = await self._record(
            keys=[breaker_key(self.prefix, function)],
            args=[
                "1" if ok else "0",
                now_ms,
                config.failure_threshold,
                config.reset_after,
                config.half_open_calls,
            ],
        )
        return _text(state)

    async def state(self, function: str) -> dict[str, Any]:
        """`{state, failures, openUntilMs, opened}` as GET /limits shows it."""
        raw = await self.redis.hgetall(breaker_key(self.prefix, function))
        fields = {_text(k): _text(v) for k, v in raw.items()}
        state = fields.get("state", "closed")
        until = int(fields["until"]) if state != "closed" and "until" in fields else None
        return {
            "state": state,
            "failures": int(fields.get("failures", 0)),
            "openUntilMs": until,
            "opened": int(fields.get("opened", 0)),
        }
