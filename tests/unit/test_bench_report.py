"""The benchmark's own arithmetic and report rendering (bench/hist.py, bench/report.py).

No services: histograms are fed known values, the report a synthetic result document.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from bench.hist import SUB_BUCKETS, Histogram, _index, _upper
from bench.report import ratio, render


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


def test_ratio_is_peer_over_ours() -> None:
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
        "cpu_percent": {"orchestrator": 55.0, "machine": 120.0},
        "hops_per_s": best * 10,
    }
    return {
        "steps": [step],
        "stop_reason": "last rate reached",
        "max_completed_per_s": best,
        "max_hops_per_s": best * 10,
        "max_sustained_per_s_p99_under_1s": best,
    }


def _system(name: str, serial_p50: float, best: float, scaling: bool) -> dict[str, Any]:
    scenarios: dict[str, Any] = {
        "serial": {
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
        },
        "saturation": _ramp(best),
        "fanout": {
            "runs": 3,
            "branches": 100,
            "makespan_ms": _lat(400.0),
            "per_branch_ms": {"p50": 4.0, "p95": 8.0, "p99": 12.0},
        },
        "payload": {"1024": _ramp(best), "262144": _ramp(best / 10)},
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
    return {
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
        },
    }


def test_render_has_every_section_and_ratios() -> None:
    text = render(_doc(scaling=True))
    for heading in (
        "# Benchmark: Workflows vs Celery vs DBOS",
        "## Machine",
        "## Versions",
        "### Serial chain latency",
        "### Saturation",
        "### Fan-out / fan-in",
        "### Payload size",
        "#### 1 KB outputs",
        "#### 256 KB outputs",
        "### Scaling",
        "## Profile",
    ):
        assert heading in text, heading
    assert "Test CPU" in text and "celery durability" in text
    assert "| celery | 10 | 20.0 | 40.0 | 60.0 | 2.00 | 4.00 | 6.00 | 0.20x |" in text
    assert "| celery | 45.0 | 450.0 | 45.0 | 1.50x | last rate reached |" in text
    assert "travel by reference (claim check)" in text
    assert "| 2 | 1 | 64 | 60.0 | 2.00x |" in text
    assert "Zeebe ~14 ms" in text


def test_render_reports_a_failed_peer_and_quick_mode_scaling() -> None:
    text = render(_doc(scaling=False))
    assert "**dbos** — **not measured**: exit code 1 after 3 s: could not connect" in text
    assert "Not run in quick mode" in text
    assert "| dbos |" not in text


def test_render_survives_an_empty_document() -> None:
    text = render({})
    assert text.startswith("# Benchmark")
