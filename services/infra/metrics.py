"""Prometheus metrics of the engine, registered in an injected `CollectorRegistry`.

`EngineMetrics` holds every metric the services export; `EngineMetrics.of(registry)` gives
the one instance of a registry, so the services of one process share their metrics (and one
`/metrics` endpoint). Labels are bounded: workflow names, step ids, function names, topics,
service names and fixed outcomes; never execution ids.

| metric | type | labels |
|---|---|---|
| `workflows_executions_started_total` | counter | workflow |
| `workflows_executions_finished_total` | counter | workflow, status |
| `workflows_executions_in_flight` | gauge | workflow |
| `workflows_execution_duration_seconds` | histogram | workflow, status |
| `workflows_step_duration_seconds` | histogram | workflow, step, function |
| `workflows_step_outcomes_total` | counter | workflow, step, outcome |
| `workflows_step_retries_total` | counter | workflow, step |
| `workflows_step_fallbacks_total` | counter | workflow, step |
| `workflows_kpi_value` | histogram | workflow, kpi, status |
| `workflows_kpi_mean`, `workflows_kpi_p50`, `workflows_kpi_p95` | gauge | workflow, kpi, unit |
| `workflows_kpi_executions` | gauge | workflow, kpi, unit |
| `workflows_completion_ratio` | gauge | workflow |
| `workflows_messages_processed_total` | counter | service, topic |
| `workflows_consumer_lag_messages` | gauge | service, topic |
| `workflows_dlq_messages_total` | counter | service, topic |
| `workflows_commands_routed_total` | counter | route |
| `workflows_step_cache_total` | counter | function, outcome (`hit`, `miss`) |
| `workflows_notifications_total` | counter | channel, outcome |

`workflows_kpi_value` observes every ended execution (completed, failed, cancelled, timed out;
the `status` label tells them apart), so a rate KPI such as "100 if completed else 0" has the
right mean (`_sum / _count`). Its buckets are shared by every KPI, so its quantiles are
estimates; the exact figures are the `workflows_kpi_*` gauges and `workflows_completion_ratio`:
the aggregates `GET /workflows/{name}/metrics` answers (over the same newest executions, with
each KPI's declared unit), set by the trigger every `KPI_EXPORT_EVERY_S`
(`workflows.services.trigger.routes.metrics`). Every trigger replica exports the same values: query
them with `max by (workflow, kpi, unit)`.

The API's `/metrics` shows a key of another namespace only the samples of its own
workflows (`WorkflowFilter`; samples without a `workflow` label are engine-wide and shown to
all), an `admin` key of `default` everything; Prometheus scrapes the separate listener
(`WORKFLOWS_METRICS_PORT`), which is unfiltered.

The in-flight gauge is counted by the orchestrator process that applies the transitions
(+1 on `execution.started`, -1 on a terminal event); only its sum over replicas is
meaningful, and it is exact as long as no orchestrator restarts while executions run.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

from workflows.services.core.engine import Transition

if TYPE_CHECKING:
    from workflows.services.infra.kafka import Bus

__all__ = ["EngineMetrics", "ServiceMetrics", "WorkflowFilter"]

STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
EXECUTION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)
# Edges at 0, 1 and 100 (flags, ratios, percentages) and a 1-2-5 series up to a million.
KPI_BUCKETS = (
    *(0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1, 2, 5, 10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90),
    *(95, 99, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 1_000_000),
)
TERMINAL_EVENTS = frozenset(
    {"execution.completed", "execution.failed", "execution.cancelled", "execution.timed_out"}
)
STEP_OUTCOMES = {
    "step.succeeded": "succeeded",
    "step.failed": "failed",
    "step.skipped": "skipped",
    "step.timed_out": "timed_out",
}


class EngineMetrics:
    """Every metric of the engine, in one registry."""

    _by_registry: ClassVar[weakref.WeakKeyDictionary[CollectorRegistry, EngineMetrics]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        wf, step = ["workflow"], ["workflow", "step"]
        r = registry
        self.executions_started = Counter(
            "workflows_executions_started", "Executions started", wf, registry=r
        )
        self.executions_finished = Counter(
            "workflows_executions_finished",
            "Executions finished, by final status (completed, failed, cancelled, timed_out)",
            [*wf, "status"],
            registry=r,
        )
        self.in_flight = Gauge(
            "workflows_executions_in_flight",
            "Executions started and not finished, as seen by this orchestrator process",
            wf,
            registry=r,
        )
        self.execution_duration = Histogram(
            "workflows_execution_duration_seconds",
            "Time from an execution's start to its end",
            [*wf, "status"],
            buckets=EXECUTION_BUCKETS,
            registry=r,
        )
        self.step_duration = Histogram(
            "workflows_step_duration_seconds",
            "Time from a step attempt's dispatch to its result",
            [*step, "function"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.step_outcomes = Counter(
            "workflows_step_outcomes",
            "Step outcomes (succeeded, failed, skipped, timed_out)",
            [*step, "outcome"],
            registry=r,
        )
        self.step_retries = Counter(
            "workflows_step_retries", "Step retries scheduled", step, registry=r
        )
        self.step_fallbacks = Counter(
            "workflows_step_fallbacks", "Fallback functions taking over a step", step, registry=r
        )
        self.kpi_value = Histogram(
            "workflows_kpi_value",
            "Business KPI values of ended executions, by final status",
            [*wf, "kpi", "status"],
            buckets=KPI_BUCKETS,
            registry=r,
        )
        kpi = [*wf, "kpi", "unit"]
        self.kpi_mean = Gauge(
            "workflows_kpi_mean", "KPI mean over the newest ended executions", kpi, registry=r
        )
        self.kpi_p50 = Gauge(
            "workflows_kpi_p50", "KPI median over the newest ended executions", kpi, registry=r
        )
        self.kpi_p95 = Gauge(
            "workflows_kpi_p95", "KPI 95th percentile over the same executions", kpi, registry=r
        )
        self.kpi_executions = Gauge(
            "workflows_kpi_executions",
            "Ended executions with a number for the KPI (of the newest summarized)",
            kpi,
            registry=r,
        )
        self.completion_ratio = Gauge(
            "workflows_completion_ratio",
            "Completed / ended, over the newest ended executions",
            wf,
            registry=r,
        )
        self._exported: dict[str, set[tuple[str, str]]] = {}  # workflow -> (kpi, unit) set
        self.messages_processed = Counter(
            "workflows_messages_processed",
            "Kafka messages fetched for processing",
            ["service", "topic"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "workflows_consumer_lag_messages",
            "Messages in the assigned partitions not fetched yet (high watermark - position)",
            ["service", "topic"],
            registry=r,
        )
        self.dlq_messages = Counter(
            "workflows_dlq_messages",
            "Messages sent to the dead-letter topic, by source topic",
            ["service", "topic"],
            registry=r,
        )
        self.commands_routed = Counter(
            "workflows_commands_routed",
            "Step commands routed by the dispatcher (in_process, http, forwarded)",
            ["route"],
            registry=r,
        )
        self.step_cache = Counter(
            "workflows_step_cache",
            "Step cache lookups by the dispatcher (steps[].cache): hit or miss",
            ["function", "outcome"],
            registry=r,
        )
        self.limit_held = Gauge(
            "workflows_limit_slots_held",
            "Concurrency slots (leases) this process holds, by function",
            ["function"],
            registry=r,
        )
        self.limit_parked = Counter(
            "workflows_limit_parked",
            "Step commands parked for want of a slot, by limit (fn:, rate:fn:, rate:wf:)",
            ["limit"],
            registry=r,
        )
        self.parked_commands = Gauge(
            "workflows_limit_waiting_commands",
            "Step commands parked and waiting for a slot (all replicas, sampled)",
            registry=r,
        )
        self.notifications = Counter(
            "workflows_notifications",
            "Notifier deliveries by channel (log, webhook) and outcome (delivered, failed)",
            ["channel", "outcome"],
            registry=r,
        )

    @classmethod
    def of(cls, registry: CollectorRegistry | None) -> EngineMetrics:
        """The metrics registered in `registry` (made once per registry; None: a private one)."""
        if registry is None:
            return cls(CollectorRegistry())
        found = cls._by_registry.get(registry)
        if found is None:
            found = cls._by_registry[registry] = cls(registry)
        return found

    def service(self, name: str, bus: Bus | None = None) -> ServiceMetrics:
        """Metrics of one service; counts the dead letters `bus` sends."""
        return ServiceMetrics(self, name, bus)

    def export_summary(self, workflow: str, summary: Mapping[str, Any] | None) -> None:
        """Set the KPI gauges of `workflow` to the API's aggregates (`GET .../metrics`, by
        field name: completionRate, kpis{name: {mean, p50, p95, count, unit}}); None: drop."""
        gauges = (self.kpi_mean, self.kpi_p50, self.kpi_p95, self.kpi_executions)
        before = self._exported.pop(workflow, set())
        now: set[tuple[str, str]] = set()
        if summary is not None:
            ratio = summary.get("completionRate")
            if isinstance(ratio, int | float):
                self.completion_ratio.labels(workflow).set(ratio)
            for name, stats in (summary.get("kpis") or {}).items():
                if not stats.get("count"):
                    continue
                series = (str(name), str(stats.get("unit") or ""))
                now.add(series)
                for gauge, field in zip(gauges, ("mean", "p50", "p95", "count"), strict=True):
                    gauge.labels(workflow, *series).set(float(stats[field]))
            self._exported[workflow] = now
        for series in before - now:
            for gauge in gauges:
                gauge.remove(workflow, *series)
        if summary is None or not isinstance(summary.get("completionRate"), int | float):
            with contextlib.suppress(KeyError):
                self.completion_ratio.remove(workflow)

    def exported_workflows(self) -> set[str]:
        return set(self._exported)

    def observe_transition(self, transition: Transition) -> None:
        """Count what a saved transition did, from its lifecycle events."""
        workflow = transition.state.workflow
        for event in transition.events:
            self._observe_event(workflow, event.type, event.step_id, event.data)

    def _observe_event(
        self, workflow: str, type_: str, step_id: str | None, data: Mapping[str, Any]
    ) -> None:
        if type_ == "execution.started":
            self.executions_started.labels(workflow).inc()
            self.in_flight.labels(workflow).inc()
        elif type_ in TERMINAL_EVENTS:
            status = type_.removeprefix("execution.")
            self.executions_finished.labels(workflow, status).inc()
            self.in_flight.labels(workflow).dec()
            seconds = _seconds(data.get("durationMs"))
            if seconds is not None:
                self.execution_duration.labels(workflow, status).observe(seconds)
            kpis = data.get("kpis")
            if isinstance(kpis, Mapping):  # every outcome: a rate KPI counts the failures too
                for kpi, value in kpis.items():
                    if _number(value) is not None:
                        self.kpi_value.labels(workflow, str(kpi), status).observe(float(value))
        elif step_id is not None:
            self._observe_step(workflow, type_, step_id, data)

    def _observe_step(
        self, workflow: str, type_: str, step_id: str, data: Mapping[str, Any]
    ) -> None:
        if type_ in STEP_OUTCOMES:
            self.step_outcomes.labels(workflow, step_id, STEP_OUTCOMES[type_]).inc()
        elif type_ == "step.retrying":
            self.step_retries.labels(workflow, step_id).inc()
        elif type_ == "step.fallback":
            self.step_fallbacks.labels(workflow, step_id).inc()
        seconds = _seconds(data.get("durationMs"))
        if seconds is not None and type_ in STEP_OUTCOMES:
            function = str(data.get("function") or "")
            self.step_duration.labels(workflow, step_id, function).observe(seconds)


class ServiceMetrics:
    """What one service counts of its consumer: messages per topic and lag per topic."""

    def __init__(
        self, engine: EngineMetrics, service: str, bus: Bus | None, lag_every_s: float = 1.0
    ) -> None:
        self.engine = engine
        self.name = service
        self._lag_every_s = lag_every_s
        self._lag_at = 0.0
        self._lag_topics: set[str] = set()
        self.consumer: Any = None  # set by the first fetch; /readyz reads it (health.py)
        if bus is not None:
            bus.on_dead_letter = self.dead_lettered

    def dead_lettered(self, topic: str) -> None:
        self.engine.dlq_messages.labels(self.name, topic).inc()

    async def consumed(self, consumer: Any, batch: Mapping[Any, Sequence[Any]]) -> None:
        """After a fetch: count its records by topic; refresh the lag at most once a second."""
        self.consumer = consumer
        for tp, records in batch.items():
            if records:
                self.engine.messages_processed.labels(self.name, tp.topic).inc(len(records))
        now = time.monotonic()
        if now - self._lag_at >= self._lag_every_s:
            self._lag_at = now
            await self.update_lag(consumer)

    async def update_lag(self, consumer: Any) -> None:
        """Set the lag of every topic this consumer has partitions of (0 for topics it lost)."""
        lag: dict[str, int] = {}
        for tp in list(consumer.assignment()):
            try:
                high = consumer.highwater(tp)
                if high is None:  # nothing fetched from it yet
                    continue
                position = await asyncio.wait_for(consumer.position(tp), 0.5)
            except Exception:  # revoked or resetting meanwhile: skip it this round
                continue
            lag[tp.topic] = lag.get(tp.topic, 0) + max(int(high) - int(position), 0)
        for topic in self._lag_topics - lag.keys():
            self.engine.consumer_lag.labels(self.name, topic).set(0)
        for topic, value in lag.items():
            self.engine.consumer_lag.labels(self.name, topic).set(value)
        self._lag_topics |= lag.keys()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _seconds(milliseconds: Any) -> float | None:
    value = _number(milliseconds)
    return max(value, 0.0) / 1000 if value is not None else None


class WorkflowFilter:
    """A view of `registry` for `generate_latest` with only the samples whose `workflow`
    label passes `keep` (and every sample without one)."""

    def __init__(self, registry: CollectorRegistry, keep: Callable[[str], bool]) -> None:
        self._registry = registry
        self._keep = keep

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            samples = [
                s
                for s in family.samples
                if "workflow" not in s.labels or self._keep(s.labels["workflow"])
            ]
            if samples or not family.samples:
                family.samples = samples
                yield family
