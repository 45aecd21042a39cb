"""Run every scenario on one system and write its results as JSON.

    python -m bench.suite {workflows,celery,dbos} [--quick] --json PATH --logs DIR

`python -m bench` runs this once per system, each in its own process (DBOS and Celery
keep global state; a crash or hang of one peer cannot take the others down).
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
from bench.scenarios import run_scenarios

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
    from workflows.embedded import redis_server

    with redis_server(appendonly=True, appendfsync="everysec") as url:
        client = redis.Redis.from_url(url)
        aof = client.config_get("append*")
        client.close()
        with CeleryTarget(url, log_dir, _pid_listening(_port(url))) as target:
            log(f"celery: redis {url}, worker pid {target.worker.pid if target.worker else '?'}")
            scenarios = await run_scenarios(target, profile, log)
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
    from bench.peer_dbos import DBOS_DATABASE, DbosTarget, postgres_facts

    facts = postgres_facts()
    with DbosTarget() as target:
        log(f"dbos: database {DBOS_DATABASE}")
        scenarios = await run_scenarios(target, profile, log)
    return {
        "system": "dbos",
        "setup": (
            "DBOS library in the driver process (workflows run in 64 threads), system "
            f"database {DBOS_DATABASE} on the machine's PostgreSQL; every step checkpointed; "
            "fan-out = 100 child workflows started from the parent, then joined"
        ),
        "durability": (
            f"PostgreSQL synchronous_commit={facts['synchronous_commit']} fsync={facts['fsync']}"
        ),
        "versions": {
            "dbos": _version("dbos"),
            "postgres": facts["version"],
            "psycopg": _version("psycopg"),
        },
        "scenarios": scenarios,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.suite")
    parser.add_argument("system", choices=["workflows", "celery", "dbos"])
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
    else:
        result = asyncio.run(run_dbos(profile, args.logs))
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
