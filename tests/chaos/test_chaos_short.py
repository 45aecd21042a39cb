"""The chaos suite's short form (CI): 60 executions, kill -9s, one Redis and one broker restart.

Runs `tests.chaos.run` with `Plan.short()` (about 1-2 minutes) and asserts its invariants.
The full form is `python -m tests.chaos.run` (500 executions); see tests/chaos/README.md.
"""

from __future__ import annotations

import shutil

import pytest

from tests.chaos.run import Plan, run

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


@pytest.mark.timeout(420)
async def test_short_chaos_run_loses_nothing_and_applies_nothing_twice() -> None:
    summary = await run(Plan.short())
    print(summary.table())
    assert summary.started == Plan.short().executions, summary.table()
    assert summary.lost == 0, summary.lost_ids
    assert summary.duplicates_applied == 0, summary.duplicate_examples
    assert summary.audit_inconsistent == 0, summary.audit_examples
    assert summary.wrong_outcome == 0, summary.wrong_examples
    assert summary.effects_missing == summary.effects_rerun_unexplained == 0, (
        summary.effect_examples
    )
    assert summary.events_missing == 0
    assert summary.kills > 0 and summary.redis_restarts == 1 and summary.broker_restarts == 1
    assert summary.ok, summary.table()
