"""Where `workflows dev` keeps its state, and how the other commands find a running one.

- Its data (Redis's append-only file: definitions, executions, schedules, API keys, KPI
  samples) lives in `--data-dir`, by default `$XDG_DATA_HOME/workflows/dev` (else
  `~/.local/share/workflows/dev`); `--ephemeral` keeps everything in a temporary folder.
- While it runs it writes `$XDG_DATA_HOME/workflows/dev.json` (its pid, broker, Redis and API
  addresses); `workflows keys`, `dlq` and the API commands use those addresses when
  WORKFLOWS_REDIS_URL / WORKFLOWS_KAFKA_BOOTSTRAP / WORKFLOWS_API_URL are not set, and say so.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from workflows.services.infra.settings import Settings

__all__ = [
    "api_url_default",
    "clear_running",
    "data_home",
    "default_data_dir",
    "dev_settings",
    "running_dev",
    "write_running",
]


def data_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "workflows"


def default_data_dir() -> Path:
    return data_home() / "dev"


def _pointer() -> Path:
    return data_home() / "dev.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_dev() -> dict[str, Any] | None:
    """What the running `workflows dev` wrote (pid, bootstrap, redisUrl, apiUrl, dataDir)."""
    try:
        info = json.loads(_pointer().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not _alive(int(info.get("pid", 0)) or -1):
        return None
    return info


def write_running(info: dict[str, Any]) -> None:
    path = _pointer()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({**info, "pid": os.getpid()}, indent=2), encoding="utf-8")
    temporary.replace(path)


def clear_running() -> None:
    info = running_dev()
    if info is None or info.get("pid") == os.getpid():
        path = _pointer()
        if path.exists():
            path.unlink()


ENV = {"kafka_bootstrap": "bootstrap", "redis_url": "redisUrl"}


def dev_settings(*needed: str) -> Settings:
    """Settings from the environment; a setting in `needed` that the environment leaves out
    comes from the running `workflows dev` (said on stderr), else keeps its default."""
    overrides: dict[str, Any] = {}
    missing = [name for name in needed if f"WORKFLOWS_{name.upper()}" not in os.environ]
    info = running_dev() if missing else None
    if info is not None:
        for name in missing:
            value = info.get(ENV[name])
            if value:
                overrides[name] = value
        shown = ", ".join(f"{ENV[n]} {overrides[n]}" for n in missing if n in overrides)
        print(f"using the running `workflows dev` (pid {info['pid']}): {shown}", file=sys.stderr)
    return Settings(**overrides)


def api_url_default() -> str:
    """WORKFLOWS_API_URL, else the running `workflows dev`'s API, else 127.0.0.1:8000."""
    if "WORKFLOWS_API_URL" in os.environ:
        return os.environ["WORKFLOWS_API_URL"]
    info = running_dev()
    if info is not None and info.get("apiUrl"):
        return str(info["apiUrl"])
    return "http://127.0.0.1:8000"
