"""OpenTelemetry traces end to end: the seed runs as processes (trigger, orchestrator,
dispatcher, the Python worker and the Node worker serving sendPersonalizedEmail) exporting
OTLP to a real Jaeger v2 (memory storage) that the fixture builds from the Go module proxy
(tests/support/jaeger/go.mod pins it; cached under ~/.cache/workflows). The trace read back
from Jaeger's query API must have one root, a span per step attempt under it, spans from
several processes in two languages. (A `go build` of Jaeger has no UI assets: the API only.)
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.e2e.test_node_worker import NODE_DIR, SIGNED, run_seed, seed_stack
from tests.support.browser import browser_page, needs_chromium, screenshot
from tests.support.stack import ROOT

pytestmark = [pytest.mark.e2e, needs_chromium]
JAEGER_VERSION = "v1.76.0"  # the module version whose cmd/jaeger is Jaeger v2
JAEGER_MODULE = ROOT / "tests" / "support" / "jaeger"
JAEGER_BIN = Path.home() / ".cache" / "workflows" / f"jaeger-{JAEGER_VERSION}" / "jaeger"
QUERY = "http://127.0.0.1:16686"
OTLP = "http://127.0.0.1:4318"


def jaeger_binary() -> Path:
    """Jaeger v2, built once from tests/support/jaeger's pinned modules (several minutes)."""
    if JAEGER_BIN.exists():
        return JAEGER_BIN
    go = shutil.which("go")
    if go is None:
        pytest.skip("needs the Go toolchain to build Jaeger v2 (the trace backend)")
    JAEGER_BIN.parent.mkdir(parents=True, exist_ok=True)
    partial = JAEGER_BIN.with_suffix(".building")
    subprocess.run(
        [go, "build", "-o", str(partial), "github.com/jaegertracing/jaeger/cmd/jaeger"],
        cwd=JAEGER_MODULE,
        check=True,
        timeout=1800,
    )
    partial.rename(JAEGER_BIN)
    return JAEGER_BIN


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def jaeger(tmp_path: Path) -> Iterator[str]:
    """Jaeger v2 all-in-one (OTLP on 4318, query API + UI on 16686, memory storage)."""
    binary = jaeger_binary()
    for port in (4317, 4318, 16686):
        if _port_open(port):
            pytest.skip(f"port {port} is taken: Jaeger's fixed all-in-one ports are needed")
    log = (tmp_path / "jaeger.log").open("wb")
    proc = subprocess.Popen([str(binary)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{QUERY}/api/services", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "jaeger.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "Jaeger did not answer within 60 s"
            time.sleep(0.2)
        yield QUERY
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def span_tree(trace: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """(the root spans, the tree as text: service, span name, duration), from Jaeger's JSON."""
    spans = trace["spans"]
    services = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    ids = {s["spanID"] for s in spans}
    for span in sorted(spans, key=lambda s: s["startTime"]):
        parents = [r["spanID"] for r in span.get("references", []) if r["refType"] == "CHILD_OF"]
        if parents and parents[0] in ids:
            children.setdefault(parents[0], []).append(span)
        else:
            roots.append(span)
    lines: list[str] = []

    def walk(span: dict[str, Any], depth: int) -> None:
        service = services[span["processID"]]
        ms = span["duration"] / 1000
        lines.append(f"{'  ' * depth}{service}: {span['operationName']} ({ms:.1f} ms)")
        for child in children.get(span["spanID"], []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return roots, "\n".join(lines)


@pytest.fixture
def stack(kafka_bootstrap: str, redis_url: str, tmp_path: Path, jaeger: str) -> Iterator[str]:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@opentelemetry" / "api").is_dir():
        pytest.skip("needs node and `npm ci` in examples/workers/node (make install does it)")
    env = {
        **SIGNED,
        "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within 0.2 s (Python and Node SDKs)
    }
    worker = [node, str(NODE_DIR / "worker.js")]
    with seed_stack(kafka_bootstrap, redis_url, tmp_path, "node", worker, env) as url:
        yield url


@pytest.mark.timeout(2400)  # the first run builds Jaeger
async def test_an_execution_is_one_trace_across_processes_and_languages(stack: str) -> None:
    full = await run_seed(stack, "node")
    eid = full["executionId"]
    attempts = {
        f"step {sid} attempt {run['attempt']}"
        for sid, run in full["steps"].items()
        if run.get("attempt")
    }
    tags = json.dumps({"execution.id": eid})
    query = {"service": "workflows-trigger", "tags": tags, "lookback": "1h"}
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=QUERY, timeout=10) as client:
        while True:  # the trace of the execution's span; spans arrive in batches
            found = (await client.get("/api/traces", params=query)).json().get("data") or []
            trace = found[0] if found else None
            names = {s["operationName"] for s in trace["spans"]} if trace else set()
            if trace and attempts <= names:
                break
            assert time.monotonic() < deadline, f"missing spans {sorted(attempts - names)}"
            await asyncio.sleep(0.3)
    trace_id = trace["traceID"]
    assert full.get("traceId") == trace_id.rjust(32, "0")  # the status API names its trace
    roots, text = span_tree(trace)
    print(f"trace {trace_id}:\n{text}")
    assert len(roots) == 1, text  # the start request's span (FastAPI's) or the execution's
    by_name = {s["operationName"]: s for s in trace["spans"]}
    execution = by_name["execution customerOnboardingWorkflow"]
    for name in attempts:  # each attempt a child of the execution's span
        refs = by_name[name]["references"]
        assert refs and refs[0]["spanID"] == execution["spanID"], f"{name} not under it\n{text}"
    services = {p["serviceName"] for p in trace["processes"].values()}
    assert {"workflows-trigger", "workflows-orchestrator", "workflows-worker"} <= services, text
    assert "workflows-node-worker" in services, text  # JavaScript, beside the Python services
    assert by_name["step welcomeEmail attempt 1"]["processID"] in {
        pid for pid, p in trace["processes"].items() if p["serviceName"] == "workflows-node-worker"
    }
    async with browser_page() as (page, problems):  # the execution page names its trace
        await page.goto(f"{stack}/#/executions/{eid}")
        await expect(page.get_by_test_id("fact-trace")).to_contain_text(full["traceId"])
        await screenshot(page, ROOT / "test-artifacts" / "traces", "execution-trace-id")
    assert problems == []
