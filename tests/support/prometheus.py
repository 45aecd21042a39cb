"""A real Prometheus server for tests: scrapes given targets every second, answers PromQL."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from workflows.testing.embedded import free_port, wait_for_port

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
MISSING = "promtool/prometheus not installed (Debian package 'prometheus')"


def scrape_config(targets: Mapping[str, str]) -> dict[str, Any]:
    """One job per service, each scraping `host:port` (its /metrics) every second."""
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in sorted(targets.items())
        ],
    }


@contextlib.contextmanager
def running_prometheus(targets: Mapping[str, str], workdir: Path) -> Iterator[str]:
    """Start `prometheus` on a free port scraping `targets`; yield its base URL."""
    assert PROMETHEUS is not None, MISSING
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(targets)))
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, timeout=30, proc=proc)
        base_url = f"http://127.0.0.1:{port}"
        wait_until_ready(base_url, proc)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def wait_until_ready(base_url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Poll `/-/ready`: Prometheus listens before its storage is open and answers queries
    with 503 until then (a CI run caught the test querying in between)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited with {proc.returncode} before it was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/-/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"prometheus at {base_url} not ready after {timeout} s")


def query(base_url: str, promql: str) -> float | None:
    """The value of an instant query with one result; None when it has no result yet."""
    reply = httpx.get(f"{base_url}/api/v1/query", params={"query": promql}, timeout=5)
    reply.raise_for_status()
    result = reply.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    """`promtool check metrics` on an exposition text (exit 0: valid, no lint problems)."""
    assert PROMTOOL is not None, MISSING
    return subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
