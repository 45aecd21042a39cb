"""One way to connect to Redis: a single server or a Redis Cluster, chosen by the URL scheme.

| `WORKFLOWS_REDIS_URL` | client |
|---|---|
| `redis://host:port/0`, `rediss://...`, `unix://...` | `redis.asyncio.Redis` (one server) |
| `redis+cluster://host:port`, `rediss+cluster://...` | `redis.asyncio.cluster.RedisCluster` |

For a cluster the URL names any one node (a seed); the client discovers the others and
follows the slot map (MOVED/ASK). The store works the same on both because every script and
every MULTI/EXEC touches one slot (see `workflows.services.infra.keys`).

A failover (a master dies, its replica is promoted) takes about `cluster-node-timeout` plus
an election. The cluster client rides through it: commands and pipelines that hit a dead
node, `CLUSTERDOWN` or an uncovered slot are retried with a capped backoff for up to
`redis_failover_s` seconds; redis-py's own loop retries those without sleeping, which
would give up within milliseconds. Lua scripts survive a failover too: a `NOSCRIPT` from
the promoted replica makes redis-py's `Script` load the script again and retry.

`queue_wait()` narrows the window in which asynchronous replication can lose an
acknowledged write: see README "Redis Cluster".
"""

from __future__ import annotations

import asyncio
import builtins
import time
import urllib.parse
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any, TypeAlias

import redis
import redis.cluster
import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    RedisError,
    SlotNotCoveredError,
    TimeoutError,
    TryAgainError,
)

from workflows.services.infra.settings import Settings

__all__ = [
    "CLUSTER_SCHEMES",
    "RedisClient",
    "RedisPipeline",
    "RedisUnavailable",
    "connect_redis",
    "connect_redis_url",
    "connect_redis_url_sync",
    "is_cluster_url",
    "queue_wait",
    "safe_url",
    "wait_for_redis",
]

log = structlog.get_logger(__name__)

RedisClient: TypeAlias = Redis | RedisCluster
RedisPipeline: TypeAlias = Pipeline | ClusterPipeline

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
_FAILOVER_ERRORS = (
    ConnectionError,
    TimeoutError,
    ClusterDownError,
    SlotNotCoveredError,
    TryAgainError,
)
_PIPELINE_RETRY_SLEEP_S = 0.25  # what redis-py's cluster pipeline sleeps between retries


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def _plain_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{CLUSTER_SCHEMES[scheme.lower()]}://{rest}"


# Set while a command or pipeline of this task runs, so that redis-py's own `aclose()` calls
# (after CLUSTERDOWN, repeated MOVED, or a failed pipeline) can be told from the owner's.
_IN_COMMAND: ContextVar[bool] = ContextVar("redis_cluster_in_command", default=False)


class _FailoverRidingCluster(RedisCluster):
    """A RedisCluster that rides through a failover while many tasks share it.

    - Single commands retry with a capped backoff for `failover_s` (redis-py retries
      connection errors without sleeping, so it gives up long before a replica is promoted).
    - redis-py reacts to CLUSTERDOWN, repeated MOVED and failed pipelines by closing every
      connection of the client, including those other tasks are writing to at that moment
      (they fail with `AttributeError: 'NoneType' object has no attribute 'writelines'`).
      Inside a command it only re-reads the slot map instead, as it already does after a
      connection error; `aclose()` called by the owner still closes everything.
    """

    failover_s: float = 10.0

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        token = _IN_COMMAND.set(True)
        try:
            deadline = time.monotonic() + self.failover_s
            delay = 0.05
            while True:
                try:
                    return await super().execute_command(*args, **kwargs)
                except _FAILOVER_ERRORS:
                    if time.monotonic() + delay > deadline:
                        raise
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.5)
        finally:
            _IN_COMMAND.reset(token)

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # raises, as redis-py does
        # redis-py builds ClusterPipeline the same way; `_event_dispatcher` is set by its __init__
        return _RidingPipeline(self, transaction)  # type: ignore[abstract]

    async def aclose(self) -> None:
        if _IN_COMMAND.get():
            self._initialize = True  # the next command re-reads the slot map first
            return
        await super().aclose()


class _RidingPipeline(ClusterPipeline):
    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        token = _IN_COMMAND.set(True)
        try:
            return await super().execute(raise_on_error, allow_redirections)
        finally:
            _IN_COMMAND.reset(token)


def connect_redis_url(
    url: str, *, max_connections: int | None = None, failover_s: float = 10.0, **options: Any
) -> RedisClient:
    """A client for `url`: a RedisCluster for `redis+cluster://`, else a Redis.

    `max_connections` bounds the pool (per node on a cluster); a single server's pool then
    blocks for a free connection instead of failing under a burst.
    """
    if is_cluster_url(url):
        retries = max(int(failover_s / _PIPELINE_RETRY_SLEEP_S), 1)
        client = _FailoverRidingCluster.from_url(
            _plain_url(url),
            retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries),
            max_connections=max_connections or 100,
            **options,
        )
        assert isinstance(client, _FailoverRidingCluster)  # from_url builds `cls`
        client.failover_s = failover_s
        return client
    if max_connections is None:
        return Redis.from_url(url, **options)
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=30, **options
    )
    return Redis(connection_pool=pool)


def connect_redis_url_sync(url: str, **options: Any) -> redis.Redis | redis.cluster.RedisCluster:
    """A blocking client for `url` (e.g. functions that keep their own data in the same Redis)."""
    if is_cluster_url(url):
        return redis.cluster.RedisCluster.from_url(_plain_url(url), **options)
    return redis.Redis.from_url(url, **options)


def safe_url(url: str) -> str:
    """`url` without its password, fit for logs and error messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (
        f":{parts.port}" if parts.port else ""
    )
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class RedisUnavailable(builtins.ConnectionError):  # not redis-py's ConnectionError
    """Redis at `url` did not answer a PING within `waited_s` seconds of retries."""

    def __init__(self, url: str, waited_s: float, cause: str) -> None:
        self.url = safe_url(url)
        self.waited_s = waited_s
        self.cause = cause
        tried = f" (retried for {waited_s:.1f} s)" if waited_s > 0.1 else ""
        super().__init__(f"Redis at {self.url} does not answer{tried}: {cause}")


async def wait_for_redis(
    client: RedisClient, url: str, timeout_s: float, first_delay_s: float = 0.2
) -> None:
    """Return once `client` answers a PING; retry with a doubling delay (capped at 5 s),
    logging each wait, for up to `timeout_s`; then RedisUnavailable."""
    started = time.monotonic()
    delay = first_delay_s
    while True:
        try:
            await client.ping()
            return
        except (RedisError, OSError) as exc:
            cause = str(exc).rstrip(".") or type(exc).__name__
        waited = time.monotonic() - started
        if waited + delay > timeout_s:
            raise RedisUnavailable(url, waited, cause)
        log.warning("waiting_for_redis", url=safe_url(url), error=cause, retry_in_s=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


def connect_redis(settings: Settings, *, pooled: bool = False, **options: Any) -> RedisClient:
    """The client for `settings.redis_url`; `pooled` bounds it by `redis_max_connections`."""
    return connect_redis_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections if pooled else None,
        failover_s=settings.redis_failover_s,
        **options,
    )


async def queue_wait(
    client: RedisClient, pipe: RedisPipeline, keys: Iterable[str], replicas: int, timeout_ms: int
) -> int:
    """Queue `WAIT replicas timeout_ms` behind the writes to `keys` on `pipe`; how many queued.

    WAIT counts the replicas that acknowledged the writes of its own connection, so it is
    queued on the pipeline that wrote: a single server gets one, a cluster one per master
    that holds any of `keys` (its commands to a node travel on one connection). A master with
    no live replica (its replica was promoted after a failover and nothing replaced it) makes
    every WAIT last `timeout_ms`: keep the timeout short.
    """
    if replicas <= 0:
        return 0
    if isinstance(client, RedisCluster):
        if not client.nodes_manager.slots_cache:  # a new client learns the slot map lazily
            await client.initialize()
        nodes = {}
        for key in keys:
            node = client.get_node_from_key(key)
            if node is not None:
                nodes[node.name] = node
        for node in nodes.values():
            pipe.execute_command("WAIT", replicas, timeout_ms, target_nodes=node)
        return len(nodes)
    pipe.execute_command("WAIT", replicas, timeout_ms)
    return 1
