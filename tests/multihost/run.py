"""Several hosts: every service replica in its own network namespace; one host is cut off the
network, another is killed mid-run; every execution must still complete exactly once.

    python -m tests.multihost.run             # 300 executions (needs root and iproute2)
    python -m tests.multihost.run --short     # the test's form: 70 + a burst of 30
    python -m tests.multihost.run --cut dispatcher-1 --kill orchestrator-2

Hosts: trigger-1/2, orchestrator-1/2, dispatcher-1/2, worker-1/2 and notifier, each a netns on
a bridge; Apache Kafka (one KRaft node listening on and advertising the bridge's address) and
Redis in the root namespace. The executions are started through both triggers (a failed POST is
retried at the other one with the same Idempotency-Key); a burst of starts arrives just before
the cut, so the cut host is likely to hold work in flight. At `cut_at_s` the cut host's link
goes down; at `kill_at_s` the killed host's service gets SIGKILL (it stays dead). When every
execution is final the cut host's link comes back and the run waits for it to rejoin its
consumer group, so whatever it still held in memory is applied (or refused) before the audit
trails are checked with the chaos suite's verifier (tests/chaos/verify.py).

Takeover (orchestrator cut): `reassigned` is the cut -> the survivor's consumer logging
the orphaned partitions as assigned; `first`/`all` are the cut -> the first transition
saved on an orphaned partition / the moment every orphaned partition had moved again.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import functools
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from tests.chaos.run import (
    Plan,
    Summary,
    _check_events,
    _docs,
    _effects,
    _register,
    _start_executions,
    _verify,
    _wait_final,
)
from tests.multihost.cluster import HOST_REPLICAS, HostCluster, host_names
from tests.multihost.netns import Network
from tests.multihost.takeover import owned_partitions, takeover, transitions
from workflows.contracts.topics import Topics

__all__ = ["MultiPlan", "MultiSummary", "main", "run"]

WATCHED_FUNCTION = "setupCustomerAccount"  # a worker's partitions: those of this topic


@dataclass
class MultiPlan:
    executions: int = 300
    start_window_s: float = 60.0  # the starts are spread over this
    partitions: int = 6
    session_timeout_ms: int = 6000  # Kafka's default group.min.session.timeout.ms
    cut: str = "orchestrator-1"  # this host's link goes down...
    cut_at_s: float = 15.0  # ... this long after the first start
    burst: int = 40  # this many more starts at once just before the cut (work in flight)
    burst_lead_s: float = 0.3  # the burst starts this long before the cut
    kill: str = "worker-2"  # this host's service is kill -9ed...
    kill_at_s: float = 22.0
    rejoin_s: float = 90.0  # after the link is back: wait this long for the rejoin
    settle_s: float = 90.0  # give up when nothing became final for this long
    settle_max_s: float = 600.0
    concurrency: int = 16
    seed: int = 1
    workdir: str | None = None
    keep: bool = False

    @classmethod
    def short(cls) -> MultiPlan:
        return cls(executions=70, burst=30, start_window_s=30.0, cut_at_s=8.0, kill_at_s=12.0)


@dataclass
class MultiSummary:
    hosts: list[str]
    cut: str
    killed: str
    session_timeout_ms: int
    partitions: int
    orphaned: list[int] = field(default_factory=list)  # partitions the cut host owned
    reassigned_s: float | None = None  # cut -> a survivor logged them as assigned
    takeover_first_s: float | None = None  # cut -> first transition on an orphaned partition
    takeover_all_s: float | None = None  # cut -> every orphaned partition moved again
    kill_reassigned_s: float | None = None  # kill -> a survivor was assigned its partitions
    rejoined_s: float | None = None  # link up -> the cut host's consumer was assigned again
    cut_host_batch_failures: int = 0  # batches the cut host could not finish (redelivered)
    cut_host_commits_refused: int = 0  # offset commits refused: its partitions had moved
    checks: Summary = field(default_factory=lambda: Summary("none", 0))

    @property
    def ok(self) -> bool:
        if self.cut.startswith("orchestrator") and self.takeover_first_s is None:
            return False
        return self.checks.ok

    def table(self) -> str:
        def secs(value: float | None) -> str:
            return "never" if value is None else f"{value:.1f}"

        def by_audit(value: float | None) -> str:  # transitions tell only of orchestrators
            return secs(value) if self.cut.startswith("orchestrator") else "n/a"

        c = self.checks
        rows = [
            ("hosts", f"{len(self.hosts)} ({', '.join(self.hosts)})"),
            ("broker", c.broker or "?"),
            (
                "partitions per topic / session timeout",
                f"{self.partitions} / {secs(self.session_timeout_ms / 1000)} s",
            ),
            ("cut off (link down) / kill -9", f"{self.cut} / {self.killed}"),
            ("executions started", c.started),
            ("  completed / failed (as designed)", f"{c.completed} / {c.failed}"),
            ("partitions the cut host owned", self.orphaned),
            ("takeover: cut -> survivor assigned them, s", secs(self.reassigned_s)),
            ("takeover: cut -> first transition on them, s", by_audit(self.takeover_first_s)),
            ("takeover: cut -> all of them moved again, s", by_audit(self.takeover_all_s)),
            ("link up -> cut host rejoined its group, s", secs(self.rejoined_s)),
            (
                "kill -> a survivor assigned the killed one's partitions, s",
                secs(self.kill_reassigned_s),
            ),
            (
                "cut host's batches failed / commits refused",
                f"{self.cut_host_batch_failures} / {self.cut_host_commits_refused}",
            ),
            ("lost (must be 0)", c.lost),
            ("duplicated transitions (must be 0)", c.duplicates_applied),
            ("audit trail inconsistent (must be 0)", c.audit_inconsistent),
            ("wrong outcome (must be 0)", c.wrong_outcome),
            (
                "side effects: exactly once / rerun after kill or cut",
                f"{c.effects_exactly_once} / {c.effects_rerun_after_kill}",
            ),
            (
                "side effects missing or unexplained (must be 0)",
                c.effects_missing + c.effects_rerun_unexplained,
            ),
            ("audit entries missing from the events topic (must be 0)", c.events_missing),
            ("services that exited on their own (restarted)", c.crash_exits),
            (
                "seconds: starting / settling / total",
                f"{c.start_s:.0f} / {c.settle_s:.0f} / {c.total_s:.0f}",
            ),
        ]
        width = max(len(name) for name, _ in rows)
        lines = ["multi-host summary"]
        lines += [f"  {name.ljust(width)}  {value}" for name, value in rows]
        lines.append(f"  RESULT: {'PASS' if self.ok else 'FAIL'}")
        return "\n".join(lines)


def _log_events(text: str, event: str) -> list[dict[str, Any]]:
    """The JSON log lines of one event (structlog, one object per line)."""
    out = []
    for line in text.splitlines():
        if f'"{event}"' in line:
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


def _assigned_since(text: str, topic: str, since: float) -> list[tuple[float, set[int]]]:
    """(epoch seconds, partitions of `topic`) of each assignment logged after `since`."""
    out = []
    for event in _log_events(text, "partitions_assigned"):
        when = _epoch(event["timestamp"])
        parts = {int(p.rpartition(":")[2]) for p in event["partitions"] if p.startswith(topic)}
        if when > since:
            out.append((when, parts))
    return out


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


async def _poll(check: Any, deadline_s: float, what: str) -> float:
    """Poll `check()` until it is true; returns the seconds it took."""
    begin = time.monotonic()
    while not check():
        if time.monotonic() - begin > deadline_s:
            raise TimeoutError(f"multihost: {what} did not happen within {deadline_s:.0f}s")
        await asyncio.sleep(0.2)
    return time.monotonic() - begin


class Scenario:
    """One run: the network, the cluster, the faults and the measurements."""

    def __init__(self, plan: MultiPlan, workdir: Path, log: Any) -> None:
        self.plan = plan
        self.log = log
        rng = random.Random(plan.seed)
        self.tag = f"mh{rng.randrange(16**6):06x}"
        self.topic = Topics.with_prefix(f"{self.tag}.").start
        self.network = Network()
        self.network.up(host_names(HOST_REPLICAS))
        env = {"WORKFLOWS_SESSION_TIMEOUT_MS": str(plan.session_timeout_ms)}
        self.cluster = HostCluster(
            workdir,
            self.network,
            prefix=self.tag,
            partitions=plan.partitions,
            replicas=HOST_REPLICAS,
            extra_env=env,
        )
        self.cut_at = self.restored_at = self.killed_at = 0.0
        atexit.register(self.kill_leftovers)

    def kill_leftovers(self) -> None:
        """At exit, whatever happened: SIGKILL every process of the run still alive."""
        for managed in [*self.cluster.services, self.cluster.broker, self.cluster.redis]:
            if managed.alive and managed.pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(managed.pid, signal.SIGKILL)

    def text(self, label: str) -> str:
        return self.cluster.service(label).tail(10**8)

    async def wait_groups_stable(self) -> None:
        """Both orchestrators own partitions of the start topic (the group has formed)."""
        labels = [s.name for s in self.cluster.services if s.name.startswith("orchestrator")]

        def formed() -> bool:
            now = time.time()
            owned = [owned_partitions(self.text(x), self.topic, now) for x in labels]
            return all(owned) and len(set().union(*owned)) == self.plan.partitions

        took = await _poll(formed, 90, "the orchestrators' consumer group forming")
        self.log(f"orchestrator group formed after {took:.1f}s more")

    async def faults(self, t0: float, urls: list[str]) -> tuple[dict[str, set[str]], int]:
        """Burst, cut, kill; returns the burst's starts (as `_start_executions`)."""
        plan = self.plan
        await asyncio.sleep(max(0.0, t0 + plan.cut_at_s - plan.burst_lead_s - time.monotonic()))
        at_once = Plan(executions=plan.burst, start_window_s=0.0, concurrency=plan.burst)
        burst = asyncio.create_task(_start_executions(at_once, urls, f"{self.tag}-b", self.log))
        await asyncio.sleep(max(0.0, t0 + plan.cut_at_s - time.monotonic()))
        self.network.cut(plan.cut)
        self.cut_at = time.time()
        self.log(f"cut {plan.cut} off the network (link down)")
        await asyncio.sleep(max(0.0, t0 + plan.kill_at_s - time.monotonic()))
        self.cluster.service(plan.kill).kill9()
        self.killed_at = time.time()
        self.log(f"kill -9 {plan.kill}")
        return await burst

    async def rejoin(self, summary: MultiSummary) -> None:
        """Link up again; wait until the cut host's consumer is assigned partitions again."""
        label = self.plan.cut
        self.network.restore(label)
        self.restored_at = time.time()
        self.log(f"link of {label} up again; waiting for it to rejoin")
        if label.startswith(("trigger", "notifier")):
            return  # no consumer group of interest (triggers only consume event topics)

        def back() -> bool:
            return any(parts for _, parts in self._assigned(label, self.restored_at))

        summary.rejoined_s = await _poll(back, self.plan.rejoin_s, f"{label} rejoining")

    def _watched(self, label: str) -> str:
        """The topic whose partitions stand for what a replica of this service owns."""
        topics = Topics.with_prefix(f"{self.tag}.")
        return {
            "orchestrator": topics.start,
            "dispatcher": topics.step_commands,
            "notifier": topics.events,
            "worker": topics.function(WATCHED_FUNCTION),
        }.get(label.partition("-")[0], "")

    def _assigned(self, label: str, since: float) -> list[tuple[float, set[int]]]:
        return _assigned_since(self.text(label), self._watched(label), since)

    def reassigned(self, label: str, at: float, until: float) -> tuple[set[int], float | None]:
        """The partitions `label` owned at `at`, and the seconds until another replica of its
        service was assigned all of them (None: not before `until`)."""
        orphaned = owned_partitions(self.text(label), self._watched(label), at)
        service = label.partition("-")[0]
        best: float | None = None
        for other in self.cluster.services:
            if other.name == label or other.name.partition("-")[0] != service:
                continue
            for when, parts in self._assigned(other.name, at):
                if orphaned and orphaned <= parts and when < until:
                    best = when - at if best is None else min(best, when - at)
                    break
        return orphaned, best

    def measure(self, summary: MultiSummary, docs: dict[str, dict[str, Any] | None]) -> None:
        label = self.plan.cut
        text = self.text(label)
        summary.cut_host_batch_failures = len(_log_events(text, "batch_failed"))
        summary.cut_host_commits_refused = text.count("CommitFailedError")
        if label.startswith("trigger"):
            return
        orphaned, summary.reassigned_s = self.reassigned(label, self.cut_at, self.restored_at)
        summary.orphaned = sorted(orphaned)
        _, summary.kill_reassigned_s = self.reassigned(self.plan.kill, self.killed_at, 1e12)
        if not label.startswith("orchestrator"):
            return
        final = [d for d in docs.values() if d is not None]
        result = takeover(
            transitions(final, self.plan.partitions), orphaned, self.cut_at, self.restored_at
        )
        summary.takeover_first_s, summary.takeover_all_s = result.first_s, result.all_s


async def run(plan: MultiPlan, log: Any = print) -> MultiSummary:
    """Run the scenario once; the network and every process are removed whatever happens."""
    own_dir = plan.workdir is None
    workdir = Path(plan.workdir or tempfile.mkdtemp(prefix="wf-multihost-"))
    began = time.monotonic()

    def stamp(message: str) -> None:
        log(f"[{time.monotonic() - began:6.1f}s] {message}")

    labels = host_names(HOST_REPLICAS)
    summary = MultiSummary(labels, plan.cut, plan.kill, plan.session_timeout_ms, plan.partitions)
    summary.checks = Summary(appendfsync="no", seed=plan.seed)
    scenario: Scenario | None = None
    redis: Redis | None = None
    try:
        scenario = Scenario(plan, workdir, stamp)
        cluster = scenario.cluster
        summary.checks.broker = f"Apache Kafka {cluster.broker.version} on {cluster.bootstrap}"
        stamp(f"network {scenario.network.subnet} up; workdir {workdir}")
        redis = Redis.from_url(cluster.redis_url, socket_timeout=10, socket_connect_timeout=2)
        await asyncio.to_thread(cluster.start)
        await _register(cluster.base_url)
        await scenario.wait_groups_stable()
        await _run_load(plan, scenario, redis, summary, stamp)
    finally:
        if redis is not None:
            await redis.aclose()
        if scenario is not None:
            summary.checks.clean_stop = await asyncio.to_thread(scenario.cluster.stop)
            scenario.network.close()
        summary.checks.total_s = time.monotonic() - began
        (workdir / "summary.json").write_text(json.dumps(asdict(summary), indent=2))
        if own_dir and not plan.keep and summary.ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            stamp(f"logs kept in {workdir}")
    return summary


async def _run_load(
    plan: MultiPlan, scenario: Scenario, redis: Redis, summary: MultiSummary, stamp: Any
) -> None:
    cluster, checks, tag = scenario.cluster, summary.checks, scenario.tag
    starts = Plan(
        executions=plan.executions,
        start_window_s=plan.start_window_s,
        concurrency=plan.concurrency,
    )
    total = plan.executions + plan.burst
    stamp(f"starting {total} executions through {len(cluster.base_urls)} triggers")
    t0 = time.monotonic()
    faults = asyncio.create_task(scenario.faults(t0, cluster.base_urls))
    keys, checks.post_retries = await _start_executions(starts, cluster.base_urls, tag, stamp)
    checks.start_s = time.monotonic() - t0
    burst, retries = await faults
    keys.update(burst)
    checks.post_retries += retries
    ids = sorted({eid for found in keys.values() for eid in found})
    checks.started = len(ids)
    checks.keys_with_several_executions = sum(1 for v in keys.values() if len(v) > 1)
    t1 = time.monotonic()
    await _wait_final(redis, tag, ids, plan.settle_s, plan.settle_max_s, stamp)
    checks.settle_s = time.monotonic() - t1
    for name, code in cluster.supervise():
        checks.crash_exits += 1
        stamp(f"{name} had exited by itself with {code}")
    await scenario.rejoin(summary)
    docs = await _docs(redis, tag, ids)  # read again: after the cut host came back
    effects, effect_pids = await _effects(redis, tag)
    killed = {pid for s in cluster.services for pid in s.killed_pids}
    killed |= set(cluster.host_pids(plan.cut))  # a cut host is a crashed one for the others
    _verify(checks, docs, effects, effect_pids, killed)
    final = {k: v for k, v in docs.items() if v is not None}
    await _check_events(cluster.bootstrap, tag, final, checks)
    scenario.measure(summary, docs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.multihost.run", description=__doc__)
    parser.add_argument("--short", action="store_true", help="the test's form (100 executions)")
    parser.add_argument("--executions", type=int)
    parser.add_argument("--partitions", type=int)
    parser.add_argument("--session-timeout-ms", type=int)
    hosts = host_names(HOST_REPLICAS)
    parser.add_argument("--cut", choices=hosts, help="the host cut off the network")
    parser.add_argument("--kill", choices=hosts, help="the host whose service is kill -9ed")
    parser.add_argument("--workdir", help="keep logs and the summary here")
    parser.add_argument("--keep", action="store_true", help="keep the workdir even on success")
    args = parser.parse_args(argv)
    plan = MultiPlan.short() if args.short else MultiPlan()
    for name in ("executions", "partitions", "session_timeout_ms", "cut", "kill", "workdir"):
        if getattr(args, name) is not None:
            setattr(plan, name, getattr(args, name))
    plan.keep = args.keep
    # SIGTERM unwinds like Ctrl-C: `run`'s finally and the atexit hooks remove everything
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    summary = asyncio.run(run(plan, functools.partial(print, flush=True)))
    print(summary.table())
    c = summary.checks
    for line in [*c.lost_ids, *c.duplicate_examples, *c.audit_examples, *c.wrong_examples][:20]:
        print(f"  {line}")
    return 0 if summary.ok else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
