"""The Redis state store: execution state with compare-and-set, an outbox, timers, definitions.

An execution is one hash `{p}:exec:{<id>}` (`rev`, `doc`) plus its outbox list, both under
the execution's hash tag, so every script touches one slot. A transition is saved with
`save()`: one Lua script checks the revision, writes the new document and appends the
messages and timers the transition caused to the outbox. The outbox is flushed to Kafka
and to the timer set by the caller, and only then trimmed; after a crash the leftovers are
flushed again (publishing twice is allowed, losing is not).

Every script and MULTI/EXEC touches one slot (a cluster-safe layout,
`workflows.services.infra.keys`).
With `wait_replicas` > 0 a save, and the timers and index rows a flush adds, are followed by
`WAIT wait_replicas wait_timeout_ms` on the connection that wrote them, so that a write the
store confirmed is on a replica too before the caller publishes what it caused (a replica
that does not answer in time is logged, not waited for: the write stays acknowledged).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import structlog
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from workflows.services.core.state import ExecutionState
from workflows.services.infra.attempt_logs import AttemptLogs
from workflows.services.infra.keys import (
    IDEMPOTENCY_TTL_S,
    KPI_SAMPLES_CAP,
    KPI_SAMPLES_TTL_S,
    Keys,
)
from workflows.services.infra.redis_client import RedisClient, queue_wait
from workflows.services.infra.search_index import IndexRow, SearchIndex, index_row

__all__ = ["IdempotencyKeyReused", "Save", "StateStore"]

log = structlog.get_logger(__name__)

_SAVE = """
local rev = redis.call('HGET', KEYS[1], 'rev')
if (rev or '0') ~= ARGV[1] then return -1 end
local new = tonumber(ARGV[1]) + 1
redis.call('HSET', KEYS[1], 'rev', new, 'doc', ARGV[2])
for i = 4, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)  -- the attempt logs (workflows.services.infra.attempt_logs)
end
return new
"""

_REGISTER = """
local n = redis.call('HLEN', KEYS[1])
if n > 0 and redis.call('HGET', KEYS[1], tostring(n)) == ARGV[1] then return {n, 0} end
redis.call('HSET', KEYS[1], tostring(n + 1), ARGV[1])
redis.call('HSET', KEYS[2], tostring(n + 1), ARGV[2])
return {n + 1, 1}
"""

_CLAIM_TIMERS = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], member) end
return due
"""


class IdempotencyKeyReused(Exception):
    """An Idempotency-Key already claimed by a request with another body."""

    def __init__(self, key: str, execution_id: str) -> None:
        super().__init__(key)
        self.key, self.execution_id = key, execution_id


@dataclass(frozen=True, slots=True)
class Save:
    """One execution's save of a batch: write `doc` if the revision is still `rev`, append
    `outbox`, and expire the state after `ttl_s` (0: keep) once it has ended; `search`: the
    execution's search index row (`workflows.services.infra.search_index`), written in the same
    pipeline with the revision the save gives the state."""

    execution_id: str
    rev: int
    doc: str
    outbox: Sequence[str]
    ttl_s: int = 0
    search: IndexRow | None = None


class StateStore:
    def __init__(
        self, redis: RedisClient, keys: Keys, *, wait_replicas: int = 0, wait_timeout_ms: int = 100
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self._save = redis.register_script(_SAVE)
        self._cluster = isinstance(redis, RedisCluster)
        self._register = redis.register_script(_REGISTER)
        self._claim = redis.register_script(_CLAIM_TIMERS)
        self.search = SearchIndex(redis, keys.prefix)
        self.logs = AttemptLogs(redis, keys)

    # -- executions ---------------------------------------------------------------------
    async def load(
        self, execution_id: str, with_outbox: bool = False
    ) -> tuple[int, str | None, list[str]]:
        """(revision, state JSON or None, outbox entries if asked)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self.keys.state(execution_id), "rev", "doc")
            if with_outbox:
                pipe.lrange(self.keys.outbox(execution_id), 0, -1)
            replies = await pipe.execute()
        rev, doc = replies[0]
        outbox = [_text(e) for e in replies[1]] if with_outbox else []
        return int(rev or 0), _text(doc) if doc is not None else None, outbox

    def _queue_trims(self, pipe: Any, trims: dict[str, int] | None) -> int:
        """Queue LTRIMs of outbox entries already flushed (published and acknowledged)."""
        queued = 0
        for execution_id, count in (trims or {}).items():
            if count:
                pipe.ltrim(self.keys.outbox(execution_id), count, -1)
                queued += 1
        return queued

    async def load_many(
        self, execution_ids: Sequence[str], trims: dict[str, int] | None = None
    ) -> dict[str, tuple[int, str | None, list[str]]]:
        """`load(id, with_outbox=True)` of several executions in one pipeline, after trimming
        the entries `trims` says were flushed already (so they are not read as leftovers)."""
        if not execution_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            skip = self._queue_trims(pipe, trims)
            for execution_id in execution_ids:
                pipe.hmget(self.keys.state(execution_id), "rev", "doc")
                pipe.lrange(self.keys.outbox(execution_id), 0, -1)
            replies = (await pipe.execute())[skip:]
        loaded = {}
        for i, execution_id in enumerate(execution_ids):
            rev, doc = replies[2 * i]
            outbox = [_text(e) for e in replies[2 * i + 1]]
            loaded[execution_id] = (int(rev or 0), _text(doc) if doc is not None else None, outbox)
        return loaded

    async def save_many(
        self, saves: Sequence[Save], trims: dict[str, int] | None = None
    ) -> list[int]:
        """Every save of a batch in one pipeline (one round trip, one per node on a cluster);
        each is a compare-and-set on its own: the new revision, or -1 where it was fenced.
        The pipeline first trims the outbox entries an earlier batch flushed (`trims`). With
        `wait_replicas`, one WAIT per node follows the writes."""
        if not saves:
            if trims:
                await self.trim_outboxes(trims)
            return []
        results: list[Any] = [None] * len(saves)
        todo = list(range(len(saves)))
        for _ in range(2):  # a second round after NOSCRIPT (a restarted or promoted Redis)
            async with self.redis.pipeline(transaction=False) as pipe:
                skip = self._queue_trims(pipe, trims)
                trims = None
                for i in todo:
                    save = saves[i]
                    keys = self._save_keys(save.execution_id)
                    args = [str(save.rev), save.doc, str(save.ttl_s), *save.outbox]
                    if self._cluster:  # redis-py refuses EVALSHA in a cluster pipeline
                        pipe.eval(_SAVE, len(keys), *keys, *args)
                    else:
                        pipe.evalsha(self._save.sha, len(keys), *keys, *args)
                rows = [(_expiring(s), s.rev + 1) for s in (saves[i] for i in todo) if s.search]
                for row, new_rev in rows:  # rev-guarded: a fenced save's row is not newer
                    self.search.queue_put(pipe, row, new_rev)
                state_keys = [self.keys.state(saves[i].execution_id) for i in todo]
                waits = await queue_wait(
                    self.redis, pipe, state_keys, self.wait_replicas, self.wait_timeout_ms
                )
                replies = (await pipe.execute(raise_on_error=False))[skip:]
                skip = 0
            indexed = replies[len(todo) : len(todo) + len(rows)]
            replies = replies[: len(todo)] + replies[len(todo) + len(rows) :]
            await self._index_leftovers(rows, indexed)
            if waits:
                self._check_acks("save", [a for a in replies[len(todo) :] if isinstance(a, int)])
            missing = []
            for i, reply in zip(todo, replies[: len(todo)], strict=True):
                if isinstance(reply, NoScriptError):
                    missing.append(i)
                elif isinstance(reply, Exception):
                    raise reply
                else:
                    results[i] = int(reply)
            if not missing:
                await self._heal_index([s for s, r in zip(saves, results, strict=True) if r < 0])
                return [int(r) for r in results]
            await self.redis.script_load(_SAVE)
            todo = missing
        raise RuntimeError("the save script could not be loaded into Redis")

    async def _heal_index(self, fenced: Sequence[Save]) -> None:
        """A fenced save's row went out with the revision the save would have given: it may
        have replaced the row of the save that won. Write the rows again from the states as
        stored (their own revision, replacing a row of the same one)."""
        fenced = [s for s in fenced if s.search is not None]
        if not fenced:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for save in fenced:
                pipe.hmget(self.keys.state(save.execution_id), "rev", "doc")
                pipe.pttl(self.keys.state(save.execution_id))
            replies = await pipe.execute()
        rows = []
        for i, save in enumerate(fenced):
            (rev, doc), ttl_ms = replies[2 * i], int(replies[2 * i + 1])
            if doc is None or save.search is None:
                continue
            state = ExecutionState.model_validate_json(doc)
            row = index_row(state, save.search.attributes)
            if ttl_ms > 0:
                row = replace(row, expires_ms=now_ms() + ttl_ms)
            rows.append((row, int(rev)))
        if rows:
            await self.search.put_many(rows, force=True)

    async def _index_leftovers(self, rows: list[tuple[IndexRow, int]], replies: list[Any]) -> None:
        """Write again the index rows Redis refused for want of the script (NOSCRIPT)."""
        again = []
        for row, reply in zip(rows, replies, strict=True):
            if isinstance(reply, NoScriptError):
                again.append(row)
            elif isinstance(reply, Exception):
                raise reply
        if again:
            await self.search.put_many(again)

    async def save(
        self, execution_id: str, rev: int, doc: str, outbox: Sequence[str], ttl_s: int = 0
    ) -> int:
        """Write `doc` if the revision is still `rev`; return the new revision or -1."""
        keys = self._save_keys(execution_id)
        args = [str(rev), doc, str(ttl_s), *outbox]
        if not self.wait_replicas:
            return int(await self._save(keys=keys, args=args))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.eval(_SAVE, len(keys), *keys, *args)
            await queue_wait(self.redis, pipe, keys[:1], self.wait_replicas, self.wait_timeout_ms)
            result, *acks = await pipe.execute()
        self._check_acks("save", acks)
        return int(result)

    def _save_keys(self, execution_id: str) -> list[str]:
        """The save script's keys: state, outbox, attempt logs (one hash slot)."""
        state = self.keys.state(execution_id)
        return [state, self.keys.outbox(execution_id), self.keys.attempt_logs(execution_id)]

    def _check_acks(self, what: str, acks: list[Any]) -> None:
        short = [int(a) for a in acks if int(a) < self.wait_replicas]
        if short:
            log.warning("redis_wait_short", write=what, wanted=self.wait_replicas, acked=short)

    async def get_state(self, execution_id: str) -> str | None:
        doc = await self.redis.hget(self.keys.state(execution_id), "doc")
        return _text(doc) if doc is not None else None

    async def get_states(self, execution_ids: Sequence[str]) -> list[str | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for execution_id in execution_ids:
                pipe.hget(self.keys.state(execution_id), "doc")
            docs = await pipe.execute()
        return [_text(d) if d is not None else None for d in docs]

    async def trim_outboxes(self, counts: dict[str, int]) -> None:
        """Drop the outbox entries a batch flushed: `counts` first entries per execution."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for execution_id, count in counts.items():
                if count:
                    pipe.ltrim(self.keys.outbox(execution_id), count, -1)
            await pipe.execute()

    async def write_flushed(
        self,
        timers: list[tuple[str, int]],
        index: list[tuple[str, int]],
        outcomes: list[tuple[str, str, int]],
    ) -> None:
        """What a batch's outbox entries write to Redis beside their messages, in one round
        trip: timers to set, new executions for the listing, ended executions' KPI samples
        (`(workflow, sample, ended_ms)`; idempotent, the newest KPI_SAMPLES_CAP kept per
        workflow). All of it describes states already saved, so it may go while the batch's
        messages are still being acknowledged; the outbox entries stay until the trim."""
        if not (timers or index or outcomes):
            return
        by_workflow: dict[str, dict[str, int]] = {}
        for workflow, sample, ended_ms in outcomes:
            by_workflow.setdefault(workflow, {})[sample] = ended_ms
        async with self.redis.pipeline(transaction=False) as pipe:
            if timers:
                pipe.zadd(self.keys.timers, dict(timers))
            if index:
                pipe.zadd(self.keys.executions, dict(index))
            durable = [self.keys.timers] * bool(timers) + [self.keys.executions] * bool(index)
            waits = await queue_wait(
                self.redis, pipe, durable, self.wait_replicas, self.wait_timeout_ms
            )
            for workflow, samples in by_workflow.items():
                key = self.keys.outcomes(workflow)
                pipe.zadd(key, samples)
                pipe.zremrangebyrank(key, 0, -KPI_SAMPLES_CAP - 1)
                pipe.expire(key, KPI_SAMPLES_TTL_S)
            replies = await pipe.execute()
        if waits:
            start = bool(timers) + bool(index)
            self._check_acks("flush", replies[start : start + waits])

    async def record_outcome(self, workflow: str, sample: str, ended_ms: int) -> None:
        """Add an ended execution's sample (idempotent), keep the newest KPI_SAMPLES_CAP."""
        await self.write_flushed([], [], [(workflow, sample, ended_ms)])

    async def outcomes(self, workflow: str, limit: int = KPI_SAMPLES_CAP) -> list[dict[str, Any]]:
        """The newest `limit` samples of a workflow's ended executions, newest first."""
        raw = await self.redis.zrevrange(self.keys.outcomes(workflow), 0, limit - 1)
        return [json.loads(_text(m)) for m in raw]

    async def purge_expired(
        self, namespace: str, limit: int = 1000, now_ms: int | None = None
    ) -> int:
        """Forget executions of `namespace` whose state expired: their search index rows and
        their place in the listing (`executions`); how many (at most `limit`). Without it both
        would keep ~1.7 KB per execution after its state is gone (measured, bench/NOTES.md)."""
        ids = await self.search.purge_ids(namespace, now_ms, limit)
        if ids:
            await self.redis.zrem(self.keys.executions, *ids)
        return len(ids)

    async def recent_executions(self, limit: int, offset: int = 0) -> list[str]:
        ids = await self.redis.zrevrange(self.keys.executions, offset, offset + limit - 1)
        return [_text(i) for i in ids]

    # -- timers ---------------------------------------------------------------------------
    async def next_timer_ms(self) -> int | None:
        """When the earliest timer (due or leased) is due, in epoch ms; None when none is set."""
        first = await self.redis.zrange(self.keys.timers, 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    async def claim_due_timers(self, now_ms: int, lease_ms: int, limit: int = 200) -> list[str]:
        """Due timers, leased for `lease_ms` so a crashed claimer's timers fire again."""
        due = await self._claim(
            keys=[self.keys.timers], args=[str(now_ms), str(now_ms + lease_ms), str(limit)]
        )
        return [_text(m) for m in due]

    async def drop_timers(self, members: Sequence[str]) -> None:
        if members:
            await self.redis.zrem(self.keys.timers, *members)

    # -- definitions ----------------------------------------------------------------------
    async def register_definition(
        self, name: str, doc: str, meta: dict[str, Any]
    ) -> tuple[int, bool]:
        """Store a new immutable version (the latest if identical): (version, created)."""
        keys = [self.keys.definition(name), self.keys.definition_meta(name)]
        version, created = await self._register(keys=keys, args=[doc, json.dumps(meta)])
        await self.redis.sadd(self.keys.definitions, name)
        return int(version), bool(created)

    async def get_definition(self, name: str, version: int | None = None) -> tuple[int, str] | None:
        key = self.keys.definition(name)
        if version is None:
            version = int(await self.redis.hlen(key))
            if version == 0:
                return None
        doc = await self.redis.hget(key, str(version))
        return (version, _text(doc)) if doc is not None else None

    async def save_definition_source(self, name: str, version: int, fmt: str, text: str) -> None:
        """Keep the text a version was registered as (its first registration wins)."""
        value = json.dumps({"format": fmt, "text": text})
        await self.redis.hsetnx(self.keys.definition_source(name), str(version), value)

    async def definition_source(self, name: str, version: int) -> tuple[str, str] | None:
        """(format, text) a version was registered as; None for one registered before."""
        raw = await self.redis.hget(self.keys.definition_source(name), str(version))
        if raw is None:
            return None
        found = json.loads(raw)
        return str(found["format"]), str(found["text"])

    async def definition_versions(self, name: str) -> dict[int, dict[str, Any]]:
        meta = await self.redis.hgetall(self.keys.definition_meta(name))
        return {int(_text(k)): json.loads(v) for k, v in meta.items()}

    async def definition_names(self) -> list[str]:
        return sorted(_text(n) for n in await self.redis.smembers(self.keys.definitions))

    async def migrate_definition_keys(self) -> list[str]:
        """Move definitions stored by earlier builds under `{p}:def:<name>[:meta]` (no hash
        tag) to their hash-tagged keys; the names moved. Idempotent and safe to run from
        several processes at once: a key is copied only while its new key is empty, and the
        old one is deleted after the copy."""
        moved = []
        for name in await self.definition_names():
            for old, new in (
                (self.keys.legacy_definition(name), self.keys.definition(name)),
                (self.keys.legacy_definition_meta(name), self.keys.definition_meta(name)),
            ):
                if old == new or await self.redis.exists(new):
                    continue
                found: dict[Any, Any] = dict(await self.redis.hgetall(old))
                if found:
                    await self.redis.hset(new, mapping=found)
                    await self.redis.delete(old)
                    if not old.endswith(":meta"):
                        moved.append(name)
        return moved

    # -- idempotency ----------------------------------------------------------------------
    async def claim_idempotency_key(
        self, workflow: str, key: str, execution_id: str, body_digest: str | None = None
    ) -> str:
        """The execution id for this key: ours if we were first, else the earlier one.

        The claim keeps the digest of the request body beside the id (`<id> <digest>`); a later
        claim with another digest raises IdempotencyKeyReused. A claim stored without one (an
        older trigger) matches any body.
        """
        redis_key = self.keys.idempotency(workflow, key)
        value = execution_id if body_digest is None else f"{execution_id} {body_digest}"
        if await self.redis.set(redis_key, value, nx=True, ex=IDEMPOTENCY_TTL_S):
            return execution_id
        existing = await self.redis.get(redis_key)
        if existing is None:
            return execution_id
        claimed, _, digest = _text(existing).partition(" ")
        if digest and body_digest is not None and digest != body_digest:
            raise IdempotencyKeyReused(key, claimed)
        return claimed

    # -- functions ------------------------------------------------------------------------
    async def declare_function(self, name: str, spec: dict[str, Any]) -> None:
        await self.redis.hset(self.keys.functions, name, json.dumps(spec))

    async def http_functions(self) -> dict[str, dict[str, Any]]:
        raw = await self.redis.hgetall(self.keys.functions)
        return {_text(k): json.loads(v) for k, v in raw.items()}


def _expiring(save: Save) -> IndexRow:
    """The save's index row, expiring with the state when the save sets a TTL."""
    assert save.search is not None
    if save.ttl_s <= 0 or save.search.expires_ms:
        return save.search
    return replace(save.search, expires_ms=now_ms() + save.ttl_s * 1000)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def now_ms() -> int:
    return int(time.time() * 1000)
