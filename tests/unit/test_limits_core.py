"""Limits as data (function limits, a workflow's rateLimit) and the ordered-commit arithmetic."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from workflows.services.core.issues import DefinitionError
from workflows.services.core.limits import (
    FunctionLimit,
    RateLimit,
    holder_id,
    park_delay_ms,
    rate_window_ms,
)
from workflows.services.core.offsets import OffsetTracker
from workflows.services.core.validation import compile_workflow


def test_function_limit_reads_camel_case_and_keeps_defaults() -> None:
    limit = FunctionLimit.model_validate(
        {"concurrency": 2, "rateLimit": {"limit": 10, "periodSeconds": 0.5}}
    )
    assert limit.concurrency == 2
    assert limit.rate_limit == RateLimit(limit=10, period_seconds=0.5)
    assert limit.lease_seconds == 30
    assert limit.model_dump(by_alias=True, exclude_none=True) == {
        "concurrency": 2,
        "rateLimit": {"limit": 10, "periodSeconds": 0.5},
        "leaseSeconds": 30,
    }


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"concurrency": 0}, ("concurrency",)),
        ({"rateLimit": {"limit": 0}}, ("rateLimit", "limit")),
        ({"rateLimit": {"limit": 1, "periodSeconds": 0}}, ("rateLimit", "periodSeconds")),
        ({"leaseSeconds": 0}, ("leaseSeconds",)),
        ({"concurency": 2}, ("concurency",)),
    ],
)
def test_function_limit_errors_name_the_field(doc: dict[str, object], where: tuple[str]) -> None:
    with pytest.raises(ValidationError) as info:
        FunctionLimit.model_validate(doc)
    assert info.value.errors()[0]["loc"] == where


def _workflow(rate: object) -> dict[str, object]:
    return {"name": "limited", "steps": [{"id": "a", "function": "f"}], "rateLimit": rate}


def test_workflow_rate_limit_is_part_of_the_definition() -> None:
    compiled = compile_workflow(_workflow({"limit": 5, "periodSeconds": 60}))
    assert compiled.definition.rate_limit == RateLimit(limit=5, period_seconds=60)
    assert compiled.definition.to_wire()["rateLimit"] == {"limit": 5, "periodSeconds": 60.0}


def test_a_bad_workflow_rate_limit_is_reported_with_its_path() -> None:
    with pytest.raises(DefinitionError) as info:
        compile_workflow(_workflow({"limit": -1, "periodSeconds": 60}))
    assert [issue.path for issue in info.value.issues] == ["rateLimit.limit"]


def test_rate_window_and_holder_id() -> None:
    assert rate_window_ms(RateLimit(limit=1, period_seconds=1.5)) == 1500
    assert holder_id("dispatcher-h-1", "e1:s1:2") == "dispatcher-h-1/e1:s1:2"


def test_park_delay_follows_the_hint_within_bounds() -> None:
    rng = random.Random(7)
    assert park_delay_ms(30, min_ms=100, max_ms=1000, jitter=0, rng=rng) == 100
    assert park_delay_ms(400, min_ms=100, max_ms=1000, jitter=0, rng=rng) == 400
    assert park_delay_ms(30_000, min_ms=100, max_ms=1000, jitter=0, rng=rng) == 1000
    delays = {park_delay_ms(500, min_ms=100, max_ms=1000, rng=rng) for _ in range(50)}
    assert min(delays) >= 400 and max(delays) <= 600 and len(delays) > 10
    with pytest.raises(ValueError, match="min_ms 5 > max_ms 1"):
        park_delay_ms(1, min_ms=5, max_ms=1)


def test_commit_stops_at_the_first_unfinished_record() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    for offset in (10, 11, 12, 13):
        tracker.started("p0", offset)
    tracker.started("p1", 5)
    tracker.finished("p0", 11)
    tracker.finished("p0", 13)
    assert tracker.committable() == {}  # 10 (the slow one) still runs
    assert tracker.in_flight == 3
    tracker.finished("p0", 10)
    tracker.finished("p1", 5)
    assert tracker.committable(peek=True) == {"p0": 12, "p1": 6}
    assert tracker.committable() == {"p0": 12, "p1": 6}  # peek kept them
    assert tracker.committable() == {}  # ...and this call forgot them
    tracker.finished("p0", 12)
    assert tracker.committable() == {"p0": 14}
    assert tracker.in_flight == 0


def test_forgotten_partitions_are_not_committed() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    tracker.started("p0", 1)
    tracker.forget(["p0"])
    tracker.finished("p0", 1)  # a task of a revoked partition finishing late
    assert tracker.committable() == {}
