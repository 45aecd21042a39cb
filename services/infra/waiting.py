"""The commands waiting for a function's concurrency slot, highest priority first.

A step command of a function with a `concurrency` limit that finds every slot taken (or finds
commands already waiting) waits in Redis, ranked by its priority, FIFO within one priority:

    rank = (1000 - priority) * 2**42 + the function's count of commands that waited so far

(below 2**53, so a zset score holds it exactly). When a slot frees, `take()` hands the best
ranked command to the dispatcher that asked, with its slot already leased to it, in one
script: no other command can take the slot in between, and a newcomer takes a free slot at
once only when it outranks everyone waiting (`enter()`).

Nothing is lost: a taken command stays in `claimed` (command id -> claim expiry ms), renewed
by its runner, until its result is acknowledged by the broker (`drop()`); a runner that dies
stops renewing, and the next `take()` puts the command back in the queue with its old rank.

Keys (one function's share the hash tag of its lease key, for Redis Cluster), all listed in
`services/infra/keys.py`: `waiting` (zset command id -> rank), `claimed` (zset command id ->
claim expiry), `commands` (hash command id -> `<rank>|<command bytes>`, and field `#seq`:
the count in the rank), and the set of
function names that ever had one waiting (`Keys.waiting_functions`).
"""

from __future__ import annotations

from dataclasses import dataclass

from workflows.contracts import StepCommand
from workflows.services.core.limits import LimitDecision, holder_id
from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import RedisClient

__all__ = ["RANK_STEP", "Taken", "WaitingCommands", "rank_of"]

RANK_STEP = 2**42  # one priority's band: room for 2**42 commands waiting, ever

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS lease, waiting, claimed, commands; ARGV holder, limit, lease ms, command id, priority,
# command bytes -> 1 the slot is the command's, 0 it waits (or is already waiting or running)
_ENTER = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local function lease()
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]))
  return 1
end
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return lease() end
local id = ARGV[4]
if redis.call('ZSCORE', KEYS[2], id) or redis.call('ZSCORE', KEYS[3], id) then return 0 end
local kept = redis.call('HGET', KEYS[4], id)
local rank
if kept then
  rank = tonumber(string.sub(kept, 1, string.find(kept, '|', 1, true) - 1))
else
  rank = (1000 - tonumber(ARGV[5])) * 4398046511104 + redis.call('HINCRBY', KEYS[4], '#seq', 1)
end
local head = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local ahead = #head == 0 or rank < tonumber(head[2])
if ahead and redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('HDEL', KEYS[4], id)
  return lease()
end
local score = string.format('%.0f', rank)
redis.call('ZADD', KEYS[2], score, id)
redis.call('HSET', KEYS[4], id, score .. '|' .. ARGV[6])
return 0
"""
)

# KEYS lease, waiting, claimed, commands; ARGV worker id, limit, lease ms, claim ms ->
# {} or {command bytes}: expired claims go back first, then the best ranked command is taken
# if a slot is free, its slot leased to `<worker id>/<command id>`
_TAKE = (
    _NOW
    + """
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)) do
  local kept = redis.call('HGET', KEYS[4], id)
  if kept then
    redis.call('ZADD', KEYS[2], string.sub(kept, 1, string.find(kept, '|', 1, true) - 1), id)
  end
  redis.call('ZREM', KEYS[3], id)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return {} end
local head = redis.call('ZRANGE', KEYS[2], 0, 0)
if #head == 0 then return {} end
local id = head[1]
local kept = redis.call('HGET', KEYS[4], id)
redis.call('ZREM', KEYS[2], id)
if not kept then return {} end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), id)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1] .. '/' .. id)
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]))
return {string.sub(kept, string.find(kept, '|', 1, true) + 1)}
"""
)

# KEYS claimed; ARGV claim ms, command id -> 1 renewed, 0 no longer claimed
_RENEW = (
    _NOW
    + """
return redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[2])
"""
)

# KEYS waiting, claimed, commands; ARGV command id -> done: the claim and (unless it waits
# again) the command go
_DROP = """
redis.call('ZREM', KEYS[2], ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then redis.call('HDEL', KEYS[3], ARGV[1]) end
return 1
"""


def rank_of(priority: int, seq: int) -> int:
    """The score of the function's `seq`-th waiting command (lower runs first), as `_ENTER`."""
    return (1000 - priority) * RANK_STEP + seq


@dataclass(frozen=True, slots=True)
class Taken:
    """A command handed to this dispatcher, its slot leased: run it, then `drop()` it."""

    function: str
    raw: bytes


class WaitingCommands:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._enter = redis.register_script(_ENTER)
        self._take = redis.register_script(_TAKE)
        self._renew = redis.register_script(_RENEW)
        self._drop = redis.register_script(_DROP)

    def _keys(self, function: str) -> list[str]:
        k = self.keys
        return [
            k.function_lease(function),
            k.waiting(function),
            k.waiting_claimed(function),
            k.waiting_commands(function),
        ]

    async def enter(
        self, command: StepCommand, raw: bytes, worker_id: str, limit: int, lease_ms: int
    ) -> LimitDecision:
        """The slot (leased to `<worker id>/<command id>`), or a place in the queue."""
        function = command.function
        holder = holder_id(worker_id, command.command_id)
        args = [holder, limit, lease_ms, command.command_id, command.priority, raw]
        got = int(await self._enter(keys=self._keys(function), args=[_arg(a) for a in args]))
        if got:
            return LimitDecision(acquired=True)
        await self.redis.sadd(self.keys.waiting_functions, function)
        return LimitDecision(acquired=False, limit=self.keys.waiting(function), queued=True)

    async def functions(self) -> list[str]:
        """Every function that ever had a command waiting."""
        names = await self.redis.smembers(self.keys.waiting_functions)
        return sorted(n.decode() if isinstance(n, bytes) else str(n) for n in names)

    async def take(
        self, function: str, worker_id: str, limit: int, lease_ms: int, claim_ms: int
    ) -> Taken | None:
        """The best ranked waiting command if a slot is free (None otherwise)."""
        args = [worker_id, str(limit), str(lease_ms), str(claim_ms)]
        got = await self._take(keys=self._keys(function), args=args)
        if not got:
            return None
        raw = got[0]
        return Taken(function, raw if isinstance(raw, bytes) else str(raw).encode())

    async def renew(self, function: str, command_id: str, claim_ms: int) -> bool:
        keys = [self.keys.waiting_claimed(function)]
        return bool(await self._renew(keys=keys, args=[str(claim_ms), command_id]))

    async def drop(self, function: str, command_id: str) -> None:
        """The command ran (its result acknowledged): forget it."""
        keys = self._keys(function)[1:]
        await self._drop(keys=keys, args=[command_id])

    async def count(self, function: str) -> int:
        """Commands waiting or taken and not yet done."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(self.keys.waiting(function))
        pipe.zcard(self.keys.waiting_claimed(function))
        waiting, claimed = await pipe.execute()
        return int(waiting) + int(claimed)

    async def ranked(self, function: str) -> list[str]:
        """The waiting command ids, best ranked first."""
        ids = await self.redis.zrange(self.keys.waiting(function), 0, -1)
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]


def _arg(value: object) -> bytes | str:
    return value if isinstance(value, bytes) else str(value)
