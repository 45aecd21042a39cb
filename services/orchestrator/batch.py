"""What one orchestrator batch carries: the per-batch object of `Orchestrator.process`.

`StateCache` keeps the saved state documents of the executions whose partitions this replica
owns, so a result costs no Redis read: it is cleared when partitions are revoked or a batch
fails, and an entry is dropped when its save is fenced (another writer got there first).
It holds the JSON documents, and beside each the state object it was dumped from after a
save; the object is handed to one transition only, and whatever fails or is refused starts
again from the document, so nothing a failed or refused transition touched in memory can
leak into the next.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from workflows.services.core.engine import Transition
from workflows.services.core.state import ExecutionState

__all__ = ["Applied", "Batch", "CachedState", "StateCache"]


@dataclass(frozen=True, slots=True)
class CachedState:
    """An execution as last saved: its revision and document (None: not started), and the
    state object that document was dumped from, when this replica saved it (saves a parse
    per result). Taken by the next batch that applies a record to it (`take_state`): a
    transition changes the object in place, so it is never handed out twice. `row`: the
    search index row saved with it, so that a save that leaves the row as it was (most
    steps: the row changes with the status and the attributes) does not write it again."""

    rev: int
    doc: str | None
    state: ExecutionState | None = None
    row: str | None = None  # the search index row last written for it (`IndexRow.body`)


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

    def take_state(self, execution_id: str) -> ExecutionState | None:
        """The cached state object, once: the entry keeps only its document afterwards."""
        found = self._items.get(execution_id)
        if found is None or found.state is None:
            return None
        self._items[execution_id] = CachedState(found.rev, found.doc, None, found.row)
        return found.state

    def row_of(self, execution_id: str) -> str | None:
        """The index row body last written with this execution's state (None: unknown)."""
        found = self._items.get(execution_id)
        return found.row if found is not None else None

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
    timers to set, executions to index, KPI samples of ended executions; and the records
    refused (not applied again)."""

    flushed: dict[str, int] = field(default_factory=dict)
    timers: list[tuple[str, int]] = field(default_factory=list)
    index: list[tuple[str, int]] = field(default_factory=list)
    outcomes: list[tuple[str, str, int]] = field(default_factory=list)  # workflow, sample, ms
    refused: set[int] = field(default_factory=set)  # id() of records already dead-lettered

    def count(self, execution_id: str, entries: int) -> None:
        self.flushed[execution_id] = self.flushed.get(execution_id, 0) + entries
