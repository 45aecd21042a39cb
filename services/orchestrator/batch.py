"""What one orchestrator batch carries: the per-batch object of `Orchestrator.process`.

`StateCache` keeps the saved state documents of the executions whose partitions this replica
owns, so a result costs no Redis read: it is cleared when partitions are revoked or a batch
fails, and an entry is dropped when its save is fenced (another writer got there first).
It holds the JSON documents, never live objects: a transition always starts from a fresh
parse, so nothing a failed or refused transition touched in memory can leak into the next.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from services.core.engine import Transition
from services.core.state import ExecutionState

__all__ = ["Applied", "Batch", "CachedState", "StateCache"]


@dataclass(frozen=True, slots=True)
class CachedState:
    """An execution as last saved: its revision and document (None: not started)."""

    rev: int
    doc: str | None


class StateCache:
    """A bounded LRU of `CachedState` by execution id."""

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, CachedState] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, execution_id: str) -> CachedState | None:
        found = self._items.get(execution_id)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        self._items.move_to_end(execution_id)
        return found

    def __contains__(self, execution_id: object) -> bool:
        return execution_id in self._items

    def put(self, execution_id: str, cached: CachedState) -> None:
        self._items[execution_id] = cached
        self._items.move_to_end(execution_id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def drop(self, execution_id: str) -> None:
        self._items.pop(execution_id, None)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


@dataclass(slots=True)
class Applied:
    """One execution's outcome in a batch: the state to save and what its transitions caused."""

    execution_id: str
    rev: int
    state: ExecutionState | None = None
    doc: str | None = None
    entries: list[str] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)


@dataclass(slots=True)
class Batch:
    """What a batch flushed, for the trim that follows: outbox entries flushed per execution,
    timers to set, executions to index; and the records refused (not applied again)."""

    flushed: dict[str, int] = field(default_factory=dict)
    timers: list[tuple[str, int]] = field(default_factory=list)
    index: list[tuple[str, int]] = field(default_factory=list)
    refused: set[int] = field(default_factory=set)  # id() of records already dead-lettered

    def count(self, execution_id: str, entries: int) -> None:
        self.flushed[execution_id] = self.flushed.get(execution_id, 0) + entries
