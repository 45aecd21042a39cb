"""How long work stalled: pure functions over the executions' audit trails and service logs.

Every message about an execution is keyed by its id, so the execution's partition (of the
start, results and control topics alike: they have the same partition count) is the
producer's `murmur2(id) % partitions`. Each audit entry is a transition the orchestrator
owning that partition saved, stamped with the wall clock of the (one) machine.

- `owned_partitions()`: which partitions a replica held at a moment, from the
  `partitions_assigned` lines its consumer logs (services/infra/kafka.py).
- `takeover()`: after a host is cut off at `cut_at`, the first transition saved on a
  partition that host owned (only a survivor can save it: the cut host cannot reach Redis)
  and the moment every such partition had moved again.
- `longest_pause()`: the longest interval without any transition in a window (what a
  rebalance costs the whole group).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka.partitioner import murmur2

__all__ = [
    "Pause",
    "Takeover",
    "longest_pause",
    "owned_partitions",
    "partition_of",
    "takeover",
    "transitions",
]


def partition_of(key: str, partitions: int) -> int:
    """The partition aiokafka's default partitioner picks for `key` (as the Java client)."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def transitions(docs: Iterable[dict[str, Any]], partitions: int) -> list[tuple[float, int, str]]:
    """(epoch seconds, partition, execution id) of every audit entry, oldest first."""
    out = []
    for doc in docs:
        eid = doc["executionId"]
        part = partition_of(eid, partitions)
        for entry in doc.get("history", []):
            out.append((datetime.fromisoformat(entry["at"]).timestamp(), part, eid))
    out.sort()
    return out


def owned_partitions(log_text: str, topic: str, at: float) -> set[int]:
    """The partitions of `topic` that the process writing `log_text` owned at `at`
    (its last `partitions_assigned` line before `at`; empty once revoked)."""
    owned: set[int] = set()
    for line in log_text.splitlines():
        if '"partitions_' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        when = datetime.fromisoformat(event["timestamp"]).timestamp()
        if when > at:
            break
        names = [p.rpartition(":") for p in event.get("partitions", [])]
        mine = {int(n) for t, _, n in names if t == topic}
        if event.get("event") == "partitions_assigned":
            owned = mine
        elif event.get("event") == "partitions_revoked":
            owned -= mine
    return owned


@dataclass(frozen=True)
class Takeover:
    orphaned: tuple[int, ...]  # partitions the cut host owned
    first_s: float | None  # cut -> first transition saved on one of them (None: never)
    all_s: float | None  # cut -> every orphaned partition with work after the cut moved
    resumed: dict[int, float]  # partition -> seconds from the cut to its first transition


def takeover(
    events: list[tuple[float, int, str]], orphaned: set[int], cut_at: float, until: float
) -> Takeover:
    """Seconds from `cut_at` until the orphaned partitions moved again (before `until`,
    the moment the host came back)."""
    resumed: dict[int, float] = {}
    for when, part, _ in events:
        if cut_at < when <= until and part in orphaned and part not in resumed:
            resumed[part] = when - cut_at
    first = min(resumed.values(), default=None)
    last = max(resumed.values(), default=None)
    return Takeover(tuple(sorted(orphaned)), first, last, resumed)


@dataclass(frozen=True)
class Pause:
    seconds: float  # the longest interval without a transition (0 when fewer than two)
    start: float  # epoch seconds of the transition before it


def longest_pause(events: list[tuple[float, int, str]], start: float, end: float) -> Pause:
    """The longest gap between consecutive transitions at or after `start`, until `end`."""
    times = [when for when, _, _ in events if start <= when <= end]
    best = Pause(0.0, start)
    for before, after in itertools.pairwise(times):
        if after - before > best.seconds:
            best = Pause(after - before, before)
    return best
