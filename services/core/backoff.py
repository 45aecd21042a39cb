"""Retry delays: fixed, linear or exponential backoff with a cap and deterministic jitter (pure)."""

from __future__ import annotations

import hashlib

from workflows.services.core.definition import Backoff

__all__ = ["backoff_delay_ms"]


def _unit_interval(key: str) -> float:
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def backoff_delay_ms(backoff: Backoff, failed_attempts: int, jitter_key: str = "") -> int:
    """Delay before the next attempt after `failed_attempts` failures (1 -> initialDelay).

    `fixed`: `initialDelay`; `linear`: `initialDelay * n`; `exponential` (the default):
    `initialDelay * multiplier**(n-1)`. Then capped by `maxDelay`; with `jitter` j the delay is
    spread uniformly over `[d*(1-j), d*(1+j)]` (then capped again). The jitter is derived
    from `jitter_key` (execution, step, attempt) so a replayed transition computes the same
    delay, yet executions failing together spread out.
    """
    failed = max(failed_attempts, 1)
    if backoff.kind == "fixed":
        delay: float = backoff.initial_delay
    elif backoff.kind == "linear":
        delay = backoff.initial_delay * failed
    else:
        delay = backoff.initial_delay * backoff.multiplier ** (failed - 1)
    if backoff.max_delay is not None:
        delay = min(delay, backoff.max_delay)
    if backoff.jitter:
        spread = 2 * _unit_interval(jitter_key) - 1
        delay = delay * (1 + backoff.jitter * spread)
        if backoff.max_delay is not None:
            delay = min(delay, backoff.max_delay)
    return max(round(delay), 0)
