"""PNG plots beside the report (matplotlib, Agg backend): the saturation ramp and the soak.

- `saturation.png`: p50 and p99 latency, and completed/s, against the offered rate, per system.
- `soak.png`: this engine's p50/p99 per time bucket and each service's RSS over the soak.

Plotting never fails a run: without matplotlib, or on any error, no file is written and the
report says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import rows_by_system

__all__ = ["write_plots"]


def _saturation(doc: dict[str, Any], out: Path, plt: Any) -> str | None:
    series = []
    for name, result in rows_by_system(doc.get("systems", {})).items():
        steps = (result.get("scenarios", {}).get("saturation") or {}).get("steps") or []
        if steps:
            series.append((name, steps))
    if not series:
        return None
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(12, 4.5))
    for i, (name, steps) in enumerate(series):
        color = f"C{i}"
        offered = [s["offered_per_s"] for s in steps]
        lat.plot(
            offered,
            [s["latency_ms"]["p50"] for s in steps],
            "--o",
            color=color,
            markersize=3,
            label=f"{name} p50",
        )
        lat.plot(
            offered,
            [s["latency_ms"]["p99"] for s in steps],
            "-o",
            color=color,
            markersize=3,
            label=f"{name} p99",
        )
        thr.plot(
            offered,
            [s["completed_per_s"] for s in steps],
            "-o",
            color=color,
            markersize=3,
            label=name,
        )
    top = max(s["offered_per_s"] for _, steps in series for s in steps)
    thr.plot([1, top], [1, top], ":", color="grey", linewidth=1, label="completed = offered")
    for ax in (lat, thr):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered load (10-step executions started per s, open loop)")
        ax.grid(True, which="both", alpha=0.3)
    lat.set_ylabel("latency from scheduled start (ms)")
    lat.set_title("Latency against offered load (p50 dashed, p99 solid)")
    thr.set_ylabel("completed executions per s")
    thr.set_title("Throughput against offered load")
    lat.legend(fontsize=7, ncol=2)
    thr.legend(fontsize=7)
    fig.tight_layout()
    path = out / "saturation.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _soak(doc: dict[str, Any], out: Path, plt: Any) -> str | None:
    ours = doc.get("systems", {}).get("workflows") or {}
    soak = (ours.get("scenarios") or {}).get("soak")
    if not soak or not soak.get("latency_series"):
        return None
    fig, (lat, mem) = plt.subplots(1, 2, figsize=(12, 4.5))
    points = soak["latency_series"]
    t = [p["t_s"] for p in points]
    lat.plot(t, [p["p50_ms"] for p in points], "--o", markersize=3, label="p50")
    lat.plot(t, [p["p99_ms"] for p in points], "-o", markersize=3, label="p99")
    lat.set_yscale("log")
    lat.set_xlabel("time since the soak started (s), by scheduled start")
    lat.set_ylabel("latency from scheduled start (ms)")
    lat.set_title(
        f"Soak at {soak['offered_per_s']}/s for {soak['seconds']:.0f} s "
        f"(bucket {soak['bucket_s']:.0f} s)"
    )
    rss = soak.get("rss_mib_series") or []
    roles = [k for k in (rss[0] if rss else {}) if k != "t_s"]
    for role in roles:
        mem.plot([r["t_s"] for r in rss], [r[role] for r in rss], "-o", markersize=3, label=role)
    mem.set_xlabel("time since the soak started (s)")
    mem.set_ylabel("RSS (MiB)")
    mem.set_yscale("log")
    mem.set_title("Resident memory per process role")
    for ax in (lat, mem):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "soak.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def write_plots(doc: dict[str, Any], out: Path) -> dict[str, Any]:
    """Write the plots into `out`; their file names, or the reason there are none."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:
        return {"error": f"matplotlib not available ({type(exc).__name__})"}
    written: dict[str, Any] = {}
    for key, plot in (("saturation", _saturation), ("soak", _soak)):
        try:
            name = plot(doc, out, plt)
        except Exception as exc:  # a plot is a convenience: never fail the run for it
            written[f"{key}_error"] = f"{type(exc).__name__}: {exc}"
            continue
        if name:
            written[key] = name
    return written
