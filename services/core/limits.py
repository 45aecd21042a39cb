"""Back-pressure limits as data, and the pure arithmetic around them (no I/O).

Two kinds of limit, both enforced by the dispatcher (and the Python worker) with Redis leases
(`services/infra/leases.py`):

- a **function limit**, declared with `PUT /limits/functions/{name}`::

      {"concurrency": 2, "rateLimit": {"limit": 10, "periodSeconds": 1}, "leaseSeconds": 30}

  `concurrency` caps the calls of the function running at once across every dispatcher and
  worker replica (Conductor's `concurrentExecLimit`); `rateLimit` caps the calls started per
  period (Conductor's `rateLimitPerFrequency` / `rateLimitFrequencyInSeconds`).
- a **workflow rate limit**, the `rateLimit` block of a workflow definition::

      rateLimit: {limit: 100, periodSeconds: 60}

  caps the executions of the workflow admitted per period: an execution over the limit waits
  before its first step runs; an admitted execution is never held back again.

A command that finds no free slot is parked (a durable timer), never awaited in a consumer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from workflows.services.core.durations import DurationMs

__all__ = [
    "DEFAULT_LEASE_S",
    "CircuitBreaker",
    "FunctionLimit",
    "Held",
    "LimitDecision",
    "RateLimit",
    "holder_id",
    "park_delay_ms",
    "rate_window_ms",
]

DEFAULT_LEASE_S = 30
ADMISSION_MEMORY_S = 24 * 3600  # an admitted execution is remembered this long


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class RateLimit(_Model):
    """At most `limit` starts in any window of `periodSeconds` (a sliding window)."""

    limit: int = Field(ge=1, le=1_000_000, description="starts allowed per period")
    period_seconds: float = Field(default=1.0, gt=0, le=86_400, description="window, seconds")


class CircuitBreaker(_Model):
    """Per-function circuit breaker (`workflows.services.dispatcher.breaker`), shared by replicas.

    After `failureThreshold` failed calls in a row the circuit opens: for `resetAfter` every
    call fails at once with `CircuitOpen` (not retryable, so the step's fallback or catch runs
    instead of waiting out timeouts). Then it is half open: `halfOpenCalls` trial calls go
    through; when that many succeed it closes, one failure opens it again.
    """

    failure_threshold: int = Field(ge=1, le=10_000, description="failures in a row that open it")
    reset_after: DurationMs = Field(ge=1, le=86_400_000, description="ms or text, e.g. '30s'")
    half_open_calls: int = Field(default=1, ge=1, le=1000, description="trial calls to close")


class FunctionLimit(_Model):
    """Limits of one function, shared by every replica that calls it."""

    concurrency: int | None = Field(
        default=None, ge=1, le=100_000, description="calls running at once, all replicas"
    )
    rate_limit: RateLimit | None = Field(default=None, description="calls started per period")
    circuit_breaker: CircuitBreaker | None = Field(
        default=None, description="fail fast with CircuitOpen after repeated failures"
    )
    lease_seconds: int = Field(
        default=DEFAULT_LEASE_S,
        ge=1,
        le=3600,
        description="a slot whose holder stops renewing frees after this long",
    )


@dataclass(frozen=True, slots=True)
class LimitDecision:
    """The answer of a limit check: go ahead, or try again after `retry_after_ms`."""

    acquired: bool
    retry_after_ms: int = 0
    limit: str = ""  # which limit said no, e.g. `fn:charge` or `wf:onboarding:rate`
    queued: bool = False  # it waits in its function's queue (`infra.waiting`): do not park it


@dataclass(frozen=True, slots=True)
class Held:
    """One holder of a limit's slot and when its lease (or window entry) expires."""

    limit: str
    holder: str
    expires_at_ms: int


def holder_id(worker_id: str, command_id: str) -> str:
    """Who holds a slot: the process and the step attempt, `<worker id>/<command id>`."""
    return f"{worker_id}/{command_id}"


def rate_window_ms(rate: RateLimit) -> int:
    return max(1, round(rate.period_seconds * 1000))


def park_delay_ms(
    retry_after_ms: int,
    *,
    min_ms: int,
    max_ms: int,
    jitter: float = 0.2,
    rng: random.Random | None = None,
) -> int:
    """How long a command that found no free slot stays parked before it tries again.

    `retry_after_ms` is the limit's own hint (when the oldest lease or window entry expires);
    a slot released early is found by the next try, so the wait is capped at `max_ms`.
    A jitter spreads the retries of many parked commands.
    """
    if min_ms > max_ms:
        raise ValueError(f"park_delay_ms: min_ms {min_ms} > max_ms {max_ms}")
    base = min(max(retry_after_ms, min_ms), max_ms)
    spread = (rng or random).uniform(-jitter, jitter) * base
    return max(min_ms, round(base + spread))
