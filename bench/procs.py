"""CPU accounting per process role (psutil), and machine/versions facts for the report."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import time
from typing import Any

import psutil

__all__ = ["CpuSampler", "machine_info", "rss_mib", "tool_version"]


def _cpu_seconds(pid: int) -> float:
    try:
        return float(sum(psutil.Process(pid).cpu_times()[:2]))  # user + system
    except psutil.Error:
        return 0.0


def rss_mib(pids: list[int]) -> float:
    """Resident memory of these processes together, in MiB (0 for those that are gone)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_info().rss
    return round(total / 2**20, 1)


def _machine_busy() -> float:
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0))


class CpuSampler:
    """CPU used by each role between `begin()` and `end()`, in % of one core.

    Roles list their PIDs explicitly (children are not added: Celery's target lists its
    pool processes itself). Each reading is paired with its own timestamp, so a slow
    sampling pass (a GIL-bound driver) does not inflate the figures. `machine` is the
    whole machine's busy time: it includes anything else running there.
    """

    def __init__(self, roles: dict[str, list[int]]) -> None:
        self.roles = roles
        self._start: dict[str, tuple[float, float]] = {}
        self._stop_at: float | None = None

    def _sample(self) -> dict[str, tuple[float, float]]:
        sample = {}
        for role, pids in self.roles.items():
            value = sum(_cpu_seconds(p) for p in pids)
            sample[role] = (value, time.perf_counter())
        sample["machine"] = (_machine_busy(), time.perf_counter())
        return sample

    def begin(self) -> None:
        self._start = self._sample()

    def end(self) -> dict[str, float]:
        now = self._sample()
        result = {}
        for role, (value, at) in now.items():
            before, since = self._start.get(role, (value, at))
            result[role] = round(100.0 * (value - before) / max(at - since, 1e-6), 1)
        return result


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "os": platform.platform(),
    }


def tool_version(*args: str) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "not available"
