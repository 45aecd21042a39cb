"""Search over 100,000 indexed executions: query latency (p50/p99) and the memory of the index.

    .venv/bin/python -m bench.search [--executions 100000] [--runs 200]

Starts its own redis-server, writes the index rows directly through the index module
(`workflows.services.infra.search_index`, the same script the state save runs; no executions are
run), then times each query shape through `SearchIndex.search` (the planner, the Redis round
trips and the row checks the API does; the API then loads each returned state, which this
leaves out) and prints a table. Memory is `used_memory` of INFO memory before and after the
rows were written (the index alone: no states are stored).

Data: 1,000 customers, amounts 0-100,000, 4 workflows, statuses 80 % completed, 10 %
failed, 5 % running, 5 % timed_out, one execution started per second.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from workflows.services.core.search_attributes import BUILTIN_COLUMNS, SearchAttribute
from workflows.services.core.search_query import parse_query
from workflows.services.core.state import ExecutionState, ExecutionStatus
from workflows.services.infra.search_index import SearchIndex, index_row
from workflows.testing.embedded import redis_server

ATTRS = {
    "customerId": SearchAttribute(value="{{input.customerId}}"),
    "amount": SearchAttribute(value="{{input.amount}}", type="number"),
}
COLUMNS = {**BUILTIN_COLUMNS, "customerId": "keyword", "amount": "number"}
T0 = datetime(2026, 11, 1, tzinfo=UTC)
SHAPES = [
    ("latest 50 (no filter)", ""),
    ("customer =", "customerId = 'cust_12345'"),
    ("customer = AND status =", "customerId = 'cust_12345' AND status = 'failed'"),
    ("status = failed", "status = 'failed'"),
    ("amount > 99000 (1 %)", "amount > 99000"),
    ("failed AND amount > 50000", "status = 'failed' AND amount > 50000"),
    ("prefix cust_12*", "customerId = 'cust_12*'"),
    ("status IN AND workflow =", "status IN ('failed', 'timed_out') AND workflow = 'refund'"),
    (
        "started in one hour",
        "startedAt >= '2026-11-01T10:00:00Z' AND startedAt < '2026-11-01T11:00:00Z'",
    ),
    ("rare: status != completed AND amount < 100", "status != 'completed' AND amount < 100"),
]


def _states(n: int, rng: random.Random) -> list[ExecutionState]:
    statuses = ["completed"] * 16 + ["failed"] * 2 + ["running", "timed_out"]
    workflows = ["invoice", "refund", "onboarding", "payout"]
    out = []
    for i in range(n):
        start = T0 + timedelta(seconds=i)
        status = rng.choice(statuses)
        customer = 12345 if i % 997 == 0 else rng.randrange(1000)
        out.append(
            ExecutionState(
                execution_id=f"{rng.getrandbits(128):032x}",
                workflow=rng.choice(workflows),
                workflow_version=1 + rng.randrange(3),
                status=ExecutionStatus(status),
                input={"customerId": f"cust_{customer}", "amount": rng.randrange(100_000)},
                steps={},
                created_at=start,
                updated_at=start,
                finished_at=start + timedelta(seconds=3) if status != "running" else None,
            )
        )
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(n: int, runs: int) -> None:
    with redis_server() as url:
        redis = Redis.from_url(url)
        index = SearchIndex(redis, "bench")
        before = int((await redis.info("memory"))["used_memory"])
        rows = [(index_row(s, ATTRS), 1) for s in _states(n, random.Random(19))]
        began = time.perf_counter()
        for i in range(0, len(rows), 2000):
            await index.put_many(rows[i : i + 2000])
        wrote_s = time.perf_counter() - began
        after = int((await redis.info("memory"))["used_memory"])
        print(
            f"{n:,} rows written in {wrote_s:.1f} s ({n / wrote_s:,.0f} rows/s,"
            " one pipeline per 2,000)"
        )
        print(
            f"index memory: used_memory {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB:"
            f" {(after - before) / 2**20:.1f} MiB, {(after - before) / n:.0f} bytes per execution"
        )
        print()
        print("| query | matches | p50 ms | p99 ms | rows read p50 |")
        print("|---|---|---|---|---|")
        for _name, text in SHAPES:
            query = parse_query(text, COLUMNS)
            times: list[float] = []
            scanned: list[int] = []
            for _ in range(runs):
                t = time.perf_counter()
                page = await index.search("default", query, 50)
                times.append((time.perf_counter() - t) * 1000)
                scanned.append(page.scanned)
            total, cursor = 0, None
            while True:  # every page, to count the matches (and prove the cursor ends)
                page = await index.search("default", query, 500, cursor)
                total += len(page.ids)
                cursor = page.cursor
                if cursor is None:
                    break
            print(
                f"| `{text or '(empty)'}` | {total:,} | {_pct(times, 0.5):.2f} |"
                f" {_pct(times, 0.99):.2f} | {int(statistics.median(scanned)):,} |"
            )
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.executions, args.runs))


if __name__ == "__main__":
    main()
