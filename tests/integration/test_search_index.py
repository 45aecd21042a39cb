"""The search index on a real Redis (one server, or a cluster with WORKFLOWS_TEST_REDIS=cluster):
rows written by the state save's pipeline, queries answered in order, in pages, exactly."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from workflows.services.core.search_attributes import BUILTIN_COLUMNS, SearchAttribute
from workflows.services.core.search_query import parse_query, query_matches
from workflows.services.core.state import ExecutionState, ExecutionStatus
from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.search_index import SCAN_BUDGET, IndexRow, SearchIndex, index_row
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import Save, StateStore

pytestmark = pytest.mark.integration

ATTRS = {
    "customerId": SearchAttribute(value="{{input.customerId}}"),
    "amount": SearchAttribute(value="{{input.amount}}", type="number"),
}
COLUMNS = {**BUILTIN_COLUMNS, "customerId": "keyword", "amount": "number"}
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _state(i: int, status: str = "running", workflow: str = "invoice") -> ExecutionState:
    start = T0 + timedelta(seconds=i)
    return ExecutionState(
        execution_id=f"e{i:05d}",
        workflow=workflow,
        workflow_version=1 + i % 3,
        status=ExecutionStatus(status),
        input={"customerId": f"cust_{i % 50}", "amount": (i * 37) % 20000},
        steps={},
        created_at=start,
        updated_at=start,
        finished_at=start + timedelta(seconds=5) if status != "running" else None,
    )


def _values(row: IndexRow) -> dict[str, float | str]:
    return {"startedAt": float(row.start_ms), **row.keywords, **row.scores}


async def _all_pages(index: SearchIndex, text: str, limit: int) -> list[str]:
    query = parse_query(text, COLUMNS)
    out: list[str] = []
    cursor = None
    for _ in range(10_000):
        page = await index.search("default", query, limit, cursor)
        out += page.ids
        cursor = page.cursor
        if cursor is None:
            return out
    raise AssertionError("the cursor never ended")


async def test_queries_match_a_scan_of_the_rows_in_order_and_in_pages(
    redis: RedisClient, settings: Settings
) -> None:
    index = SearchIndex(redis, settings.key_prefix)
    statuses = ["completed", "failed", "running", "timed_out"]
    rows = [
        index_row(_state(i, statuses[i % 4], "invoice" if i % 3 else "refund"), ATTRS)
        for i in range(1500)
    ]
    await index.put_many([(row, 1) for row in rows])
    queries = [
        "",
        "customerId = 'cust_7'",
        "customerId = 'cust_7' AND status = 'failed'",
        "status IN ('failed', 'timed_out') AND amount > 15000",
        "amount > 19500",
        "customerId = 'cust_1*'",
        "customerId STARTS_WITH 'cust_4' AND version != 2",
        "workflow = 'refund' AND startedAt >= '2026-11-01T00:10:00Z' AND startedAt < 1793495400000",
        "status != 'running' AND amount <= 100",
        "endedAt > '2026-11-01T00:20:00Z' AND workflow = 'invoice'",
        "customerId = 'nobody'",
    ]
    for text in queries:
        query = parse_query(text, COLUMNS)
        expected = sorted(
            (r for r in rows if query_matches(query, _values(r))),
            key=lambda r: (r.start_ms, r.execution_id),
            reverse=True,
        )
        want = [r.execution_id for r in expected]
        for limit in (7, 500):
            assert await _all_pages(index, text, limit) == want, (text, limit)


async def test_the_save_pipeline_writes_the_row_with_its_revision(
    redis: RedisClient, settings: Settings
) -> None:
    store = StateStore(redis, Keys(settings.key_prefix))
    index = store.search
    query = parse_query("status = 'failed' AND customerId = 'cust_3'", COLUMNS)
    running, failed = _state(3), _state(3, "failed")

    def save(state: ExecutionState, rev: int, ttl_s: int = 0) -> Save:
        doc = state.model_dump_json(by_alias=True)
        return Save(state.execution_id, rev, doc, [], ttl_s, index_row(state, ATTRS))

    assert await store.save_many([save(running, 0)]) == [1]
    assert (await index.search("default", query)).ids == []
    assert await store.save_many([save(failed, 1, ttl_s=60)]) == [2]
    assert (await index.search("default", query)).ids == ["e00003"]
    # a fenced save (an older revision) leaves the index as it is
    assert await store.save_many([save(running, 0)]) == [-1]
    assert (await index.search("default", query)).ids == ["e00003"]
    # the state's expiry purges every structure of its row
    now = (await redis.time())[0] * 1000
    assert await index.purge("default", now_ms=now + 61_000) == 1
    assert (await index.search("default", parse_query("", COLUMNS))).ids == []
    leftovers = [k async for k in redis.scan_iter(match=index.base("default") + "*")]
    assert {k.decode() if isinstance(k, bytes) else k for k in leftovers} <= {
        index.base("default") + "types"
    }


async def test_a_walk_pages_when_few_rows_match(redis: RedisClient, settings: Settings) -> None:
    """Past SCAN_BUDGET rows without enough matches a page is short but has a cursor."""
    index = SearchIndex(redis, settings.key_prefix)
    n = SCAN_BUDGET + 1200
    rng = random.Random(5)
    rare = set(rng.sample(range(n), 3))
    rows = [index_row(_state(i, "failed" if i in rare else "completed"), ATTRS) for i in range(n)]
    for i in range(0, n, 5000):
        await index.put_many([(r, 1) for r in rows[i : i + 5000]])
    got = await _all_pages(index, "status != 'completed'", 2)
    assert got == [f"e{i:05d}" for i in sorted(rare, reverse=True)]


async def test_a_fenced_save_does_not_leave_its_row_in_the_index(
    redis: RedisClient, settings: Settings
) -> None:
    """Two writers from revision 0: the winner's row has not landed yet when the loser's does
    (same revision); the loser's save is fenced and the index ends with the winner's row."""
    store = StateStore(redis, Keys(settings.key_prefix))
    winner, loser = _state(8, "failed"), _state(8, "completed")
    won = Save(winner.execution_id, 0, winner.model_dump_json(by_alias=True), [], 0, None)
    assert await store.save_many([won]) == [1]  # its row is still on the way
    row = index_row(loser, ATTRS)
    lost = Save(loser.execution_id, 0, loser.model_dump_json(by_alias=True), [], 0, row)
    assert await store.save_many([lost]) == [-1]
    found = await store.search.search("default", parse_query("status = 'failed'", COLUMNS))
    assert found.ids == ["e00008"]
    late = index_row(winner, ATTRS)  # the winner's own row arriving late changes nothing
    await store.search.put_many([(late, 1)])
    completed = parse_query("status = 'completed'", COLUMNS)
    assert (await store.search.search("default", completed)).ids == []
