"""All scenarios on this engine: Tansu + a dedicated redis-server (AOF everysec)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import redis

from bench.floor import measure_floor
from bench.harness import Harness, Profile
from bench.ours import MAX_MESSAGE_BYTES, OurEngine
from bench.scenarios import run_scenarios
from workflows.embedded import redis_server, tansu

__all__ = ["run_ours"]


def _pid_listening(port: int) -> list[int]:
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == "LISTEN" and conn.pid:
            return [conn.pid]
    return []


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


async def _scaling(
    bootstrap: str,
    redis_url: str,
    infra: dict[str, list[int]],
    profile: Profile,
    log_dir: Path,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    results = []
    for n, (orchestrators, dispatchers) in enumerate([(1, 1), (2, 1), (1, 2), (2, 2)]):
        prefix = f"bscale{n}{int(time.time()) % 10000}"
        async with OurEngine(
            bootstrap, redis_url, prefix, log_dir, orchestrators, dispatchers, infra
        ) as engine:
            harness = Harness(engine, asyncio.get_running_loop())
            engine.harness = harness
            await engine.ready(harness)
            # every replica must own partitions before measuring: let the groups settle
            await asyncio.sleep(4.0 if max(orchestrators, dispatchers) > 1 else 0.5)
            await harness.closed_loop("chain", profile.warmup_runs)
            result = await harness.in_flight(
                "chain", profile.scaling_in_flight, profile.scaling_seconds
            )
            result.update(orchestrators=orchestrators, dispatchers=dispatchers)
            log(
                f"  scaling {orchestrators} orchestrator(s) x {dispatchers} dispatcher(s): "
                f"{result['completed_per_s']}/s p50={result['latency_ms']['p50']} ms "
                f"cpu={result['cpu_percent']}"
            )
            results.append(result)
    return results


async def run_ours(
    profile: Profile, log_dir: Path, log: Callable[[str], None] = print
) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        bootstrap = stack.enter_context(tansu())
        redis_url = stack.enter_context(redis_server(appendonly=True, appendfsync="everysec"))
        infra = {
            "tansu": _pid_listening(int(bootstrap.rsplit(":", 1)[1])),
            "redis": _pid_listening(_port(redis_url)),
        }
        client = redis.Redis.from_url(redis_url)
        aof = client.config_get("append*")
        redis_version = client.info("server")["redis_version"]
        client.close()
        result: dict[str, Any] = {
            "system": "workflows",
            "setup": (
                "1 orchestrator + 1 dispatcher (in-process no-op functions) as OS processes, "
                "Tansu broker (memory storage), dedicated redis-server; driver publishes "
                "StartExecution and consumes execution.completed events"
            ),
            "durability": (
                f"Kafka producer acks=all (Tansu memory:// storage, 1 broker); Redis "
                f"appendonly={aof.get('appendonly')} appendfsync={aof.get('appendfsync')}; "
                "offsets committed after state saved and sends acknowledged"
            ),
            "versions": {"redis-server": redis_version},
            "max_message_bytes": MAX_MESSAGE_BYTES,
        }
        log(f"workflows: broker {bootstrap}, redis {redis_url}")
        prefix = f"bench{int(time.time()) % 10000}"
        engine = OurEngine(bootstrap, redis_url, prefix, log_dir, infra_pids=infra)
        log("  floor (one awaited produce + consume, one Redis script; services not started)")
        floor = await measure_floor(engine.settings, 50 if profile.quick else 500)
        async with engine:
            result["scenarios"] = await run_scenarios(engine, profile, log)
            result["scenarios"]["floor"] = floor
        if profile.scaling_seconds <= 0:
            return result
        log("  scaling")
        result["scenarios"]["scaling"] = await _scaling(
            bootstrap, redis_url, infra, profile, log_dir, log
        )
        return result
