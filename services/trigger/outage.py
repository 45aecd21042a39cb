"""Redis refusing writes is an outage, answered as one (issue 20, item 7).

Redis at `maxmemory` with `noeviction` answers writes with `OOM`, one that cannot persist
(a failed RDB save or AOF write with `stop-writes-on-bgsave-error`) with `MISCONF`, a replica
with `READONLY`; an unreachable one raises a connection error. The engine loses nothing
then (nothing is acknowledged that was not written), and the API must say what is wrong:
503 with `Retry-After` and the reason (`storage_refusal`), never a bare 500.

`RedisHealth` keeps the state for `/readyz` (a write probe: `SET <prefix>:readyz-probe`) and
the metrics `workflows_redis_writable` (1/0) and `workflows_redis_refusals_total{reason}`.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.exceptions import (
    BusyLoadingError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["RETRY_AFTER_S", "RedisHealth", "Refusal", "storage_refusal"]

RETRY_AFTER_S = 5
PROBE_TTL_MS = 10_000


class Refusal:
    """Why Redis refused: `code` (a bounded metric label) and a sentence for people."""

    __slots__ = ("code", "detail")

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail

    def message(self) -> str:
        return f"storage unavailable: {self.detail}; retry in {RETRY_AFTER_S} s"


def storage_refusal(exc: BaseException) -> Refusal | None:
    """The refusal `exc` stands for, or None when it is not an outage of Redis."""
    if not isinstance(exc, RedisError):
        return None
    text = str(exc)
    if isinstance(exc, OutOfMemoryError) or "OOM command not allowed" in text:
        return Refusal("oom", "Redis is at maxmemory and refuses writes (OOM)")
    if "MISCONF" in text:
        return Refusal("misconf", "Redis cannot persist to disk and refuses writes (MISCONF)")
    if isinstance(exc, ReadOnlyError) or "READONLY" in text:
        return Refusal("readonly", "Redis is a read-only replica (READONLY)")
    if isinstance(exc, BusyLoadingError) or text.startswith("LOADING"):
        return Refusal("loading", "Redis is loading its data set")
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return Refusal("unreachable", "Redis does not answer")
    if isinstance(exc, ResponseError):
        return None  # a bug (a script error, a wrong type): not an outage
    return Refusal("unreachable", "Redis does not answer")


class RedisHealth:
    """The last known write state of Redis, as metrics and for `/readyz`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.writable = Gauge(
            "workflows_redis_writable",
            "1 while Redis accepts the API's writes, 0 while it refuses them",
            registry=registry,
        )
        self.refusals = Counter(
            "workflows_redis_refusals",
            "API requests and probes refused by Redis (OOM, MISCONF, READONLY, unreachable)",
            ["reason"],
            registry=registry,
        )
        self.writable.set(1)
        self.last: Refusal | None = None
        self.since: float | None = None

    def refused(self, refusal: Refusal) -> None:
        self.refusals.labels(reason=refusal.code).inc()
        self.writable.set(0)
        if self.last is None:
            self.since = time.monotonic()
        self.last = refusal

    def accepted(self) -> None:
        self.writable.set(1)
        self.last = self.since = None
