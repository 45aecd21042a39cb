"""The chaos suite: crash safety of the engine under kill -9, a Redis and a broker restart.

    python -m tests.chaos.run                      # full: 500 executions, ~3 minutes of chaos
    python -m tests.chaos.run --short              # CI form: 60 executions, ~35 s of chaos
    python -m tests.chaos.run --appendfsync always --executions 800 --seed 7

Starts Apache Kafka (one KRaft node, its log directory in the work folder), Redis with AOF
and the services as processes (two orchestrators, two workers); starts the executions through
the HTTP API with an Idempotency-Key each (a failed POST is retried with the same key);
meanwhile kills random service processes with SIGKILL and restarts them, restarts Redis once
(SIGKILL) and the broker once (SIGKILL, same port and log directory). Then waits until
every execution is final and checks Redis (see README.md). Exit status 1 when an invariant
is broken (lost, duplicates applied, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from redis.asyncio import Redis

from tests.chaos.harness import ROOT, Cluster, Managed
from tests.chaos.poison_executions import check_poison, start_poison
from tests.chaos.refusal import HttpTally, refuse_writes
from tests.chaos.verify import check_effects, check_execution
from workflows.contracts import Actor, ContractError, LifecycleEvent, StartExecution, decode, encode
from workflows.services.infra.kafka import assign_whole_topic

__all__ = ["Plan", "Summary", "main", "run"]

WORKFLOW = "customerOnboardingWorkflow"
PLANS = ["starter", "professional", "enterprise"]
SIZES = ["small", "medium", "large", "enterprise"]


@dataclass
class Plan:
    executions: int = 500
    start_window_s: float = 150.0  # the starts are spread over this
    chaos_s: float = 180.0  # kills happen during this (from the first start)
    kill_gap_s: tuple[float, float] = (2.0, 6.0)  # between two kills
    down_s: tuple[float, float] = (0.2, 4.0)  # a killed service stays down this long
    redis_restart_at: float = 0.4  # fraction of chaos_s
    broker_restart_at: float = 0.7
    settle_s: float = 180.0  # after the chaos: give up when nothing became final for this long
    settle_max_s: float = 1800.0  # ... or after this long in all
    appendfsync: str = "everysec"
    seed: int = 1
    concurrency: int = 16  # POSTs in flight
    check_events: bool = True  # also read the events topic back
    workdir: str | None = None
    keep: bool = False
    poison: bool = False  # also send poison records with a plain producer (`_inject_poison`)
    refuse_writes_s: float = 0.0  # Redis refuses every write this long (tests/chaos/refusal.py)
    refuse_writes_at: float = 0.2  # fraction of chaos_s (before the Redis restart)

    @classmethod
    def short(cls) -> Plan:
        return cls(
            executions=60,
            start_window_s=25.0,
            chaos_s=35.0,
            kill_gap_s=(3.0, 6.0),
            down_s=(0.2, 2.0),
            redis_restart_at=0.35,
            broker_restart_at=0.65,
            settle_s=90.0,
            settle_max_s=300.0,
        )


@dataclass
class Summary:
    appendfsync: str
    seed: int
    broker: str = ""  # e.g. "Apache Kafka 4.4.0 (KRaft, one node)"
    started: int = 0  # accepted by the API (distinct execution ids)
    completed: int = 0
    failed: int = 0
    other_final: int = 0  # cancelled / timed out (none expected)
    lost: int = 0  # accepted, but no state or not final at the deadline
    lost_ids: list[str] = field(default_factory=list)
    duplicates_applied: int = 0  # executions with a result/outcome applied twice
    duplicate_examples: list[str] = field(default_factory=list)
    audit_inconsistent: int = 0
    audit_examples: list[str] = field(default_factory=list)
    wrong_outcome: int = 0
    wrong_examples: list[str] = field(default_factory=list)
    keys_with_several_executions: int = 0  # one Idempotency-Key -> more than one execution
    unknown_executions: int = 0  # executions in Redis that no 202 answer named
    successful_attempts: int = 0
    effects_exactly_once: int = 0
    effects_missing: int = 0
    effects_rerun_after_kill: int = 0
    effects_rerun_unexplained: int = 0
    effect_examples: list[str] = field(default_factory=list)
    orphan_effects: int = 0
    events_checked: bool = False
    events_missing: int = 0  # audit entries never published on the events topic
    events_redelivered: int = 0  # published more than once (at-least-once: harmless)
    dlq_messages: int = 0
    poison_sent: int = 0  # poison records sent (`--poison`); each must be dead-lettered
    poison_dead_lettered: int = 0  # of them, found on the DLQ with a reason
    pipe_ids: int = 0  # executions whose id holds the timer separator '|' (verified like all)
    poison_executions: int = 0  # started through the API (tests/chaos/poison_executions.py)
    poison_executions_wrong: list[str] = field(default_factory=list)  # must be empty
    kills: int = 0
    kills_by_service: dict[str, int] = field(default_factory=dict)
    crash_exits: int = 0  # services that exited on their own and were restarted
    crash_exits_by_service: dict[str, int] = field(default_factory=dict)
    redis_restarts: int = 0
    broker_restarts: int = 0
    broker_down_s: list[float] = field(default_factory=list)  # kill -9 -> serving again
    post_retries: int = 0
    refused_writes_s: float = 0.0  # how long Redis refused writes (`--refuse-writes`)
    http_statuses: dict[str, int] = field(default_factory=dict)  # every API answer of the run
    http_500: int = 0  # must be 0 when Redis refused writes: an outage is a 503
    unavailable_without_retry_after: int = 0  # 503s without Retry-After (must be 0)
    readyz_not_ready: int = 0  # /readyz 503s while the writes were refused
    http_examples: list[str] = field(default_factory=list)
    start_s: float = 0.0
    settle_s: float = 0.0
    total_s: float = 0.0
    clean_stop: dict[str, int | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicates_applied == 0
            and self.audit_inconsistent == 0
            and self.wrong_outcome == 0
            and self.effects_missing == 0
            and self.effects_rerun_unexplained == 0
            and self.orphan_effects == 0
            and self.events_missing == 0
            and self.keys_with_several_executions == 0
            and self.poison_dead_lettered >= self.poison_sent  # a resend after a broker kill
            and not self.poison_executions_wrong
            and self.started > 0
            and (
                self.refused_writes_s == 0
                or (self.http_500 == 0 and self.unavailable_without_retry_after == 0)
            )
        )

    def table(self) -> str:
        kills = ", ".join(f"{k} {v}" for k, v in sorted(self.kills_by_service.items()))
        crashes = ", ".join(f"{k} {v}" for k, v in sorted(self.crash_exits_by_service.items()))
        times = f"{self.settle_s:.0f} / {self.total_s:.0f}"
        rows = [
            ("executions started", self.started),
            ("  completed", self.completed),
            ("  failed (a step exhausted its retries, as designed)", self.failed),
            ("  other final (cancelled/timed out)", self.other_final),
            ("lost (must be 0)", self.lost),
            ("duplicates applied (must be 0)", self.duplicates_applied),
            ("audit trail inconsistent (must be 0)", self.audit_inconsistent),
            ("wrong outcome vs deterministic expectation (must be 0)", self.wrong_outcome),
            ("Idempotency-Keys with >1 execution (must be 0)", self.keys_with_several_executions),
            ("executions nobody was told about", self.unknown_executions),
            ("successful attempts", self.successful_attempts),
            ("  side effect exactly once", self.effects_exactly_once),
            ("  side effect missing (must be 0)", self.effects_missing),
            ("  side effect twice, first runner kill -9ed", self.effects_rerun_after_kill),
            ("  side effect twice, unexplained (must be 0)", self.effects_rerun_unexplained),
            ("side effects of no successful attempt (must be 0)", self.orphan_effects),
            (
                "audit entries missing from the events topic (must be 0)",
                self.events_missing if self.events_checked else "not checked",
            ),
            ("  events published more than once (allowed)", self.events_redelivered),
            ("dead letters", self.dlq_messages),
            (
                "poison records sent / dead-lettered with a reason (must be equal)",
                f"{self.poison_sent} / {self.poison_dead_lettered}"
                + (f"; ids holding '|': {self.pipe_ids} (verified above)" if self.pipe_ids else ""),
            ),
            (
                "poison executions via the API / ended wrong (must be 0)",
                f"{self.poison_executions} / {len(self.poison_executions_wrong)}",
            ),
            ("kills (kill -9)", f"{self.kills} ({kills})"),
            ("services that exited on their own (restarted)", f"{self.crash_exits} ({crashes})"),
            ("redis restarts (SIGKILL)", self.redis_restarts),
            ("broker restarts (SIGKILL)", self._broker_restarts()),
            ("POST retries", self.post_retries),
            *self._refusal_rows(),
            ("seconds: starting / settling / total", f"{self.start_s:.0f} / {times}"),
        ]
        width = max(len(name) for name, _ in rows)
        broker = f"broker {self.broker}, " if self.broker else ""
        lines = [f"chaos summary ({broker}appendfsync={self.appendfsync}, seed={self.seed})"]
        lines += [f"  {name.ljust(width)}  {value}" for name, value in rows]
        lines.append(f"  RESULT: {'PASS' if self.ok else 'FAIL'}")
        return "\n".join(lines)

    def _refusal_rows(self) -> list[tuple[str, Any]]:
        if not self.refused_writes_s:
            return []
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.http_statuses.items()))
        return [
            ("redis refused writes (s)", f"{self.refused_writes_s:.1f}"),
            ("  API answers by status", statuses),
            ("  500s (must be 0)", self.http_500),
            ("  503s without Retry-After (must be 0)", self.unavailable_without_retry_after),
            ("  /readyz not ready while refused", self.readyz_not_ready),
        ]

    def _broker_restarts(self) -> str:
        if not self.broker_down_s:
            return str(self.broker_restarts)
        down = ", ".join(f"{s:.1f}" for s in self.broker_down_s)
        return f"{self.broker_restarts} (down {down} s until it served again)"


class Chaos:
    """The chaos loop: kill -9 random services, restart them, restart Redis and the broker."""

    def __init__(
        self, cluster: Cluster, plan: Plan, rng: random.Random, log: Any, tally: HttpTally
    ) -> None:
        self.cluster = cluster
        self.plan = plan
        self.rng = rng
        self.log = log
        self.tally = tally
        self.refused_s = 0.0
        self.crashes: Counter[str] = Counter()
        self.down: list[tuple[float, Managed]] = []

    async def run(self, until: float) -> None:
        plan, cluster = self.plan, self.cluster
        begin = time.monotonic()
        redis_at = begin + plan.chaos_s * plan.redis_restart_at
        broker_at = begin + plan.chaos_s * plan.broker_restart_at
        redis_done = broker_done = False
        refuse_at = begin + plan.chaos_s * plan.refuse_writes_at
        if plan.refuse_writes_s:  # the Redis restart comes after the refusal, not inside it
            redis_at = max(redis_at, refuse_at + plan.refuse_writes_s + 2)
            broker_at = max(broker_at, redis_at + 2)
        refusal: asyncio.Task[float] | None = None
        next_kill = begin + self.rng.uniform(*plan.kill_gap_s)
        while time.monotonic() < until:
            now = time.monotonic()
            await self.housekeeping(now)
            if plan.refuse_writes_s and refusal is None and now >= refuse_at:
                refusal = asyncio.create_task(
                    refuse_writes(
                        cluster.redis_url,
                        cluster.base_url,
                        plan.refuse_writes_s,
                        self.tally,
                        self.log,
                        cluster.prefix,
                    )
                )
            if not redis_done and now >= redis_at:
                self.log("restart redis (SIGKILL, same dir and port)")
                await asyncio.to_thread(cluster.restart_redis, self.rng.uniform(0.5, 2.0))
                redis_done = True
            elif not broker_done and now >= broker_at:
                self.log("restart broker (SIGKILL, same log directory and port)")
                await asyncio.to_thread(cluster.restart_broker, self.rng.uniform(0.5, 2.0))
                broker_done = True
            elif now >= next_kill:
                victims = [s for s in cluster.services if s.alive]
                if len(self.down) < 2 and victims:
                    victim = self.rng.choice(victims)
                    victim.kill9()
                    pause = self.rng.uniform(*plan.down_s)
                    self.down.append((now + pause, victim))
                    self.log(f"kill -9 {victim.name} (down {pause:.1f}s)")
                next_kill = now + self.rng.uniform(*plan.kill_gap_s)
            await asyncio.sleep(0.1)
        if refusal is not None:
            self.refused_s = await refusal
        await self.housekeeping(float("inf"))

    async def housekeeping(self, now: float) -> None:
        """Restart killed services whose pause is over, and services that exited by themselves."""
        due = [m for at, m in self.down if at <= now]
        self.down = [(at, m) for at, m in self.down if at > now]
        for managed in due:
            await asyncio.to_thread(managed.start, False)
        for name, code in await asyncio.to_thread(self.cluster.supervise):
            self.crashes[name] += 1
            self.log(f"{name} exited by itself with {code}: restarted")


async def _start_executions(
    plan: Plan, base_url: str | list[str], tag: str, log: Any, tally: HttpTally | None = None
) -> tuple[dict[str, set[str]], int]:
    """POST every start with its own Idempotency-Key, retrying failures with the same key
    (with several trigger replicas, spread over them and retried at the next one)."""
    urls = [base_url] if isinstance(base_url, str) else base_url
    ids: dict[str, set[str]] = {}
    retries = 0
    slots = asyncio.Semaphore(plan.concurrency)
    begin = time.monotonic()

    async def one(client: httpx.AsyncClient, index: int) -> None:
        nonlocal retries
        await asyncio.sleep(plan.start_window_s * index / max(plan.executions, 1))
        key = f"{tag}-{index:05d}"
        body = {
            "customerId": f"chaos-{index:05d}",
            "plan": PLANS[index % 3],
            "industry": "retail",
            "companySize": SIZES[(index // 3) % 4],
        }
        deadline = time.monotonic() + 300
        delay = 0.2
        tries = 0
        async with slots:
            while True:
                url = urls[(index + tries) % len(urls)]
                tries += 1
                try:
                    response = await client.post(
                        f"{url}/workflows/{WORKFLOW}/execute",
                        json=body,
                        headers={"Idempotency-Key": key},
                        timeout=10,
                    )
                    if tally is not None:
                        tally.note(response)
                    if response.status_code == 202:
                        ids.setdefault(key, set()).add(response.json()["executionId"])
                        return
                    problem = f"HTTP {response.status_code} {response.text[:120]}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                retries += 1
                if time.monotonic() > deadline:
                    log(f"giving up on start {key}: {problem}")
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async with httpx.AsyncClient() as client:
        await asyncio.gather(*(one(client, i) for i in range(plan.executions)))
    log(f"{len(ids)} starts accepted in {time.monotonic() - begin:.0f}s ({retries} retries)")
    return ids, retries


PIPE_EXECUTIONS = 5
POISON_EACH = 3  # executions of each poison workflow started through the API


async def _inject_poison(cluster: Cluster, tag: str, log: Any) -> tuple[list[str], int]:
    """Poison of each kind that stalled the orchestrator's partitions before (issue 20), sent
    by a plain producer in the middle of the chaos: garbage on each input topic, a start
    command whose dead letter would not fit, and starts whose execution ids hold the timer
    separator '|'. Returns those ids (verified with the others) and the records that must
    reach the DLQ."""
    producer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all")
    await producer.start()
    sent = 0
    ids = [f"{tag}|pipe|{i}" for i in range(PIPE_EXECUTIONS)]
    try:
        for topic in ("wf.executions.start", "wf.steps.results", "wf.executions.control"):
            await producer.send_and_wait(f"{tag}.{topic}", b"\x00{poison", key=b"poison")
            sent += 1
        oversized = StartExecution(
            execution_id=f"{tag}-oversized",
            workflow="noSuchWorkflow",
            input={"blob": "a" * 900_000},  # fits the broker; its dead letter (base64) did not
            actor=Actor(kind="api"),
        )
        await producer.send_and_wait(f"{tag}.wf.executions.start", encode(oversized), b"big")
        sent += 1
        for i, eid in enumerate(ids):
            start = StartExecution(
                execution_id=eid,
                workflow=WORKFLOW,
                input={
                    "customerId": f"pipe-{i:05d}",
                    "plan": PLANS[i % 3],
                    "industry": "retail",
                    "companySize": SIZES[i % 4],
                },
                actor=Actor(kind="api"),
            )
            await producer.send_and_wait(f"{tag}.wf.executions.start", encode(start), eid.encode())
    finally:
        await producer.stop()
    log(f"poison sent: {sent} records for the DLQ, {len(ids)} starts with '|' in their ids")
    return ids, sent


async def _redis_call(redis: Redis, fn: Any, *args: Any, deadline_s: float = 60) -> Any:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return await fn(*args)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _effects(redis: Redis, prefix: str) -> tuple[dict[str, int], dict[str, list[int]]]:
    """The side-effect counts of chaos_functions, and which pids performed each."""
    raw = await _redis_call(redis, redis.hgetall, f"{prefix}:effects")
    effects = {k.decode(): int(v) for k, v in raw.items()}
    effect_pids: dict[str, list[int]] = {}
    for item in await _redis_call(redis, redis.lrange, f"{prefix}:effect_log", 0, -1):
        key, _, pid = item.decode().rpartition("|")
        effect_pids.setdefault(key, []).append(int(pid))
    return effects, effect_pids


async def _docs(redis: Redis, prefix: str, ids: list[str]) -> dict[str, dict[str, Any] | None]:
    async def fetch() -> list[Any]:
        async with redis.pipeline(transaction=False) as pipe:
            for eid in ids:
                pipe.hget(f"{prefix}:exec:{{{eid}}}", "doc")
            return list(await pipe.execute())

    raw = await _redis_call(redis, fetch)
    return {eid: json.loads(doc) if doc else None for eid, doc in zip(ids, raw, strict=True)}


async def _wait_final(
    redis: Redis, prefix: str, ids: list[str], stall_s: float, max_s: float, log: Any
) -> dict[str, dict[str, Any] | None]:
    """Poll until every execution is final; give up after `stall_s` without any progress
    (those left are lost) or after `max_s` in all (a slow machine is not a lost execution)."""
    begin = time.monotonic()
    last_progress, best = begin, len(ids) + 1
    last_report = 0.0
    while True:
        docs = await _docs(redis, prefix, ids)
        open_ids = [i for i, d in docs.items() if d is None or d["status"] in ("running", "paused")]
        now = time.monotonic()
        if len(open_ids) < best:
            best, last_progress = len(open_ids), now
        if not open_ids or now - last_progress > stall_s or now - begin > max_s:
            return docs
        if time.monotonic() - last_report > 10:
            log(f"waiting: {len(open_ids)} of {len(ids)} executions not final yet")
            last_report = time.monotonic()
        await asyncio.sleep(1.0)


async def _poison_later(
    cluster: Cluster, tag: str, plan: Plan, log: Any
) -> tuple[list[str], int, dict[str, str]]:
    await asyncio.sleep(plan.start_window_s * 0.3)  # while executions are in flight
    through_api = await start_poison(cluster.base_url, tag, POISON_EACH, log)
    deadline = time.monotonic() + 120
    while True:  # the broker may be the one being restarted right now
        try:
            return (*await _inject_poison(cluster, tag, log), through_api)
        except Exception as exc:
            if time.monotonic() > deadline:
                raise
            log(f"poison not sent yet ({type(exc).__name__}: {exc}); again")
            await asyncio.sleep(1)


async def _poison_letters(bootstrap: str, prefix: str) -> int:
    """Dead letters of the poison records (keys 'poison' and 'big'), each with a reason."""
    count = 0
    for raw in await _read_topic(bootstrap, f"{prefix}.wf.dlq"):
        letter = json.loads(raw)
        if letter.get("key") in ("poison", "big") and letter.get("reason"):
            count += 1
    return count


async def _read_topic(bootstrap: str, topic: str) -> list[bytes]:
    """Every message of `topic` from the beginning to the current end (no consumer group)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        tps, ends = await assign_whole_topic(consumer, topic)
        if not tps:
            return []
        out: list[bytes] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                break
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batch.values():
                out.extend(r.value for r in records if isinstance(r.value, bytes))
        return out
    finally:
        await consumer.stop()


async def _check_events(
    bootstrap: str, prefix: str, docs: dict[str, dict[str, Any]], summary: Summary
) -> None:
    seen: Counter[tuple[str, str, str | None, int | None]] = Counter()
    for value in await _read_topic(bootstrap, f"{prefix}.wf.executions.events"):
        try:
            event = decode(LifecycleEvent, value)
        except ContractError:
            continue
        seen[(event.execution_id, str(event.type), event.step_id, event.attempt)] += 1
    wanted: Counter[tuple[str, str, str | None, int | None]] = Counter()
    for eid, doc in docs.items():
        for entry in doc.get("history", []):
            wanted[(eid, entry["type"], entry.get("stepId"), entry.get("attempt"))] += 1
    summary.events_checked = True
    summary.events_missing = sum(max(0, n - seen[k]) for k, n in wanted.items())
    summary.events_redelivered = sum(max(0, seen[k] - n) for k, n in wanted.items())
    summary.dlq_messages = len(await _read_topic(bootstrap, f"{prefix}.wf.dlq"))


def _verify(
    summary: Summary,
    docs: dict[str, dict[str, Any] | None],
    effects: dict[str, int],
    effect_pids: dict[str, list[int]],
    killed: set[int],
) -> list[Any]:
    checks = []
    for eid, doc in docs.items():
        if doc is None or doc["status"] in ("running", "paused"):
            summary.lost += 1
            summary.lost_ids.append(f"{eid}: {'no state' if doc is None else doc['status']}")
            continue
        check = check_execution(doc)
        checks.append(check)
        if check.status == "completed":
            summary.completed += 1
        elif check.status == "failed":
            summary.failed += 1
        else:
            summary.other_final += 1
        if check.duplicates:
            summary.duplicates_applied += 1
            summary.duplicate_examples.append(f"{eid}: {check.duplicates}")
        if check.audit:
            summary.audit_inconsistent += 1
            summary.audit_examples.append(f"{eid}: {check.audit}")
        if check.wrong:
            summary.wrong_outcome += 1
            summary.wrong_examples.append(f"{eid}: {check.wrong}")
    report = check_effects(checks, effects, effect_pids, killed)
    summary.successful_attempts = report.successful_attempts
    summary.effects_exactly_once = report.exactly_once
    summary.effects_missing = len(report.missing)
    summary.effects_rerun_after_kill = len(report.rerun_after_kill)
    summary.effects_rerun_unexplained = len(report.rerun_unexplained)
    summary.orphan_effects = len(report.orphans)
    summary.effect_examples = (
        report.missing[:5]
        + report.rerun_after_kill[:5]
        + report.rerun_unexplained[:5]
        + report.orphans[:5]
    )
    return checks


async def _register(base_url: str) -> None:
    text = (ROOT / "examples" / "customer_onboarding.yaml").read_text()
    async with httpx.AsyncClient() as client:
        deadline = time.monotonic() + 90
        while True:
            try:
                ready = await client.get(f"{base_url}/readyz", timeout=5)
                if ready.status_code == 200:
                    response = await client.post(
                        f"{base_url}/workflows",
                        content=text,
                        headers={"content-type": "application/yaml"},
                        timeout=10,
                    )
                    if response.status_code in (200, 201):
                        return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the trigger service never became ready")
            await asyncio.sleep(0.5)


async def run(plan: Plan, log: Any = print) -> Summary:
    """Run the whole scenario once; returns the summary (the cluster is always stopped)."""
    rng = random.Random(plan.seed)
    own_dir = plan.workdir is None
    workdir = Path(plan.workdir or tempfile.mkdtemp(prefix="wf-chaos-"))
    tag = f"chaos{rng.randrange(16**6):06x}"
    cluster = Cluster(workdir, appendfsync=plan.appendfsync, prefix=tag)
    summary = Summary(appendfsync=plan.appendfsync, seed=plan.seed, broker=_broker_name(cluster))
    began = time.monotonic()

    def stamp(message: str) -> None:
        log(f"[{time.monotonic() - began:6.1f}s] {message}")

    stamp(f"workdir {workdir}; logs in {cluster.logs}")
    redis = Redis.from_url(cluster.redis_url, socket_timeout=10, socket_connect_timeout=2)
    try:
        await asyncio.to_thread(cluster.start)
        await _register(cluster.base_url)
        stamp("services up, workflow registered; starting executions and chaos")
        tally = HttpTally()
        chaos = Chaos(cluster, plan, rng, stamp, tally)
        t0 = time.monotonic()
        chaos_task = asyncio.create_task(chaos.run(t0 + plan.chaos_s))
        poison: asyncio.Task[tuple[list[str], int, dict[str, str]]] | None = None
        if plan.poison:
            poison = asyncio.create_task(_poison_later(cluster, tag, plan, stamp))
        keys, summary.post_retries = await _start_executions(
            plan, cluster.base_url, tag, stamp, tally
        )
        summary.start_s = time.monotonic() - t0
        await chaos_task
        stamp("chaos over; every service is running again")
        pipe_ids, summary.poison_sent, poisoned = (
            await poison if poison is not None else ([], 0, {})
        )
        summary.pipe_ids = len(pipe_ids)
        summary.poison_executions = len(poisoned)
        ids = sorted({eid for found in keys.values() for eid in found} | set(pipe_ids))
        summary.started = len(ids)
        summary.keys_with_several_executions = sum(1 for v in keys.values() if len(v) > 1)
        t1 = time.monotonic()
        docs = await _wait_final(redis, tag, ids, plan.settle_s, plan.settle_max_s, stamp)
        summary.settle_s = time.monotonic() - t1
        effects, effect_pids = await _effects(redis, tag)
        if poisoned:
            final = await _wait_final(redis, tag, sorted(poisoned), 30, 120, stamp)
            summary.poison_executions_wrong = check_poison(poisoned, final)
        indexed = await _redis_call(redis, redis.zrange, f"{tag}:executions", 0, -1)
        told = set(ids) | set(poisoned)
        summary.unknown_executions = len({i.decode() for i in indexed} - told)
        killed = {pid for s in cluster.services for pid in s.killed_pids}
        _verify(summary, docs, effects, effect_pids, killed)
        if plan.poison:
            summary.poison_dead_lettered = await _poison_letters(cluster.bootstrap, tag)
        if plan.check_events:
            final = {k: v for k, v in docs.items() if v is not None}
            await _check_events(cluster.bootstrap, tag, final, summary)
        summary.kills = sum(s.kills for s in cluster.services)
        kills: Counter[str] = Counter()
        for service in cluster.services:
            kills[service.name.split("-")[0]] += service.kills
        summary.kills_by_service = {k: v for k, v in kills.items() if v}
        summary.crash_exits = sum(chaos.crashes.values())
        summary.crash_exits_by_service = dict(chaos.crashes)
        summary.redis_restarts = cluster.redis_restarts
        summary.broker_restarts = cluster.broker_restarts
        summary.broker_down_s = list(cluster.broker_down_s)
        summary.refused_writes_s = chaos.refused_s
        summary.http_statuses = {str(k): v for k, v in sorted(tally.statuses.items())}
        summary.http_500 = tally.statuses[500]
        summary.unavailable_without_retry_after = tally.unavailable_without_retry_after
        summary.readyz_not_ready = tally.readyz_not_ready
        summary.http_examples = tally.examples
    finally:
        await redis.aclose()
        summary.clean_stop = await asyncio.to_thread(cluster.stop)
        summary.total_s = time.monotonic() - began
        (workdir / "summary.json").write_text(json.dumps(asdict(summary), indent=2))
        if own_dir and not plan.keep and summary.ok:
            shutil.rmtree(workdir, ignore_errors=True)
        elif not summary.ok:
            stamp(f"kept {workdir} for inspection")
    return summary


def _broker_name(cluster: Cluster) -> str:
    return f"Apache Kafka {cluster.broker.version} (KRaft, one node)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.run", description=__doc__)
    parser.add_argument("--short", action="store_true", help="the short form CI runs")
    parser.add_argument("--executions", type=int)
    parser.add_argument("--duration", type=float, help="seconds of chaos (starts spread over 5/6)")
    parser.add_argument("--appendfsync", choices=["everysec", "always"], default="everysec")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-events", action="store_true", help="skip reading the events topic")
    parser.add_argument("--workdir", help="keep logs and the summary here")
    parser.add_argument("--keep", action="store_true", help="keep the workdir even on success")
    parser.add_argument("--poison", action="store_true", help="also send poison records")
    parser.add_argument(
        "--refuse-writes",
        type=float,
        default=0.0,
        metavar="S",
        help="Redis refuses every write for S seconds (maxmemory 1, noeviction)",
    )
    args = parser.parse_args(argv)
    plan = Plan.short() if args.short else Plan()
    if args.executions:
        plan.executions = args.executions
    if args.duration:
        plan.chaos_s = args.duration
        plan.start_window_s = args.duration * 5 / 6
    plan.appendfsync = args.appendfsync
    plan.seed = args.seed
    plan.check_events = not args.no_events
    plan.workdir = args.workdir
    plan.keep = args.keep
    plan.poison = args.poison
    plan.refuse_writes_s = args.refuse_writes
    summary = asyncio.run(run(plan, functools.partial(print, flush=True)))
    print(summary.table())
    for name in (
        "lost_ids",
        "duplicate_examples",
        "audit_examples",
        "wrong_examples",
        "poison_executions_wrong",
    ):
        for line in getattr(summary, name)[:10]:
            print(f"  {name}: {line}")
    for line in summary.http_examples:
        print(f"  http: {line}")
    for line in summary.effect_examples[:10]:
        print(f"  effects: {line}")
    return 0 if summary.ok else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
