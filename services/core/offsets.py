"""Which Kafka offsets may be committed when records finish out of order (pure, no I/O).

A consumer that runs its records concurrently finishes them in any order, but a committed
offset says "everything before me is done". Per partition, the committable offset is one past
the longest done prefix of the records handed out: a slow record holds back the commit of the
records after it (they run again after a crash, which the idempotency keys absorb), never
their processing.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

__all__ = ["OffsetTracker"]

P = TypeVar("P", bound=Hashable)


class OffsetTracker(Generic[P]):
    def __init__(self) -> None:
        self._open: dict[P, dict[int, bool]] = {}  # partition -> offset -> done

    def started(self, partition: P, offset: int) -> None:
        self._open.setdefault(partition, {}).setdefault(offset, False)

    def finished(self, partition: P, offset: int) -> None:
        records = self._open.get(partition)
        if records is not None and offset in records:
            records[offset] = True

    def committable(self, *, peek: bool = False) -> dict[P, int]:
        """Next offset to commit per partition whose done prefix is not empty.

        The prefix is forgotten unless `peek`; then call `committed()` once the commit went
        through (a failed commit leaves the prefix to be committed next time).
        """
        found: dict[P, int] = {}
        for partition, records in self._open.items():
            for offset in sorted(records):
                if not records[offset]:
                    break
                found[partition] = offset + 1
        if not peek:
            self.committed(found)
        return found

    def committed(self, offsets: dict[P, int]) -> None:
        """Forget the records before each committed offset."""
        for partition, upto in offsets.items():
            records = self._open.get(partition, {})
            for offset in [o for o in records if o < upto]:
                del records[offset]

    def forget(self, partitions: Iterable[P]) -> None:
        """Drop partitions this consumer no longer owns (their new owner redelivers)."""
        for partition in partitions:
            self._open.pop(partition, None)

    @property
    def in_flight(self) -> int:
        return sum(1 for records in self._open.values() for done in records.values() if not done)
