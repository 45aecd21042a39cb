"""Several hosts (network namespaces): an orchestrator's host is cut off the network and a
worker's host is killed mid-run; its partitions move to the survivors and every execution
still completes exactly once, also after the cut host comes back.

The short form of `python -m tests.multihost.run` (100 executions, about a minute).
"""

from __future__ import annotations

import shutil

import pytest

from tests.multihost.netns import netns_unavailable
from tests.multihost.run import MultiPlan, run

WHY_NOT = netns_unavailable()

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(WHY_NOT is not None, reason=f"multi-host harness: {WHY_NOT}"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


@pytest.mark.timeout(300)
async def test_cut_and_killed_hosts_lose_nothing_and_apply_nothing_twice() -> None:
    plan = MultiPlan.short()
    summary = await run(plan)
    print(summary.table())
    checks = summary.checks
    assert checks.started == plan.executions + plan.burst, summary.table()
    assert checks.lost == 0, checks.lost_ids
    assert checks.duplicates_applied == 0, checks.duplicate_examples
    assert checks.audit_inconsistent == 0, checks.audit_examples
    assert checks.wrong_outcome == 0, checks.wrong_examples
    assert checks.effects_missing == checks.effects_rerun_unexplained == 0
    assert checks.events_missing == 0
    # the cut orchestrator owned partitions; a survivor took them over after the session
    # timeout, and the cut host rejoined once its link was back
    assert summary.orphaned, summary.table()
    assert summary.reassigned_s is not None and summary.takeover_first_s is not None
    assert summary.takeover_first_s >= plan.session_timeout_ms / 1000 - 1, summary.table()
    assert summary.rejoined_s is not None
    assert summary.ok, summary.table()
