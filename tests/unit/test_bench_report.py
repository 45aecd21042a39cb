"""The benchmark's own arithmetic and report rendering (bench/hist.py, bench/report.py).

No services: histograms are fed known values, the report a synthetic result document.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from bench.hist import SUB_BUCKETS, Histogram, _index, _upper
from bench.report import ONE_PROCESS, best_peer, ratio, render, rows_by_system
from bench.suite_ours import soak_warm_up_s


def _exact(values: list[int], pct: float) -> int:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def test_small_values_are_exact() -> None:
    hist = Histogram()
    for value in range(1, 101):
        hist.record(value)
    assert hist.percentile(50) == 50
    assert hist.percentile(95) == 95
    assert hist.percentile(99) == 99
    assert hist.percentile(100) == 100
    assert (hist.min, hist.max, hist.count) == (1, 100, 100)
    assert hist.mean() == pytest.approx(50.5)


def test_buckets_cover_every_value_once() -> None:
    for value in [*range(5000), 10**6, 2**31 - 1, 10**12]:
        idx = _index(value)
        assert _upper(idx) >= value
        assert idx == 0 or _upper(idx - 1) < value


@pytest.mark.parametrize("pct", [50, 90, 95, 99, 99.9])
def test_percentiles_within_relative_error(pct: float) -> None:
    rng = random.Random(7)
    values = [int(rng.lognormvariate(9, 1.5)) for _ in range(20_000)]
    hist = Histogram()
    for value in values:
        hist.record(value)
    exact = _exact(values, pct)
    assert abs(hist.percentile(pct) - exact) <= exact / SUB_BUCKETS + 1


def test_percentile_never_exceeds_max_and_empty_is_zero() -> None:
    hist = Histogram()
    assert hist.percentile(99) == 0
    assert hist.summary() == {
        "count": 0,
        "min": 0.0,
        "mean": 0.0,
        "p50": 0.0,
        "p95": 0.0,
        "p99": 0.0,
        "max": 0.0,
    }
    hist.record(1_000_001)
    assert hist.percentile(100) == 1_000_001


def test_units_and_summary_in_milliseconds() -> None:
    hist = Histogram()
    hist.record_ms(12.5)
    hist.record_seconds(0.0125)
    hist.extend([12.5])
    summary = hist.summary()
    assert summary["count"] == 3
    assert summary["p50"] == pytest.approx(12.5, rel=1 / SUB_BUCKETS)
    assert summary["max"] == 12.5


def test_merge_equals_recording_everything_in_one() -> None:
    a, b, both = Histogram(), Histogram(), Histogram()
    for value in range(0, 3000, 7):
        a.record(value)
        both.record(value)
    for value in range(5000, 90_000, 13):
        b.record(value)
        both.record(value)
    a.merge(b)
    assert a.counts == both.counts
    assert (a.count, a.min, a.max, a.total) == (both.count, both.min, both.max, both.total)
    assert a.summary() == both.summary()


def test_ratio_is_value_over_base() -> None:
    assert ratio(20.0, 10.0) == "2.00x"
    assert ratio(5.0, 10.0) == "0.50x"
    assert ratio(None, 10.0) == "n/a"
    assert ratio(3.0, 0.0) == "n/a"


def _lat(p50: float) -> dict[str, Any]:
    return {
        "count": 10,
        "min": p50 / 2,
        "mean": p50,
        "p50": p50,
        "p95": p50 * 2,
        "p99": p50 * 3,
        "max": p50 * 4,
    }


def _ramp(best: float) -> dict[str, Any]:
    step = {
        "offered_per_s": 40,
        "started": 80,
        "completed_in_window": 70,
        "completed_per_s": best,
        "completed_total": 80,
        "unfinished_after_drain": 0,
        "backlog_at_window_end": 10,
        "drain_s": 0.5,
        "driver_max_lag_ms": 0.0,
        "latency_ms": _lat(30.0),
        "cpu_percent": {
            "orchestrator": 30.0,
            "dispatcher": 20.0,
            "broker": 15.0,
            "redis": 5.0,
            "driver": 10.0,
            "machine": 120.0,
        },
        "hops_per_s": best * 10,
    }
    return {
        "steps": [step],
        "stop_reason": "last rate reached",
        "max_completed_per_s": best,
        "max_hops_per_s": best * 10,
        "max_sustained_per_s_p99_under_1s": best,
    }


def _serial(serial_p50: float) -> dict[str, Any]:
    return {
        "runs": 10,
        "steps": 10,
        "step_work_ms": 0.0,
        "latency_ms": _lat(serial_p50),
        "per_hop_ms": {
            "p50": serial_p50 / 10,
            "p95": serial_p50 / 5,
            "p99": serial_p50 * 0.3,
            "mean": serial_p50 / 10,
        },
    }


def _idle() -> dict[str, Any]:
    return {"seconds": 3.0, "cpu_percent": {"orchestrator": 8.5, "broker": 4.0, "machine": 20.0}}


def _soak() -> dict[str, Any]:
    rss_start = {"t_s": 0.0, "orchestrator": 60.0, "broker": 400.0}
    rss_warm = {"t_s": 10.0, "orchestrator": 62.0, "broker": 420.0}
    rss_end = {"t_s": 30.0, "orchestrator": 63.0, "broker": 480.0}
    return {
        "offered_per_s": 15.0,
        "seconds": 30.0,
        "window_s": 10.0,
        "bucket_s": 5.0,
        "started": 450,
        "unfinished_after_drain": 0,
        "driver_max_lag_ms": 0.0,
        "first_window_ms": _lat(20.0),
        "last_window_ms": _lat(30.0),
        "latency_series": [
            {"t_s": 0.0, "completed": 75, "p50_ms": 20.0, "p99_ms": 60.0},
            {"t_s": 5.0, "completed": 75, "p50_ms": 30.0, "p99_ms": 90.0},
        ],
        "rss_mib_series": [rss_start, rss_warm, rss_end],
        "rss_mib": {"start": rss_start, "warm": rss_warm, "end": rss_end},
        "retention_s": {"state_ttl_s": 60, "results_ttl_s": 60},
        "cpu_percent": {"orchestrator": 40.0},
        "saturation_per_s": 30.0,
    }


def _system(name: str, serial_p50: float, best: float, scaling: bool) -> dict[str, Any]:
    scenarios: dict[str, Any] = {
        "idle": _idle(),
        "serial": _serial(serial_p50),
        "saturation": _ramp(best),
        "fanout": {
            "runs": 3,
            "branches": 100,
            "makespan_ms": _lat(400.0),
            "per_branch_ms": {"p50": 4.0, "p95": 8.0, "p99": 12.0},
        },
        "payload": {"1024": _ramp(best), "262144": _ramp(best / 10)},
    }
    if name == "workflows":
        scenarios["one_process"] = {
            "idle": _idle(),
            "serial": _serial(50.0),
            "saturation": _ramp(40.0),
        }
        scenarios["soak"] = _soak()
        scenarios["hop_breakdown"] = {
            "runs": 50,
            "serial_runs": 50,
            "executions_seen": 50,
            "read_complete": True,
            "legs_ms": {"dispatcher_leg": _lat(3.0), "orchestrator_leg": _lat(4.0)},
        }
    if scaling:
        scenarios["scaling"] = [
            {
                "orchestrators": o,
                "dispatchers": d,
                "in_flight": 64,
                "seconds": 10,
                "completed_per_s": best * o,
                "latency_ms": _lat(900.0),
                "cpu_percent": {},
            }
            for o, d in [(1, 1), (2, 1)]
        ]
    extra = (
        {"broker": {"name": "Apache Kafka", "version": "4.4.0", "heap": "1g"}}
        if name == "workflows"
        else {}
    )
    return {
        **extra,
        "system": name,
        "setup": f"{name} setup",
        "durability": f"{name} durability",
        "versions": {},
        "duration_s": 12.0,
        "loadavg_1m": {"before": 0.5, "after": 1.5},
        "scenarios": scenarios,
    }


def _doc(scaling: bool) -> dict[str, Any]:
    return {
        "meta": {
            "mode": "quick",
            "generated": "2026-01-01 00:00 UTC",
            "duration_s": 60.0,
            "machine": {"cpu": "Test CPU", "cores": 2, "ram_gib": 24.0, "kernel": "6.1"},
            "versions": {"python": "3.11.7", "celery": "5.7.0"},
            "published": ["Zeebe ~14 ms p50 per step hop"],
            "notes": "## Profile\n\nwhere the time goes",
        },
        "systems": {
            "workflows": _system("workflows", 100.0, 30.0, scaling),
            "celery": _system("celery", 20.0, 45.0, False),
            "dbos": {"system": "dbos", "error": "exit code 1 after 3 s: could not connect"},
            "temporal": _system("temporal", 50.0, 20.0, False),
        },
    }


def test_render_has_every_section_and_ratios() -> None:
    text = render(_doc(scaling=True))
    for heading in (
        "# Benchmark: Workflows vs Celery vs DBOS vs Temporal",
        "## Machine",
        "## Versions",
        "## Summary",
        "### CPU per hop, by process role",
        "### Idle CPU",
        "### Serial chain latency",
        "### Where a hop goes",
        "### Saturation",
        "### Fan-out / fan-in",
        "### Payload size",
        "#### 1 KB outputs",
        "#### 256 KB outputs",
        "### Soak",
        "### Scaling",
        "## Profile",
    ):
        assert heading in text, heading
    assert "Test CPU" in text and "celery durability" in text and "temporal durability" in text
    assert "This engine's broker: **Apache Kafka 4.4.0** (JVM heap 1g)." in text
    # serial: celery (hop p50 2.0) is the best peer, so its own ratio is 1.00x, ours 5.00x
    assert "| celery | 10 | 20.0 | 40.0 | 60.0 | 2.00 | 4.00 | 6.00 | 1.00x |" in text
    assert "| workflows | 10 | 100.0 | 200.0 | 300.0 | 10.0 | 20.0 | 30.0 | 5.00x |" in text
    assert f"| {ONE_PROCESS} | 10 | 50.0 | 100.0 | 150.0 | 5.00 | 10.0 | 15.0 | 2.50x |" in text
    assert "| temporal | 10 | 50.0 |" in text
    # saturation: celery 45/s is the best peer; ours 30/s
    assert "| celery | 45.0 | 450.0 | 90.0 | 45.0 | 1.00x | last rate reached |" in text
    assert "| workflows | 30.0 | 300.0 | 90.0 | 30.0 | 0.67x | last rate reached |" in text
    assert f"| {ONE_PROCESS} | 40.0 | 400.0 | 90.0 | 40.0 | 0.89x |" in text
    assert "travel by reference (claim check)" in text
    assert "| 2 | 1 | 64 | 60.0 | 2.00x |" in text
    assert "Zeebe ~14 ms" in text


def test_render_summary_against_the_best_peer() -> None:
    text = render(_doc(scaling=False))
    header = (
        "| system | serial hop p50 ms | serial hop p99 ms | saturation completed/s | "
        "saturation hops/s | p99 ms at that rate | fan-out 100 makespan p50 ms | "
        "256 KB payload completed/s |"
    )
    assert header in text
    assert "| workflows | 10.0 | 30.0 | 30.0 | 300.0 | 90.0 | 400.0 | 3.0 |" in text
    assert f"| {ONE_PROCESS} | 5.00 | 15.0 | 40.0 | 400.0 | 90.0 | - | - |" in text
    assert "| temporal | 5.00 | 15.0 | 20.0 | 200.0 | 90.0 | 400.0 | 2.0 |" in text
    assert (
        "| **best peer** | 2.00 (celery) | 6.00 (celery) | 45.0 (celery) | 450.0 (celery) | "
        "90.0 (celery) | 400.0 (celery) | 4.5 (celery) |" in text
    )
    assert (
        "| workflows ÷ best peer | 5.00x | 5.00x | 0.67x | 0.67x | 1.00x | 1.00x | 0.67x |" in text
    )
    assert (
        f"| {ONE_PROCESS} ÷ best peer | 2.50x | 2.50x | 0.89x | 0.89x | 1.00x | n/a | n/a |" in text
    )


def test_render_cpu_per_hop_idle_and_soak() -> None:
    text = render(_doc(scaling=False))
    # 30/s x 10 hops = 300 hops/s; orchestrator at 30 % of a core = 1,000 µs per hop
    assert (
        "| workflows | 40 | 300.0 | orchestrator 1,000, dispatcher 667, broker 500, redis 167, "
        "driver 333 | 2,667 | 4,000 |" in text
    )
    assert "| celery | 40 | 450.0 | orchestrator 667," in text
    assert "| workflows | 3.0 | orchestrator 8.5%, broker 4.0% | 12.5% | 20.0% |" in text
    assert "**Short soak (quick mode)**" in text
    assert "| first 10 s | 10 | 20.0 | 40.0 | 60.0 | 80.0 |" in text
    assert "| last 10 s | 10 | 30.0 | 60.0 | 90.0 | 120.0 |" in text
    assert "p99 last ÷ first: 1.50x." in text
    # flat is judged after the warm-up (the first window): +1.6 % and +14.3 %
    assert "| role | start MiB | at 10 s MiB | end MiB | start -> end | 10 s -> end |" in text
    assert "| orchestrator | 60.0 | 62.0 | 63.0 | +5.0% | +1.6% | yes |" in text
    assert "| broker | 400.0 | 420.0 | 480.0 | +20.0% | +14.3% | no |" in text
    assert "states and step results kept 60 s and 60 s after they end (Redis" in text
    assert "50 of 50 serial executions" in text and "read to the end: yes" in text


def test_render_soak_written_before_the_warm_sample() -> None:
    doc = _doc(scaling=False)
    soak = doc["systems"]["workflows"]["scenarios"]["soak"]
    del soak["rss_mib"]["warm"], soak["retention_s"]
    text = render(doc)
    # no warm-up sample: judged from the start, as such reports were
    assert "| orchestrator | 60.0 | - | 63.0 | +5.0% | - | yes |" in text
    assert "| broker | 400.0 | - | 480.0 | +20.0% | - | no |" in text
    assert "the defaults (states 7 days, step results 24 h)" in text


def test_render_soak_with_a_derived_warm_up() -> None:
    doc = _doc(scaling=False)
    soak = doc["systems"]["workflows"]["scenarios"]["soak"]
    soak["warm_up_s"] = 20.0  # shorter than the 30 s soak: compared from it
    soak["rss_mib"]["warm"] = soak["rss_mib_series"][2] = {"t_s": 20.0, "orchestrator": 62.5}
    assert "once the warm-up is over (20 s, derived from the rate" in render(doc)
    soak["warm_up_s"] = 114.0  # longer than the soak: from the first window, said so
    text = render(doc)
    assert "the warm-up this rate needs, 114 s, is longer than this soak" in text


def test_soak_warm_up_follows_the_rate_and_the_retention() -> None:
    # 44/s x 10 steps fills the 50,000 remembered result keys in ~114 s
    assert soak_warm_up_s(44.0, 60, 60.0) == pytest.approx(50_000 / 440)
    # fast enough that they fill first: ended executions leave Redis after 60 s + a purge
    assert soak_warm_up_s(200.0, 60, 60.0) == 90.0
    assert soak_warm_up_s(200.0, 60, 120.0) == 120.0  # never shorter than a window


def test_rows_and_best_peer() -> None:
    doc = _doc(scaling=False)
    rows = rows_by_system(doc["systems"])
    assert list(rows) == ["workflows", ONE_PROCESS, "celery", "temporal"]

    def sat(r: dict[str, Any]) -> float:
        return float(r["scenarios"]["saturation"]["max_completed_per_s"])

    assert best_peer(rows, sat, lower=False) == ("celery", 45.0)
    assert best_peer(rows, sat, lower=True) == ("temporal", 20.0)
    assert best_peer({"workflows": rows["workflows"]}, sat, lower=False) is None


def test_plots_are_written(tmp_path: Any) -> None:
    pytest.importorskip("matplotlib")
    from bench.plots import write_plots

    written = write_plots(_doc(scaling=False), tmp_path)
    assert written == {"saturation": "saturation.png", "soak": "soak.png"}
    for name in written.values():
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    doc = _doc(scaling=False)
    doc["meta"]["plots"] = written
    text = render(doc)
    assert "![latency and throughput against offered load](saturation.png)" in text
    assert "![soak: latency and RSS over time](soak.png)" in text


def test_render_reports_a_failed_peer_and_quick_mode_scaling() -> None:
    text = render(_doc(scaling=False))
    assert "**dbos** — **not measured**: exit code 1 after 3 s: could not connect" in text
    assert "Not run in quick mode" in text
    assert "| dbos |" not in text


def test_render_survives_an_empty_document() -> None:
    text = render({})
    assert text.startswith("# Benchmark")
