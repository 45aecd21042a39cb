"""The takeover measurements: pure functions over audit trails and consumer logs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tests.multihost.takeover import (
    longest_pause,
    owned_partitions,
    partition_of,
    takeover,
    transitions,
)

T = "p.wf.executions.start"


def _line(event: str, at: float, parts: list[str]) -> str:
    stamp = datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"group": "g", "partitions": parts, "event": event, "timestamp": stamp})


def test_partition_of_matches_the_java_client_murmur2() -> None:
    # Kafka's DefaultPartitioner test vectors: murmur2("21") = -973932308 etc.
    assert partition_of("21", 2**31 - 1) == (-973932308 & 0x7FFFFFFF) % (2**31 - 1)
    assert {partition_of(f"id{i}", 6) for i in range(200)} == set(range(6))


def test_owned_partitions_is_the_last_assignment_before_the_moment() -> None:
    log = "\n".join(
        [
            "not json",
            _line("partitions_assigned", 100.0, [f"{T}:0", f"{T}:1", "other:5"]),
            '{"event": "timer_round_failed", "timestamp": "x"}',
            _line("partitions_revoked", 110.0, [f"{T}:1"]),
            _line("partitions_assigned", 120.0, [f"{T}:2"]),
        ]
    )
    assert owned_partitions(log, T, 99.0) == set()
    assert owned_partitions(log, T, 105.0) == {0, 1}
    assert owned_partitions(log, T, 115.0) == {0}
    assert owned_partitions(log, T, 130.0) == {2}


def _doc(eid: str, *times: float) -> dict[str, Any]:
    history = [{"at": datetime.fromtimestamp(t, UTC).isoformat()} for t in times]
    return {"executionId": eid, "history": history}


def test_takeover_is_the_first_transition_on_an_orphaned_partition_after_the_cut() -> None:
    ids = {partition_of(f"e{i}", 2): f"e{i}" for i in range(10)}
    orphan, survivor = ids[0], ids[1]
    events = transitions([_doc(orphan, 90.0, 95.0, 112.5), _doc(survivor, 100.5, 101.0)], 2)
    assert [round(t, 1) for t, _, _ in events] == [90.0, 95.0, 100.5, 101.0, 112.5]
    result = takeover(events, {0}, cut_at=100.0, until=200.0)
    assert result.first_s == result.all_s == 12.5 and result.resumed == {0: 12.5}
    assert takeover(events, {0}, cut_at=100.0, until=110.0).first_s is None  # came back first
    assert takeover(events, {1}, cut_at=100.0, until=200.0).first_s == 0.5


def test_longest_pause_inside_the_window() -> None:
    events = [(t, 0, "e") for t in (1.0, 2.0, 2.5, 9.0, 9.5, 30.0)]
    pause = longest_pause(events, start=2.0, end=10.0)
    assert (pause.seconds, pause.start) == (6.5, 2.5)
    assert longest_pause(events, start=40.0, end=50.0).seconds == 0.0
