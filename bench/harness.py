"""Scenario drivers shared by every system: closed-loop latency, open-loop saturation ramp.

A `Target` starts runs (`start`) and reports each completion by calling `done(run_id)` from
any thread; the harness timestamps it there (perf_counter, same process as the start).
Open-loop latencies are measured from the *scheduled* start time, so a driver or broker
that falls behind shows up in the figures instead of hiding them (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bench.hist import Histogram
from bench.procs import CpuSampler, rss_mib

__all__ = ["Harness", "Profile", "Target"]


class Target(Protocol):
    name: str

    async def start(self, kind: str, run_id: str, size: int) -> None:
        """Submit one run of workload `kind` ("chain", "payload", "fanout")."""
        ...

    def processes(self) -> dict[str, list[int]]:
        """PIDs by role, for CPU accounting."""
        ...


@dataclass
class Profile:
    """Counts and durations of one run mode (quick or full)."""

    quick: bool
    serial_runs: int
    warmup_runs: int
    rates: list[int]
    step_seconds: float
    payload_rates: dict[int, list[int]]
    fanout_runs: int
    scaling_seconds: float
    scaling_in_flight: int
    drain_timeout: float = 20.0
    idle_seconds: float = 5.0
    soak_seconds: float = 0.0  # 0: no soak
    soak_window_s: float = 60.0  # "first and last minute"
    soak_bucket_s: float = 10.0  # time-series resolution (latency and RSS)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def make(cls, quick: bool) -> Profile:
        if quick:
            return cls(
                quick=True,
                serial_runs=50,
                warmup_runs=5,
                rates=[10, 20, 40, 80, 160, 320],
                step_seconds=1.5,
                payload_rates={262_144: [2, 4, 8, 16]},  # the 1 KB ramp: full run only
                fanout_runs=3,
                scaling_seconds=0.0,  # scaling needs process restarts: full run only
                scaling_in_flight=32,
                drain_timeout=8.0,
                idle_seconds=3.0,
                soak_seconds=30.0,
                soak_window_s=10.0,
                soak_bucket_s=5.0,
            )
        return cls(
            quick=False,
            serial_runs=1000,
            warmup_runs=30,
            # 200/s is the target (2,000 hops/s): a step of its own, not 160 -> 240
            rates=[10, 20, 40, 60, 80, 120, 160, 200, 240, 320, 480, 640, 960, 1280],
            step_seconds=6.0,
            payload_rates={
                1024: [10, 20, 40, 60, 80, 120, 160, 200, 240, 320, 480, 640],
                262_144: [1, 2, 4, 8, 16, 32, 64],
            },
            fanout_runs=20,
            scaling_seconds=10.0,
            scaling_in_flight=64,
            drain_timeout=20.0,
            idle_seconds=10.0,
            soak_seconds=600.0,
            soak_window_s=60.0,
            soak_bucket_s=10.0,
        )


class Harness:
    def __init__(self, target: Target, loop: asyncio.AbstractEventLoop) -> None:
        self.target = target
        self.loop = loop
        self._lock = threading.Lock()
        self._waiters: dict[str, asyncio.Future[float]] = {}
        self.finished: dict[str, float] = {}
        self.failed = 0

    # -- completion plumbing ----------------------------------------------------------
    def expect(self, run_id: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = self.loop.create_future()
        with self._lock:
            self._waiters[run_id] = future
        return future

    def done(self, run_id: str, ok: bool = True) -> None:
        """Called by the target (any thread) when a run completed."""
        now = time.perf_counter()
        with self._lock:
            future = self._waiters.pop(run_id, None)
            if future is None:
                return
            self.finished[run_id] = now
            if not ok:
                self.failed += 1
        self.loop.call_soon_threadsafe(_resolve, future, now)

    # -- scenarios --------------------------------------------------------------------
    async def closed_loop(
        self, kind: str, runs: int, size: int = 0, timeout: float = 60.0
    ) -> Histogram:
        """One run in flight at a time; returns the end-to-end latency histogram."""
        hist = Histogram()
        for _ in range(runs):
            run_id = uuid.uuid4().hex
            future = self.expect(run_id)
            t0 = time.perf_counter()
            await self.target.start(kind, run_id, size)
            t1 = await asyncio.wait_for(future, timeout)
            hist.record_seconds(t1 - t0)
        return hist

    async def open_loop_step(
        self, kind: str, rate: float, seconds: float, drain_timeout: float, size: int = 0
    ) -> dict[str, Any]:
        """Start `rate` runs/s for `seconds`, then wait for the stragglers."""
        sampler = CpuSampler(self.target.processes())
        total = max(1, int(rate * seconds))
        scheduled: dict[str, float] = {}
        futures: list[asyncio.Future[float]] = []
        sampler.begin()
        t0 = time.perf_counter()
        late = await self._start_open_loop(kind, rate, total, t0, size, scheduled, futures)
        t_end = t0 + seconds
        if time.perf_counter() < t_end:
            await asyncio.sleep(t_end - time.perf_counter())
        window_end = time.perf_counter()
        cpu = sampler.end()
        done_at = sorted(f.result() for f in futures if f.done() and not f.cancelled())
        in_window = len(done_at)
        backlog = total - in_window
        # steady-state rate: completions from the first one to the window's end (the
        # first `latency` of the window cannot have completions at any rate)
        steady = (
            (len(done_at) - 1) / (window_end - done_at[0])
            if len(done_at) > 1 and window_end - done_at[0] > 0.2
            else in_window / (window_end - t0)
        )
        _, pending = await asyncio.wait(futures, timeout=drain_timeout)
        drained = time.perf_counter() - window_end
        hist = Histogram()
        for run_id, due in scheduled.items():
            finished = self.finished.get(run_id)
            if finished is not None:
                hist.record_seconds(finished - due)
        for future in pending:
            future.cancel()
        self._forget(scheduled)
        return {
            "offered_per_s": rate,
            "started": total,
            "completed_in_window": in_window,
            "completed_per_s": round(min(steady, float(rate)), 1),
            "completed_total": total - len(pending),
            "unfinished_after_drain": len(pending),
            "backlog_at_window_end": backlog,
            "drain_s": round(drained, 2),
            "driver_max_lag_ms": round(late * 1000, 1),
            "latency_ms": hist.summary(),
            "cpu_percent": cpu,
        }

    async def ramp(
        self,
        kind: str,
        rates: list[int],
        seconds: float,
        drain_timeout: float,
        size: int = 0,
        steps_per_run: int = 10,
        log: Callable[[str], None] = print,
    ) -> dict[str, Any]:
        """Raise the offered rate until completed/s plateaus, p99 > 1 s or runs are lost."""
        steps: list[dict[str, Any]] = []
        best = 0.0
        stop_reason = "last rate reached"
        for rate in rates:
            step = await self.open_loop_step(kind, rate, seconds, drain_timeout, size)
            step["hops_per_s"] = round(step["completed_per_s"] * steps_per_run, 1)
            steps.append(step)
            lat = step["latency_ms"]
            log(
                f"  {self.target.name} {kind} size={size} rate={rate}/s -> "
                f"{step['completed_per_s']}/s p50={lat['p50']} p99={lat['p99']} ms "
                f"backlog={step['backlog_at_window_end']} cpu={step['cpu_percent']}"
            )
            plateau = step["completed_per_s"] < best * 1.1 and step["completed_per_s"] < rate * 0.9
            best = max(best, step["completed_per_s"])
            if step["unfinished_after_drain"]:
                stop_reason = f"runs unfinished {drain_timeout}s after the window at {rate}/s"
                break
            if lat["p99"] > 1000:
                stop_reason = f"p99 > 1 s at {rate}/s"
                break
            if plateau:
                stop_reason = f"completed/s plateaued at {rate}/s"
                break
        sustained = [s for s in steps if s["latency_ms"]["p99"] <= 1000]
        return {
            "steps": steps,
            "stop_reason": stop_reason,
            "max_completed_per_s": best,
            "max_hops_per_s": round(best * steps_per_run, 1),
            "max_sustained_per_s_p99_under_1s": max(
                (s["completed_per_s"] for s in sustained), default=0.0
            ),
        }

    async def idle(self, seconds: float, settle: float = 1.0) -> dict[str, float]:
        """CPU of every role with the system up and no runs, in % of one core."""
        await asyncio.sleep(settle)
        sampler = CpuSampler(self.target.processes())
        sampler.begin()
        await asyncio.sleep(seconds)
        return sampler.end()

    async def _start_open_loop(
        self,
        kind: str,
        rate: float,
        total: int,
        t0: float,
        size: int,
        scheduled: dict[str, float],
        futures: list[asyncio.Future[float]],
    ) -> float:
        """Start `total` runs at `rate`/s from `t0`, each at its scheduled time (filling
        `scheduled` run id -> due and `futures`); returns the driver's worst lateness (s)."""
        interval = 1.0 / rate
        late = 0.0
        for i in range(total):
            due = t0 + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late = max(late, -delay)
            run_id = uuid.uuid4().hex
            scheduled[run_id] = due
            futures.append(self.expect(run_id))
            await self.target.start(kind, run_id, size)
        return late

    def _forget(self, run_ids: dict[str, float]) -> None:
        """Drop the waiters and finish times of a scenario's runs."""
        with self._lock:
            for run_id in run_ids:
                self._waiters.pop(run_id, None)
                self.finished.pop(run_id, None)

    async def soak(
        self,
        kind: str,
        rate: float,
        seconds: float,
        window_s: float,
        bucket_s: float,
        drain_timeout: float,
        rss_roles: list[str] | None = None,
        warm_up_s: float | None = None,
    ) -> dict[str, Any]:
        """Open loop at `rate` for `seconds`: latency per time bucket and RSS over time.

        Latency is from the scheduled start and is attributed to the bucket of that start.
        RSS (MiB) of each role is sampled every `bucket_s` from the start to the window's end;
        the "warm" sample is the first at or after `warm_up_s` (default: one window), by when
        the target's bounded caches and retention windows are expected to be full.
        """
        wanted = window_s if warm_up_s is None else warm_up_s
        warm_from = wanted if wanted < seconds else window_s  # a short soak: one window
        roles = self.target.processes()
        watched = {r: p for r, p in roles.items() if rss_roles is None or r in rss_roles}
        sampler = CpuSampler(roles)
        total = max(1, int(rate * seconds))
        due_at: dict[str, float] = {}
        futures: list[asyncio.Future[float]] = []
        rss: list[dict[str, float]] = []
        t0 = time.perf_counter()

        async def sample_rss() -> None:
            while True:
                rss.append(
                    {"t_s": round(time.perf_counter() - t0, 1)}
                    | {role: rss_mib(pids) for role, pids in watched.items()}
                )
                await asyncio.sleep(bucket_s)

        sampler.begin()
        rss_task = asyncio.create_task(sample_rss())
        late = await self._start_open_loop(kind, rate, total, t0, 0, due_at, futures)
        if time.perf_counter() < t0 + seconds:
            await asyncio.sleep(t0 + seconds - time.perf_counter())
        rss_task.cancel()
        rss.append(
            {"t_s": round(time.perf_counter() - t0, 1)}
            | {role: rss_mib(pids) for role, pids in watched.items()}
        )
        cpu = sampler.end()
        _, pending = await asyncio.wait(futures, timeout=drain_timeout)
        for future in pending:
            future.cancel()
        buckets: dict[int, Histogram] = {}
        first, last = Histogram(), Histogram()
        for run_id, due in due_at.items():
            finished = self.finished.get(run_id)
            if finished is None:
                continue
            offset = due - t0
            buckets.setdefault(int(offset // bucket_s), Histogram()).record_seconds(finished - due)
            if offset < window_s:
                first.record_seconds(finished - due)
            if offset >= seconds - window_s:
                last.record_seconds(finished - due)
        self._forget(due_at)
        series = []
        for index in sorted(buckets):
            summary = buckets[index].summary()
            series.append(
                {
                    "t_s": index * bucket_s,
                    "completed": summary["count"],
                    "p50_ms": summary["p50"],
                    "p99_ms": summary["p99"],
                }
            )
        return {
            "offered_per_s": rate,
            "seconds": seconds,
            "window_s": window_s,
            "bucket_s": bucket_s,
            "started": total,
            "unfinished_after_drain": len(pending),
            "driver_max_lag_ms": round(late * 1000, 1),
            "first_window_ms": first.summary(),
            "last_window_ms": last.summary(),
            "latency_series": series,
            "rss_mib_series": rss,
            "warm_up_s": wanted,
            # "warm": the first sample once the warm-up is over (the services have filled
            # their bounded caches and Redis its retention window by then)
            "rss_mib": {
                "start": rss[0],
                "warm": next((r for r in rss if r["t_s"] >= warm_from), rss[-1]),
                "end": rss[-1],
            },
            "cpu_percent": cpu,
        }

    async def in_flight(
        self, kind: str, concurrency: int, seconds: float, size: int = 0
    ) -> dict[str, Any]:
        """Closed loop with `concurrency` runs always in flight: maximum throughput."""
        sampler = CpuSampler(self.target.processes())
        hist = Histogram()
        deadline = time.perf_counter() + seconds
        completed = 0

        async def lane() -> None:
            nonlocal completed
            while time.perf_counter() < deadline:
                run_id = uuid.uuid4().hex
                future = self.expect(run_id)
                t0 = time.perf_counter()
                await self.target.start(kind, run_id, size)
                t1 = await asyncio.wait_for(future, 120)
                if t1 <= deadline:
                    completed += 1
                hist.record_seconds(t1 - t0)

        async def sample_at_deadline() -> dict[str, float]:
            await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
            return sampler.end()

        sampler.begin()
        cpu_task = asyncio.create_task(sample_at_deadline())
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        cpu = await cpu_task
        return {
            "in_flight": concurrency,
            "seconds": seconds,
            "completed_per_s": round(completed / seconds, 1),
            "latency_ms": hist.summary(),
            "cpu_percent": cpu,
        }


def _resolve(future: asyncio.Future[float], value: float) -> None:
    if not future.done():
        future.set_result(value)
