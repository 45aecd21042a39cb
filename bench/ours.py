"""This engine as a benchmark target: orchestrator(s) and dispatcher(s) as OS processes.

`combined=True` runs both services in one process instead (`workflows run orchestrator
dispatcher`), the small-deployment layout. Runs start by publishing `StartExecution` on the
start topic (like the trigger service does); completion is the `execution.completed`
lifecycle event, read by a consumer assigned to every partition of `wf.executions.events` in
this (driver) process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from redis.asyncio import Redis

from bench import workloads
from bench.harness import Harness
from bench.hist import Histogram
from workflows.contracts import Actor, StartExecution, encode
from workflows.contracts.topics import Topics
from workflows.services.core.definition import WorkflowDefinition
from workflows.services.infra.kafka import ensure_topics
from workflows.services.infra.keys import Keys
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import StateStore

__all__ = ["OurEngine", "wait_for_leaders"]

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent / "workflows")
KIND_TO_WORKFLOW = {
    "chain": workloads.CHAIN,
    "payload": workloads.PAYLOAD,
    "fanout": workloads.FANOUT,
}
MAX_MESSAGE_BYTES = 4_000_000


async def wait_for_leaders(settings: Settings, topics: list[str], timeout: float = 60.0) -> None:
    """Until every partition of `topics` answers ListOffsets. A new topic's partitions get a
    leader in the metadata a moment before that broker serves them; until then a consumer
    positioning itself logs a NotLeaderForPartition error per retry. The probe retries the
    same way, with aiokafka's fetcher logger quietened meanwhile."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=int(timeout * 1000)
    )
    fetcher_log = logging.getLogger("aiokafka.consumer.fetcher")
    level = fetcher_log.level
    fetcher_log.setLevel(logging.CRITICAL)
    await consumer.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await consumer._client.force_metadata_update()  # topics() does not refresh it
            parts = [
                TopicPartition(t, p)
                for t in topics
                for p in sorted(consumer.partitions_for_topic(t) or ())
            ]
            known = {tp.topic for tp in parts}
            if known >= set(topics) or loop.time() > deadline:
                break
            await asyncio.sleep(0.1)
        await asyncio.wait_for(consumer.end_offsets(parts), max(deadline - loop.time(), 1.0))
    finally:
        await consumer.stop()
        fetcher_log.setLevel(level)


class OurEngine:
    """Context manager: start the services, register the workloads, drive runs."""

    name = "workflows"

    def __init__(
        self,
        bootstrap: str,
        redis_url: str,
        prefix: str,
        log_dir: Path,
        orchestrators: int = 1,
        dispatchers: int = 1,
        infra_pids: dict[str, list[int]] | None = None,
        env: dict[str, str] | None = None,
        combined: bool = False,
    ) -> None:
        self.settings = Settings(
            kafka_bootstrap=bootstrap,
            redis_url=redis_url,
            topic_prefix=f"{prefix}.",
            key_prefix=prefix,
            max_message_bytes=MAX_MESSAGE_BYTES,
        )
        self.topics = Topics.with_prefix(self.settings.topic_prefix)
        self.log_dir = log_dir
        # role (for CPU accounting) -> (services run by one process, number of processes)
        self.layout: dict[str, tuple[list[str], int]] = (
            {"orchestrator+dispatcher": (["orchestrator", "dispatcher"], 1)}
            if combined
            else {
                "orchestrator": (["orchestrator"], orchestrators),
                "dispatcher": (["dispatcher"], dispatchers),
            }
        )
        self.infra_pids = infra_pids or {}
        self.extra_env = env or {}
        self.procs: dict[str, list[subprocess.Popen[bytes]]] = {}
        self.harness: Harness | None = None
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None

    def env(self) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "WORKFLOWS_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "WORKFLOWS_REDIS_URL": s.redis_url,
            "WORKFLOWS_TOPIC_PREFIX": s.topic_prefix,
            "WORKFLOWS_KEY_PREFIX": s.key_prefix,
            "WORKFLOWS_AUTH": "off",
            "WORKFLOWS_MAX_MESSAGE_BYTES": str(s.max_message_bytes),
            "PYTHONPATH": str(ROOT),
            **self.extra_env,
        }

    def processes(self) -> dict[str, list[int]]:
        roles = {role: [p.pid for p in procs] for role, procs in self.procs.items()}
        return {**roles, **self.infra_pids, "driver": [os.getpid()]}

    async def __aenter__(self) -> OurEngine:
        await ensure_topics(self.settings, self.topics.fixed().values())
        await wait_for_leaders(self.settings, list(self.topics.fixed().values()))
        redis = Redis.from_url(self.settings.redis_url)
        store = StateStore(redis, Keys(self.settings.key_prefix))
        for raw in (
            workloads.chain_definition(),
            workloads.payload_definition(),
            workloads.fanout_definition(),
        ):
            wire = WorkflowDefinition.model_validate(raw).to_wire()
            await store.register_definition(wire["name"], json.dumps(wire), {})
        await redis.aclose()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for role, (services, count) in self.layout.items():
            extra = ["--functions", "bench.functions"] if "dispatcher" in services else []
            for i in range(count):
                log = (self.log_dir / f"{self.settings.key_prefix}-{role}-{i}.log").open("wb")
                # Popen returns at once (fork/exec); nothing waits on the child here
                proc = subprocess.Popen(  # noqa: ASYNC220
                    [EXE, "run", *services, *extra],
                    env=self.env(),
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                self.procs.setdefault(role, []).append(proc)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap, acks="all", linger_ms=0
        )
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=self.settings.fetch_max_wait_ms,
            max_partition_fetch_bytes=MAX_MESSAGE_BYTES * 2,
        )
        await self._consumer.start()
        partitions = self._consumer.partitions_for_topic(self.topics.events)
        if not partitions:
            # `topics()` does not refresh the consumer's own metadata (see assign_whole_topic)
            await self._consumer._client.force_metadata_update()
            partitions = self._consumer.partitions_for_topic(self.topics.events) or set(
                range(self.settings.partitions)
            )
        assigned = [TopicPartition(self.topics.events, p) for p in sorted(partitions)]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_end(*assigned)
        self._reader = asyncio.create_task(self._read_events())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        for client in (self._consumer, self._producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        for procs in self.procs.values():
            for proc in procs:
                proc.terminate()
        for procs in self.procs.values():
            for proc in procs:
                try:
                    await asyncio.to_thread(proc.wait, 20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def check_alive(self) -> None:
        for role, procs in self.procs.items():
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{role} exited with code {proc.returncode}")

    async def _read_events(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=100, max_records=2000)
            harness = self.harness
            for records in batch.values():
                for record in records:
                    value = record.value
                    if not isinstance(value, bytes) or harness is None:
                        continue
                    # cheap filter first: ~2 lifecycle events per step, one terminal per run
                    if b'"execution.completed"' in value:
                        harness.done(json.loads(value)["executionId"])
                    elif b'"execution.failed"' in value or b'"execution.timed_out"' in value:
                        harness.done(json.loads(value)["executionId"], ok=False)

    async def start(self, kind: str, run_id: str, size: int) -> None:
        assert self._producer is not None
        message = StartExecution(
            execution_id=run_id,
            workflow=KIND_TO_WORKFLOW[kind],
            input={"size": size} if kind == "payload" else {},
            actor=Actor(kind="api"),
        )
        # queued for the next produce request; its acks=all ack is not awaited here
        await self._producer.send(self.topics.start, encode(message), key=run_id.encode())

    def _breakdown_topics(self) -> list[str]:
        t = self.topics
        return [t.start, t.step_commands, t.step_results, t.events]

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        await consumer._client.force_metadata_update()
        return [
            TopicPartition(t, p)
            for t in self._breakdown_topics()
            for p in sorted(consumer.partitions_for_topic(t) or range(self.settings.partitions))
        ]

    async def mark(self) -> dict[TopicPartition, int]:
        """End offsets of the start, command, result and event topics (before a scenario)."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap)
        await consumer.start()
        try:
            parts = await self._partitions(consumer)
            ends: dict[TopicPartition, int] = await consumer.end_offsets(parts)
            return ends
        finally:
            await consumer.stop()

    async def breakdown(self, marks: dict[TopicPartition, int], runs: int) -> dict[str, Any]:
        """Where a hop's time goes, from the producers' record timestamps (ms resolution).

        Read after the serial scenario, from `marks` (taken before it) to the topics' end
        offsets, so no second consumer competes with the measured runs and every serial
        execution is covered. Per execution: start → 1st command, command → result (the
        dispatcher leg: fetch, results cache, function, produce), result → next command
        (the orchestrator leg: fetch, Redis load/save, produce), last result → completed.
        """
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
            max_partition_fetch_bytes=MAX_MESSAGE_BYTES * 2,
        )
        await consumer.start()
        seen: dict[str, dict[str, list[int]]] = {}
        loop = asyncio.get_running_loop()
        # ~45 records per execution; a generous deadline that grows with the count
        deadline = loop.time() + 30.0 + 0.05 * runs
        complete = False
        try:
            parts = await self._partitions(consumer)
            ends = await consumer.end_offsets(parts)
            todo = {tp for tp in parts if ends[tp] > marks.get(tp, 0)}
            consumer.assign(parts)
            for tp in parts:
                consumer.seek(tp, marks.get(tp, 0))
            while todo and loop.time() < deadline:
                batch = await consumer.getmany(*todo, timeout_ms=200, max_records=5000)
                for tp, records in batch.items():
                    for record in records:
                        if record.offset < ends[tp]:
                            self._note(seen, tp.topic, record)
                    if records and records[-1].offset + 1 >= ends[tp]:
                        todo.discard(tp)
            complete = not todo
        finally:
            await consumer.stop()
        legs = {
            name: Histogram()
            for name in (
                "start_to_first_command",
                "dispatcher_leg",
                "orchestrator_leg",
                "last_result_to_completed",
            )
        }
        used = 0
        for entry in seen.values():
            cmd, res = sorted(entry["cmd"]), sorted(entry["res"])
            if not entry["start"] or not entry["end"] or len(cmd) != len(res) or not cmd:
                continue
            used += 1
            legs["start_to_first_command"].record_ms(cmd[0] - entry["start"][0])
            for i, (c, r) in enumerate(zip(cmd, res, strict=True)):
                legs["dispatcher_leg"].record_ms(r - c)
                if i + 1 < len(cmd):
                    legs["orchestrator_leg"].record_ms(cmd[i + 1] - r)
            legs["last_result_to_completed"].record_ms(entry["end"][0] - res[-1])
        return {
            "runs": used,
            "serial_runs": runs,
            "executions_seen": len(seen),
            "read_complete": complete,
            "legs_ms": {k: h.summary() for k, h in legs.items()},
        }

    def _note(self, seen: dict[str, dict[str, list[int]]], topic: str, record: Any) -> None:
        value = record.value if isinstance(record.value, bytes) else b""
        key = record.key.decode() if isinstance(record.key, bytes) else ""
        if not key and value:
            key = str(json.loads(value).get("executionId", ""))
        entry = seen.setdefault(key, {"start": [], "cmd": [], "res": [], "end": []})
        if topic == self.topics.start:
            entry["start"].append(record.timestamp)
        elif topic == self.topics.step_commands:
            entry["cmd"].append(record.timestamp)
        elif topic == self.topics.step_results:
            entry["res"].append(record.timestamp)
        elif b'"execution.completed"' in value:
            entry["end"].append(record.timestamp)

    async def ready(self, harness: Harness, timeout: float = 90.0) -> None:
        """Wait until the services joined their groups: one chain run completes."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            self.check_alive()
            try:
                await harness.closed_loop("chain", 1, timeout=10)
                return
            except TimeoutError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
