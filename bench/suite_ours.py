"""All scenarios on this engine: Apache Kafka (one KRaft broker) + a dedicated redis-server.

Every scenario gets fresh topics and Redis keys (a new prefix; the services are restarted
with it), so none runs on a log grown by the ones before. After the shared scenarios: the
"one process" layout (orchestrator and dispatcher in one `workflows run` process) for the
serial and saturation scenarios, the soak, and (full run) the scaling runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psutil
import redis

from bench.floor import measure_floor
from bench.harness import Harness, Profile
from bench.ours import MAX_MESSAGE_BYTES, OurEngine
from bench.scenarios import run_scenarios
from bench.workloads import CHAIN_STEPS
from workflows.services.infra.results_cache import SEEN_KEYS
from workflows.services.orchestrator.service import PURGE_INTERVAL_S
from workflows.testing.apache_kafka import KAFKA_VERSION, kafka_cluster
from workflows.testing.embedded import redis_server

__all__ = ["BROKER_HEAP", "run_ours"]

BROKER_HEAP = "1g"  # 2 cores / 24 GiB: the broker needs little; G1 with a fixed heap
SOAK_RSS_ROLES = ["orchestrator", "dispatcher", "broker", "redis", "driver"]


def _pid_listening(port: int) -> list[int]:
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == "LISTEN" and conn.pid:
            return [conn.pid]
    return []


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


class FreshFixture:
    """A new engine (new topic and key prefix, services restarted) for every scenario."""

    def __init__(
        self,
        bootstrap: str,
        redis_url: str,
        infra: dict[str, list[int]],
        profile: Profile,
        log_dir: Path,
        log: Callable[[str], None],
        combined: bool = False,
    ) -> None:
        self.bootstrap = bootstrap
        self.redis_url = redis_url
        self.infra = infra
        self.profile = profile
        self.log_dir = log_dir
        self.log = log
        self.combined = combined
        self.stamp = int(time.time()) % 100_000
        self.prefixes: dict[str, str] = {}

    @contextlib.asynccontextmanager
    async def session(
        self, scenario: str, env: dict[str, str] | None = None
    ) -> AsyncIterator[tuple[Harness, OurEngine]]:
        prefix = f"b{self.stamp}{'c' if self.combined else ''}-{scenario}"
        self.prefixes[scenario] = prefix
        started = time.perf_counter()
        engine = OurEngine(
            self.bootstrap,
            self.redis_url,
            prefix,
            self.log_dir,
            infra_pids=self.infra,
            env=env,
            combined=self.combined,
        )
        async with engine:
            harness = Harness(engine, asyncio.get_running_loop())
            engine.harness = harness
            await engine.ready(harness)
            await harness.closed_loop("chain", self.profile.warmup_runs)
            self.log(
                f"  [{scenario}] fresh topics {prefix}.*, services up and warm in "
                f"{time.perf_counter() - started:.1f} s"
            )
            yield harness, engine


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


def soak_warm_up_s(rate: float, retention_s: float, window_s: float) -> float:
    """When the soak's memory is in its steady state, at `rate` executions/s: the dispatcher's
    results cache remembers its last SEEN_KEYS keys (full after SEEN_KEYS / steps per second),
    and Redis keeps an ended execution `retention_s` plus up to one purge interval (then
    the orchestrator's purge removes its index rows). At least one latency window."""
    steps_per_s = max(rate, 0.1) * CHAIN_STEPS
    return max(window_s, SEEN_KEYS / steps_per_s, retention_s + PURGE_INTERVAL_S)


async def _soak(
    fixture: FreshFixture, profile: Profile, saturation: dict[str, Any] | None, log: Any
) -> dict[str, Any]:
    best = float((saturation or {}).get("max_completed_per_s") or 0.0)
    rate = round(max(best / 2, 1.0), 1)  # a ramp that completed nothing still soaks at 1/s
    # Finished executions and step results are kept one window (the settings' minimum is 60 s)
    # instead of 7 days and 24 h: Redis then reaches its steady state inside the soak, and
    # what it still gains after the first window is growth, not retention.
    retention = {"state_ttl_s": max(60, int(profile.soak_window_s))}
    retention["results_ttl_s"] = retention["state_ttl_s"]
    env = {f"WORKFLOWS_{key.upper()}": str(value) for key, value in retention.items()}
    warm_up = soak_warm_up_s(rate, retention["state_ttl_s"], profile.soak_window_s)
    async with fixture.session("soak", env) as (harness, _):
        log(
            f"  soak: {profile.soak_seconds:.0f} s open loop at {rate}/s (half of {best}/s), "
            f"memory compared from {warm_up:.0f} s"
        )
        result = await harness.soak(
            "chain",
            rate,
            profile.soak_seconds,
            profile.soak_window_s,
            profile.soak_bucket_s,
            profile.drain_timeout,
            rss_roles=SOAK_RSS_ROLES,
            warm_up_s=warm_up,
        )
    result["saturation_per_s"] = best
    result["retention_s"] = retention
    log(
        f"  soak p99 first {result['first_window_ms']['p99']} ms, last "
        f"{result['last_window_ms']['p99']} ms; rss {result['rss_mib']}"
    )
    return result


async def run_ours(
    profile: Profile, log_dir: Path, log: Callable[[str], None] = print
) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        started = time.perf_counter()
        cluster = stack.enter_context(kafka_cluster(1, heap=BROKER_HEAP, pretouch=True))
        bootstrap = cluster.bootstrap
        broker_proc = cluster.nodes[0].proc
        assert broker_proc is not None
        log(
            f"workflows: Apache Kafka {KAFKA_VERSION} at {bootstrap} (JVM pid {broker_proc.pid}, "
            f"heap {BROKER_HEAP}, up in {time.perf_counter() - started:.1f} s)"
        )
        redis_url = stack.enter_context(redis_server(appendonly=True, appendfsync="everysec"))
        infra = {"broker": [broker_proc.pid], "redis": _pid_listening(_port(redis_url))}
        client = redis.Redis.from_url(redis_url)
        aof = client.config_get("append*")
        redis_version = client.info("server")["redis_version"]
        client.close()
        result: dict[str, Any] = {
            "system": "workflows",
            "setup": (
                "1 orchestrator + 1 dispatcher (in-process no-op functions) as OS processes, "
                f"Apache Kafka {KAFKA_VERSION} (1 KRaft broker, JVM heap {BROKER_HEAP}), "
                "dedicated redis-server; fresh topics and keys per scenario; driver publishes "
                "StartExecution and consumes execution.completed events"
            ),
            "durability": (
                f"Kafka producer acks=all (Apache Kafka {KAFKA_VERSION}, 1 broker, log flushed "
                "by the OS page cache as Kafka's default); Redis "
                f"appendonly={aof.get('appendonly')} appendfsync={aof.get('appendfsync')}; "
                "offsets committed after state saved and sends acknowledged"
            ),
            "versions": {"kafka": KAFKA_VERSION, "redis-server": redis_version},
            "broker": {"name": "Apache Kafka", "version": KAFKA_VERSION, "heap": BROKER_HEAP},
            "max_message_bytes": MAX_MESSAGE_BYTES,
        }
        log(f"workflows: redis {redis_url}")
        fixture = FreshFixture(bootstrap, redis_url, infra, profile, log_dir, log)
        floor_engine = OurEngine(bootstrap, redis_url, f"b{fixture.stamp}-floor", log_dir)
        log("  floor (one awaited produce + consume, one Redis script; services not started)")
        floor = await measure_floor(floor_engine.settings, 50 if profile.quick else 500)
        scenarios = await run_scenarios(fixture, profile, log)
        scenarios["floor"] = floor
        result["scenarios"] = scenarios

        log("  one process: orchestrator + dispatcher in one `workflows run` process")
        combined = FreshFixture(bootstrap, redis_url, infra, profile, log_dir, log, combined=True)
        scenarios["one_process"] = await run_scenarios(
            combined, profile, log, include=("serial", "saturation")
        )

        if profile.soak_seconds > 0:
            scenarios["soak"] = await _soak(fixture, profile, scenarios.get("saturation"), log)
        if profile.scaling_seconds > 0:
            log("  scaling")
            scenarios["scaling"] = await _scaling(
                bootstrap, redis_url, infra, profile, log_dir, log
            )
        result["prefixes"] = {
            **fixture.prefixes,
            **{f"one_process.{k}": v for k, v in combined.prefixes.items()},
        }
        return result
