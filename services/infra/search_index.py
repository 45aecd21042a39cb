"""The execution search index in Redis: rows written with each state save, queries with cursors.

All keys of one namespace's index share the hash tag `{<namespace>}` after `{p}:search:`,
so one script updates every structure of an execution's row atomically on a Redis Cluster
too (one slot per namespace):

| key | type | holds |
|---|---|---|
| `{p}:search:{<ns>}:rows` | hash | execution id -> `<rev>|<row JSON>` (what it is indexed by) |
| `{p}:search:{<ns>}:all` | zset (lex) | `<start ms (13 digits)>\\0<id>`: all, by start time |
| `{p}:search:{<ns>}:k:<column>` | zset (lex) | `<value>\\0<start>\\0<id>`: a keyword column |
| `{p}:search:{<ns>}:n:<column>` | zset | id by value: a number or time column (times in epoch ms) |
| `{p}:search:{<ns>}:expires` | zset | id by when its state expires (ms), for the purge |
| `{p}:search:{<ns>}:types` | hash | attribute name -> keyword/number/time (the query's columns) |

A row is written by the state save's pipeline (`StateStore.save_many`, the same round trip)
with the revision the save gives the state; the script ignores a row not newer than the
one it holds, so a replay, a re-flush or a late reply never moves the index backwards.
Rows of ended executions carry their state's expiry and are purged (every structure) by
`purge`, which the query path runs first: the index never outlives the state.

Queries (`workflows.services.core.search_query`) are answered newest first by start time, in pages
with an opaque cursor (the position after the last row): the planner counts each
predicate's candidates (ZLEXCOUNT/ZCOUNT, O(log n)) and either walks the smallest ordered
range (a keyword equality, or start time) newest first, testing the other predicates on
the rows, or, when an unordered predicate (a number range, IN, a prefix) is far smaller,
reads all its candidates and sorts them. A walk reads at most `SCAN_BUDGET` rows per page;
a page may then hold fewer than `limit` executions and still have a cursor to go on.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.namespaces import namespace_of
from workflows.services.core.search_attributes import BUILTIN_COLUMNS, SearchAttribute
from workflows.services.core.search_query import Predicate, Query, QueryError, Value, query_matches
from workflows.services.core.search_rows import index_values
from workflows.services.core.state import ExecutionState
from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import RedisClient

__all__ = [
    "SCAN_BUDGET",
    "IndexRow",
    "SearchIndex",
    "SearchPage",
    "decode_cursor",
    "encode_cursor",
    "index_row",
    "row_for",
]

SCAN_BUDGET = 20_000  # rows a walk reads per page at most
UNORDERED_MAX = 20_000  # candidates read whole (then sorted) at most
CHUNK = 2000  # index entries per read of a walk at most
SEP = "\x00"
TOP = "\uffff"  # above every character; sent to Redis as the byte 0xff

_REMOVE = """
local function remove(p, eid, stored)
  local bar = string.find(stored, '|', 1, true)
  local o = cjson.decode(string.sub(stored, bar + 1))
  local sk = o.s .. '\\0' .. eid
  redis.call('ZREM', p .. 'all', sk)
  for col, v in pairs(o.k) do redis.call('ZREM', p .. 'k:' .. col, v .. '\\0' .. sk) end
  for col, _ in pairs(o.n) do redis.call('ZREM', p .. 'n:' .. col, eid) end
end
"""

# KEYS: rows, expires, types; ARGV: prefix, id, rev, row JSON, expires ms, force (1: a row
# of the same revision is replaced too), [name, type]...
_PUT = (
    _REMOVE
    + """
local p, eid, rev, body = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local old = redis.call('HGET', KEYS[1], eid)
if old then
  local bar = string.find(old, '|', 1, true)
  local held = tonumber(string.sub(old, 1, bar - 1))
  if held > rev or (held == rev and ARGV[6] ~= '1') then return 0 end
  if string.sub(old, bar + 1) == body then
    redis.call('HSET', KEYS[1], eid, ARGV[3] .. '|' .. body)
    return 2
  end
  remove(p, eid, old)
end
local n = cjson.decode(body)
local sk = n.s .. '\\0' .. eid
redis.call('ZADD', p .. 'all', 0, sk)
for col, v in pairs(n.k) do redis.call('ZADD', p .. 'k:' .. col, 0, v .. '\\0' .. sk) end
for col, v in pairs(n.n) do redis.call('ZADD', p .. 'n:' .. col, v, eid) end
redis.call('HSET', KEYS[1], eid, ARGV[3] .. '|' .. body)
local exp = tonumber(ARGV[5])
if exp > 0 then redis.call('ZADD', KEYS[2], exp, eid) else redis.call('ZREM', KEYS[2], eid) end
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
return 1
"""
)

# KEYS: rows, expires; ARGV: prefix, now ms, limit
_PURGE = (
    _REMOVE
    + """
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, eid in ipairs(due) do
  local old = redis.call('HGET', KEYS[1], eid)
  if old then remove(ARGV[1], eid, old) end
  redis.call('HDEL', KEYS[1], eid)
  redis.call('ZREM', KEYS[2], eid)
end
return due
"""
)


@dataclass(frozen=True, slots=True)
class IndexRow:
    """What one execution is indexed by, as of revision `rev` of its state."""

    namespace: str
    execution_id: str
    start_ms: int
    keywords: Mapping[str, str]
    scores: Mapping[str, float]
    types: Mapping[str, str] = field(default_factory=dict)  # attribute name -> type
    expires_ms: int = 0
    attributes: Mapping[str, SearchAttribute] | None = field(default=None, compare=False)

    def body(self) -> str:
        data = {
            "s": f"{self.start_ms:013d}",
            "k": dict(sorted(self.keywords.items())),
            "n": {k: repr(v) for k, v in sorted(self.scores.items())},
        }
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def index_row(
    state: ExecutionState,
    attributes: Mapping[str, SearchAttribute] | None,
    ttl_s: int = 0,
    now_ms: int | None = None,
) -> IndexRow:
    """The row of `state` (its definition's attributes, None when unknown); `ttl_s` > 0: it
    expires with the state, `ttl_s` from now."""
    keywords, scores = index_values(state, attributes or {})
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return IndexRow(
        namespace=namespace_of(state.workflow),
        execution_id=state.execution_id,
        start_ms=max(0, int(state.created_at.timestamp() * 1000)),
        keywords=keywords,
        scores=scores,
        types={n: a.type for n, a in (attributes or {}).items()},
        expires_ms=now + ttl_s * 1000 if ttl_s > 0 else 0,
        attributes=attributes,
    )


class _Definitions(Protocol):
    def cached(self, name: str, version: int) -> CompiledWorkflow | None: ...


def row_for(state: ExecutionState | None, definitions: _Definitions) -> IndexRow | None:
    """The row of a state about to be saved (None: nothing to save), with the attributes of
    its definition as compiled in `definitions` (the orchestrator compiled it to apply)."""
    if state is None:
        return None
    workflow = definitions.cached(state.workflow, state.workflow_version)
    return index_row(state, workflow.definition.search_attributes if workflow else None)


def encode_cursor(sort_key: str) -> str:
    return base64.urlsafe_b64encode(sort_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The sort key a cursor holds; ValueError for one this index never gave."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise ValueError("cursor: not a cursor this API gave") from None
    start, sep, eid = raw.partition(SEP)
    if not sep or len(start) != 13 or not start.isdigit() or not eid:
        raise ValueError("cursor: not a cursor this API gave")
    return raw


@dataclass(frozen=True, slots=True)
class SearchPage:
    ids: list[str]
    cursor: str | None  # to read the next page; None: no more
    scanned: int  # index entries read (for the curious and the bench)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _row_values(stored: str) -> dict[str, Value]:
    body = json.loads(stored.partition("|")[2])
    values: dict[str, Value] = {"startedAt": float(int(body["s"]))}
    values.update(body["k"])
    values.update({k: float(v) for k, v in body["n"].items()})
    return values


_Range = tuple[str, str, str, bool]  # key, min, max, lex (else by score)
_Ordered = tuple[int, str, str, str, int, Predicate | None]
_Unordered = tuple[int, Predicate, list[_Range]]


def _b(bound: str) -> bytes | str:
    """A lex bound as Redis compares it: TOP as the byte 0xff (no UTF-8 text holds it)."""
    if bound in ("-", "+"):
        return bound
    return bound.encode().replace(TOP.encode(), b"\xff")


def _score(v: Value) -> str:
    return repr(float(v))


class SearchIndex:
    def __init__(self, redis: RedisClient, prefix: str = "wf") -> None:
        self.redis = redis
        self.prefix = prefix
        self.keys = Keys(prefix)
        self._cluster = isinstance(redis, RedisCluster)
        self._put = redis.register_script(_PUT)
        self._purge = redis.register_script(_PURGE)

    def base(self, namespace: str) -> str:
        return self.keys.search(namespace)

    # -- writing ------------------------------------------------------------------------
    def queue_put(self, pipe: Any, row: IndexRow, rev: int, force: bool = False) -> None:
        """Queue the row's write in `pipe` (e.g. the state save's pipeline); `force`: replace
        a row of the same revision too (a row read back from the stored state)."""
        base = self.base(row.namespace)
        keys = [base + "rows", base + "expires", base + "types"]
        args: list[str] = [
            base,
            row.execution_id,
            str(rev),
            row.body(),
            str(row.expires_ms),
            "1" if force else "0",
        ]
        for name, kind in sorted(row.types.items()):
            args += [name, kind]
        if self._cluster:  # redis-py refuses EVALSHA in a cluster pipeline
            pipe.eval(_PUT, len(keys), *keys, *args)
        else:
            pipe.evalsha(self._put.sha, len(keys), *keys, *args)

    async def put_many(self, rows: Sequence[tuple[IndexRow, int]], force: bool = False) -> None:
        """Write rows (row, revision) in one pipeline (loading the script if Redis lost it)."""
        for _ in range(2):
            async with self.redis.pipeline(transaction=False) as pipe:
                for row, rev in rows:
                    self.queue_put(pipe, row, rev, force)
                replies = await pipe.execute(raise_on_error=False)
            missing = [
                r
                for r, reply in zip(rows, replies, strict=True)
                if isinstance(reply, NoScriptError)
            ]
            for reply in replies:
                if isinstance(reply, Exception) and not isinstance(reply, NoScriptError):
                    raise reply
            if not missing:
                return
            await self.redis.script_load(_PUT)
            rows = missing
        raise RuntimeError("the search index script could not be loaded into Redis")

    async def purge(self, namespace: str, now_ms: int | None = None, limit: int = 1000) -> int:
        """Drop the rows whose state expired (at most `limit`); how many were dropped."""
        return len(await self.purge_ids(namespace, now_ms, limit))

    async def purge_ids(
        self, namespace: str, now_ms: int | None = None, limit: int = 1000
    ) -> list[str]:
        """Drop the rows whose state expired (at most `limit`); the executions dropped."""
        base = self.base(namespace)
        now = int(time.time() * 1000) if now_ms is None else now_ms
        dropped = await self._purge(keys=[base + "rows", base + "expires"], args=[base, now, limit])
        return [_text(eid) for eid in dropped or ()]

    # -- reading ------------------------------------------------------------------------
    async def columns(self, namespace: str) -> dict[str, str]:
        """Column -> type: the built-in ones and the attributes indexed in the namespace."""
        declared = await self.redis.hgetall(self.base(namespace) + "types")
        return {**{_text(k): _text(v) for k, v in declared.items()}, **BUILTIN_COLUMNS}

    async def search(
        self, namespace: str, query: Query, limit: int = 50, cursor: str | None = None
    ) -> SearchPage:
        """One page of execution ids matching `query`, newest first; ValueError for a bad
        cursor."""
        after = decode_cursor(cursor) if cursor else None
        base = self.base(namespace)
        ordered, unordered = await self._plan(base, query)
        best_ordered = min(ordered, key=lambda d: d[0])
        if unordered:
            best = min(unordered, key=lambda d: d[0])
            if best[0] <= UNORDERED_MAX and best[0] * 4 < best_ordered[0]:
                return await self._gather(base, query, best[2], limit, after)
        _, key, lo, hi, prefix_len, driver = best_ordered
        return await self._walk(base, query, key, lo, hi, prefix_len, driver, limit, after)

    async def _plan(self, base: str, query: Query) -> tuple[list[_Ordered], list[_Unordered]]:
        """Count each predicate's candidates: ordered ranges (walkable newest first) as
        (count, key, lex min, lex max, prefix length, predicate); unordered ones as
        (count, predicate)."""
        lo, hi = "-", "+"
        for p in query.predicates:  # startedAt bounds narrow the walk of `all`
            if p.column != "startedAt" or p.op not in ("=", "<", "<=", ">", ">="):
                continue
            ms = int(float(p.values[0]))
            if p.op in (">", ">="):
                bound = ms + (1 if p.op == ">" else 0)
                floor = f"[{max(bound, 0):013d}"
                lo = floor if lo == "-" else max(lo, floor)
            if p.op in ("<", "<="):
                bound = ms - (1 if p.op == "<" else 0)
                cand = f"[{bound:013d}{SEP}{TOP}"
                hi = cand if hi == "+" else min(hi, cand)
            if p.op == "=":
                lo, hi = f"[{ms:013d}{SEP}", f"[{ms:013d}{SEP}{TOP}"
        ordered_specs: list[tuple[str, str, str, int, Predicate | None]] = [
            (base + "all", lo, hi, 0, None)
        ]
        unordered_specs: list[tuple[Predicate, list[_Range]]] = []
        for p in query.predicates:
            if p.kind == "keyword":
                key = base + "k:" + p.column
                if p.op == "=":
                    value = str(p.values[0])
                    ordered_specs.append(
                        (key, f"[{value}{SEP}", f"[{value}{SEP}{TOP}", len(value) + 1, p)
                    )
                elif p.op == "in":
                    ranges = [(key, f"[{v}{SEP}", f"[{v}{SEP}{TOP}", True) for v in p.values]
                    unordered_specs.append((p, ranges))
                elif p.op == "prefix":
                    value = str(p.values[0])
                    unordered_specs.append((p, [(key, f"[{value}", f"[{value}{TOP}", True)]))
            elif p.column != "startedAt" and p.op != "!=":
                key = base + "n:" + p.column
                if p.op == "in":
                    ranges = [(key, _score(v), _score(v), False) for v in p.values]
                else:
                    v = _score(p.values[0])
                    mn, mx = {
                        "=": (v, v),
                        "<": ("-inf", "(" + v),
                        "<=": ("-inf", v),
                        ">": ("(" + v, "+inf"),
                        ">=": (v, "+inf"),
                    }[p.op]
                    ranges = [(key, mn, mx, False)]
                unordered_specs.append((p, ranges))
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, mn, mx, _, _ in ordered_specs:
                pipe.zlexcount(key, _b(mn), _b(mx))
            for _, ranges in unordered_specs:
                for key, mn, mx, lex in ranges:
                    if lex:
                        pipe.zlexcount(key, _b(mn), _b(mx))
                    else:
                        pipe.zcount(key, mn, mx)
            counts = [int(c) for c in await pipe.execute()]
        ordered = [
            (counts[i], key, mn, mx, plen, p)
            for i, (key, mn, mx, plen, p) in enumerate(ordered_specs)
        ]
        unordered: list[_Unordered] = []
        i = len(ordered_specs)
        for p, ranges in unordered_specs:
            unordered.append((sum(counts[i : i + len(ranges)]), p, ranges))
            i += len(ranges)
        return ordered, unordered

    async def _rows(self, base: str, ids: Sequence[str]) -> list[str | None]:
        if not ids:
            return []
        stored = await self.redis.hmget(base + "rows", list(ids))
        return [_text(s) if s is not None else None for s in stored]

    async def _walk(
        self,
        base: str,
        query: Query,
        key: str,
        lo: str,
        hi: str,
        prefix_len: int,
        driver: Predicate | None,
        limit: int,
        after: str | None,
    ) -> SearchPage:
        rest = Query(tuple(p for p in query.predicates if p is not driver))
        needs_rows = any(p.column != "startedAt" for p in rest.predicates)
        if after is not None:
            head = hi[1 : 1 + prefix_len] if prefix_len else ""
            bound = "(" + head + after
            hi = bound if hi == "+" or bound[1:] < hi[1:] else hi
        found: list[str] = []
        last: str | None = None
        scanned = 0
        size = limit + 1 if not rest.predicates else max(2 * limit, 100)
        while len(found) < limit and scanned < SCAN_BUDGET:
            size = min(size, CHUNK, SCAN_BUDGET - scanned)
            raw = await self.redis.zrevrangebylex(key, _b(hi), _b(lo), 0, size)
            chunk = [_text(m) for m in raw]
            if not chunk:
                return SearchPage(found, None, scanned)
            scanned += len(chunk)
            sort_keys = [m[prefix_len:] for m in chunk]
            ids = [sk.partition(SEP)[2] for sk in sort_keys]
            rows = await self._rows(base, ids) if needs_rows else [None] * len(ids)
            for sk, eid, stored in zip(sort_keys, ids, rows, strict=True):
                last = sk
                if rest.predicates:
                    if needs_rows and stored is None:
                        continue
                    values = _row_values(stored) if stored else {"startedAt": float(sk[:13])}
                    if not query_matches(rest, values):
                        continue
                found.append(eid)
                if len(found) >= limit:
                    break
            if len(found) >= limit:
                break
            if len(chunk) < size:
                return SearchPage(found, None, scanned)
            hi = "(" + chunk[-1]
            size *= 2
        return SearchPage(found, encode_cursor(last) if last else None, scanned)

    async def _gather(
        self, base: str, query: Query, ranges: list[_Range], limit: int, after: str | None
    ) -> SearchPage:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, mn, mx, lex in ranges:
                if lex:
                    pipe.zrangebylex(key, _b(mn), _b(mx))
                else:
                    pipe.zrangebyscore(key, mn, mx)
            replies = await pipe.execute()
        ids: list[str] = []
        for (_, _, _, lex), members in zip(ranges, replies, strict=True):
            for m in members:
                text = _text(m)
                ids.append(text.rsplit(SEP, 1)[1] if lex else text)
        ids = list(dict.fromkeys(ids))
        matched: list[str] = []
        for i in range(0, len(ids), 2000):
            part = ids[i : i + 2000]
            for eid, stored in zip(part, await self._rows(base, part), strict=True):
                if stored is None:
                    continue
                values = _row_values(stored)
                if query_matches(query, values):
                    sk = f"{int(values['startedAt']):013d}{SEP}{eid}"
                    if after is None or sk < after:
                        matched.append(sk)
        matched.sort(reverse=True)
        page = matched[:limit]
        more = len(matched) > limit
        return SearchPage(
            [sk.partition(SEP)[2] for sk in page],
            encode_cursor(page[-1]) if more and page else None,
            len(ids),
        )


def check_query_columns(query: Query, columns: Mapping[str, str]) -> None:
    """A parsed query's columns must still have the types it was parsed with."""
    for p in query.predicates:
        if columns.get(p.column) != p.kind:
            raise QueryError(f"unknown column '{p.column}'", p.position)
