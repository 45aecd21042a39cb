"""A small HDR-style histogram: log-bucketed counts with bounded relative error.

Values are recorded in microseconds (integers). Each power of two is split into
`SUB_BUCKETS` linear sub-buckets, so a reported percentile is within 1/SUB_BUCKETS
(< 1 %) of the recorded value, whatever the range, in constant memory per bucket.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["SUB_BUCKETS", "Histogram"]

SUB_BUCKETS = 128  # per power of two: relative error <= 1/128
_SHIFT = SUB_BUCKETS.bit_length() - 1  # 7


def _index(value: int) -> int:
    """Bucket index of a non-negative integer value (exact below SUB_BUCKETS)."""
    if value < SUB_BUCKETS:
        return value
    exponent = value.bit_length() - 1 - _SHIFT
    return (exponent + 1) * SUB_BUCKETS + ((value >> exponent) - SUB_BUCKETS)


def _upper(index: int) -> int:
    """Highest value that lands in bucket `index` (the value reported for it)."""
    if index < SUB_BUCKETS:
        return index
    exponent = index // SUB_BUCKETS - 1
    mantissa = index % SUB_BUCKETS + SUB_BUCKETS
    return ((mantissa + 1) << exponent) - 1


class Histogram:
    """Latency histogram in microseconds; `summary()` reports milliseconds."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.total = 0
        self.min = 0
        self.max = 0

    def record(self, micros: float) -> None:
        value = max(0, round(micros))
        idx = _index(value)
        self.counts[idx] = self.counts.get(idx, 0) + 1
        if self.count == 0 or value < self.min:
            self.min = value
        self.max = max(self.max, value)
        self.count += 1
        self.total += value

    def record_ms(self, millis: float) -> None:
        self.record(millis * 1000.0)

    def record_seconds(self, seconds: float) -> None:
        self.record(seconds * 1_000_000.0)

    def extend(self, values_ms: Iterable[float]) -> Histogram:
        for value in values_ms:
            self.record_ms(value)
        return self

    def merge(self, other: Histogram) -> None:
        for idx, n in other.counts.items():
            self.counts[idx] = self.counts.get(idx, 0) + n
        if other.count:
            self.min = other.min if self.count == 0 else min(self.min, other.min)
            self.max = max(self.max, other.max)
        self.count += other.count
        self.total += other.total

    def percentile(self, pct: float) -> int:
        """Value (µs) at or below which `pct` percent of the recorded values lie."""
        if self.count == 0:
            return 0
        rank = max(1, math.ceil(pct / 100.0 * self.count))
        seen = 0
        for idx in sorted(self.counts):
            seen += self.counts[idx]
            if seen >= rank:
                return min(_upper(idx), self.max)
        return self.max

    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def summary(self) -> dict[str, Any]:
        """count, min, mean, p50, p95, p99, max — in milliseconds, 3 decimals."""

        def ms(micros: float) -> float:
            return round(micros / 1000.0, 3)

        return {
            "count": self.count,
            "min": ms(self.min),
            "mean": ms(self.mean()),
            "p50": ms(self.percentile(50)),
            "p95": ms(self.percentile(95)),
            "p99": ms(self.percentile(99)),
            "max": ms(self.max),
        }
