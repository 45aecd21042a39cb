"""DBOS as a benchmark target: a workflow of 10 `@DBOS.step`s on its own PostgreSQL.

The server is started for the run by `bench.pg.postgres_server` (initdb, free port). DBOS is
a library: workflows run in the driver process, checkpointing every step to Postgres. Runs
are started from a pool of threads (each calls the workflow, which
returns once its output is recorded), so completion is timestamped without polling.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from typing import Any

import psycopg
from dbos import DBOS, DBOSConfig

from bench import workloads
from bench.harness import Harness
from bench.pg import PgServer, postgres_server

__all__ = ["DBOS_DATABASE", "DbosTarget"]

DBOS_DATABASE = "bench_dbos"


def _recreate_database(pg: PgServer) -> None:
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f"drop database if exists {DBOS_DATABASE} with (force)")
        conn.execute(f"create database {DBOS_DATABASE}")


@DBOS.step()
def noop_step(size: int) -> dict[str, Any]:
    return {"blob": "x" * size} if size else {}


@DBOS.workflow()
def chain_workflow(size: int) -> int:
    for _ in range(workloads.CHAIN_STEPS):
        noop_step(size)
    return workloads.CHAIN_STEPS


@DBOS.workflow()
def branch_workflow() -> None:
    noop_step(0)


@DBOS.workflow()
def fanout_workflow() -> int:
    noop_step(0)
    handles = [DBOS.start_workflow(branch_workflow) for _ in range(workloads.FANOUT_BRANCHES)]
    for handle in handles:
        handle.get_result()
    noop_step(0)
    return len(handles)


class DbosTarget:
    name = "dbos"

    def __init__(self, pg: PgServer, threads: int = 64) -> None:
        self.pg = pg
        self.threads = threads
        self.harness: Harness | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="dbos-run")

    def processes(self) -> dict[str, list[int]]:
        return {"postgres": self.pg.pids(), "driver+dbos": [os.getpid()]}

    def __enter__(self) -> DbosTarget:
        _recreate_database(self.pg)
        url = self.pg.url_for(DBOS_DATABASE)
        config: DBOSConfig = {
            "name": "bench",
            "system_database_url": url,
            "sys_db_pool_size": self.threads + 8,
            "max_executor_threads": self.threads * 4,
            "log_level": "WARNING",
        }
        DBOS(config=config)
        DBOS.launch()
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        DBOS.destroy(workflow_completion_timeout_sec=0)

    def _run(self, kind: str, run_id: str, size: int) -> None:
        from dbos import SetWorkflowID

        ok = True
        try:
            with SetWorkflowID(run_id):
                if kind == "fanout":
                    fanout_workflow()
                else:
                    chain_workflow(size)
        except Exception:
            ok = False
        if self.harness is not None:
            self.harness.done(run_id, ok)

    async def start(self, kind: str, run_id: str, size: int) -> None:
        self._pool.submit(self._run, kind, run_id, size)

    async def ready(self, harness: Harness, timeout: float = 60.0) -> None:
        await harness.closed_loop("chain", 1, timeout=timeout)


async def _selftest() -> None:  # pragma: no cover - manual check
    with postgres_server() as pg, DbosTarget(pg) as target:
        harness = Harness(target, asyncio.get_running_loop())
        target.harness = harness
        print((await harness.closed_loop("chain", 20)).summary())
        print((await harness.closed_loop("fanout", 2)).summary())


if __name__ == "__main__":  # pragma: no cover
    asyncio.run(_selftest())
