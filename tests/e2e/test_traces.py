"""OpenTelemetry traces end to end: the seed runs as processes (trigger, orchestrator,
dispatcher, the Python worker and the Node worker serving sendPersonalizedEmail) exporting
OTLP to a real Jaeger v2 (memory storage) that the fixture builds from the Go module proxy
(tests/support/jaeger/go.mod pins it; cached under ~/.cache/workflows). The trace read back
from Jaeger's query API must have one root, a span per step attempt under it, spans from
several processes in two languages. Jaeger forwards the spans to Zipkin (tests/support/
trace_backends.py), whose UI headless Chromium screenshots: test-artifacts/traces/.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from playwright.async_api import expect

from tests.e2e.test_go_worker import build_go_worker
from tests.e2e.test_java_worker import build_java_worker
from tests.e2e.test_node_worker import NODE_DIR, SIGNED, WORKERS, run_seed, seed_stack
from tests.support.browser import browser_page, needs_chromium, screenshot
from tests.support.stack import ROOT
from tests.support.trace_backends import TraceBackends, span_tree, trace_backends

pytestmark = [pytest.mark.e2e, needs_chromium]
ARTIFACTS = ROOT / "test-artifacts" / "traces"


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TraceBackends]:
    """Jaeger v2 (OTLP receiver, query API), mirroring every span to Zipkin (UI), on free
    ports; one for the module's tests (each finds its own trace by execution id)."""
    with (
        holding(USUAL_PORTS),  # the backends must not need them (another run may hold them)
        trace_backends(tmp_path_factory.mktemp("trace-backends")) as backends,
    ):
        yield backends


USUAL_PORTS = (4318, 16686, 16685, 14318, 9411)  # Jaeger's, the bridge's, Zipkin's defaults


@contextmanager
def holding(ports: tuple[int, ...]) -> Iterator[None]:
    """Listen on those of `ports` that are free until the block ends."""
    held = []
    for port in ports:
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
            held.append(sock)
        except OSError:
            sock.close()  # taken already: just as good
    try:
        yield
    finally:
        for sock in held:
            sock.close()


async def test_the_trace_backends_run_beside_their_usual_ports_taken(
    jaeger: TraceBackends,
) -> None:
    urls = (jaeger.otlp, jaeger.jaeger_query, jaeger.zipkin)
    assert not {int(url.rsplit(":", 1)[1]) for url in urls} & set(USUAL_PORTS), urls
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"{jaeger.jaeger_query}/api/services")).status_code == 200
        assert (await client.get(f"{jaeger.zipkin}/health")).status_code == 200


def traced(backends: TraceBackends) -> dict[str, str]:
    """The stack's environment: signed records, OTLP export to Jaeger."""
    return {
        **SIGNED,
        "OTEL_EXPORTER_OTLP_ENDPOINT": backends.otlp,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within 0.2 s (Python, Node and Go SDKs)
    }


@pytest.fixture
def stack(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, jaeger: TraceBackends
) -> Iterator[str]:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@opentelemetry" / "api").is_dir():
        pytest.skip("needs node and `npm ci` in examples/workers/node (make install does it)")
    worker = [node, str(NODE_DIR / "worker.js")]
    flaky = "tests.support.flaky_seed_functions"  # allocateResources fails its 1st attempt
    env = traced(jaeger)
    with seed_stack(kafka_bootstrap, redis_url, tmp_path, "node", worker, env, flaky) as url:
        yield url


@pytest.mark.timeout(2400)  # the first run builds Jaeger
async def test_an_execution_is_one_trace_across_processes_and_languages(
    stack: str, jaeger: TraceBackends
) -> None:
    full = await run_seed(stack, "node")
    eid = full["executionId"]
    attempts = {
        f"step {sid} attempt {n}"
        for sid, run in full["steps"].items()
        for n in range(1, (run.get("attempt") or 0) + 1)
    }
    assert full["steps"]["resourceAllocation"]["attempt"] == 2  # retried once
    tags = json.dumps({"execution.id": eid})
    query = {"service": "workflows-trigger", "tags": tags, "lookback": "1h"}
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=jaeger.jaeger_query, timeout=10) as client:
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
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "seed-trace.txt").write_text(f"trace {trace_id}\n{text}\n")
    assert len(roots) == 1, text  # the start request's span (FastAPI's) or the execution's
    by_name = {s["operationName"]: s for s in trace["spans"]}
    execution = by_name["execution customerOnboardingWorkflow"]
    for name in attempts:  # each attempt a child of the execution's span
        refs = by_name[name]["references"]
        assert refs and refs[0]["spanID"] == execution["spanID"], f"{name} not under it\n{text}"
    retry_waits = [  # the retry wait: an event on the orchestrator's span of the failure
        {f["key"]: f["value"] for f in log["fields"]}
        for span in trace["spans"]
        for log in span.get("logs", [])
        if {"key": "event", "type": "string", "value": "step.retrying"} in log["fields"]
    ]
    assert [(w["step.id"], w["step.attempt"], w["nextAttempt"]) for w in retry_waits] == [
        ("resourceAllocation", 1, 2)
    ], text
    assert retry_waits[0]["delayMs"] >= 1000  # the seed's initialDelay
    services = {p["serviceName"] for p in trace["processes"].values()}
    assert {"workflows-trigger", "workflows-orchestrator", "workflows-worker"} <= services, text
    assert "workflows-node-worker" in services, text  # JavaScript, beside the Python services
    assert by_name["step welcomeEmail attempt 1"]["processID"] in {
        pid for pid, p in trace["processes"].items() if p["serviceName"] == "workflows-node-worker"
    }
    async with browser_page() as (page, problems):  # the execution page names its trace
        await page.goto(f"{stack}/#/executions/{eid}")
        await expect(page.get_by_test_id("fact-trace")).to_contain_text(full["traceId"])
        await screenshot(page, ARTIFACTS, "execution-trace-id")
    assert problems == []
    await zipkin_shows(jaeger.zipkin, full["traceId"], len(trace["spans"]), eid)


async def zipkin_shows(zipkin: str, trace_id: str, span_count: int, execution_id: str) -> None:
    """The trace as Zipkin's UI draws it: every span Jaeger has reached Zipkin (through the
    bridge); the trace page lists the Node worker's attempt; screenshot seed-trace-zipkin.png."""
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=zipkin, timeout=10) as client:
        while True:
            answer = await client.get(f"/api/v2/trace/{trace_id}")
            got = answer.json() if answer.status_code == 200 else []
            if len(got) >= span_count:
                break
            assert time.monotonic() < deadline, f"Zipkin has {len(got)} of {span_count} spans"
            await asyncio.sleep(0.3)
    node = [s for s in got if s["localEndpoint"]["serviceName"] == "workflows-node-worker"]
    assert node and node[0]["name"] == "step welcomeemail attempt 1", node  # Zipkin lowercases
    assert node[0]["tags"]["execution.id"] == execution_id
    async with browser_page(1600, 1200) as (page, problems):
        await page.goto(f"{zipkin}/zipkin/traces/{trace_id}")
        await expect(page.get_by_text("step welcomeemail attempt 1").first).to_be_visible()
        await expect(page.get_by_text("workflows-node-worker").first).to_be_visible()
        await screenshot(page, ARTIFACTS, "seed-trace-zipkin")
    assert problems == []


def runtime_worker(runtime: str) -> list[str]:
    """The argv of the seed's e-mail worker in `runtime` (built as its own e2e test builds it)."""
    if runtime == "go":
        return [str(build_go_worker())]
    if runtime == "java":
        return [
            "java",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-jar",
            str(build_java_worker()),
        ]
    if not (shutil.which("kcat") and shutil.which("jq")):
        pytest.skip("needs kcat and jq")
    return ["bash", str(WORKERS / "kcat" / "email-worker.sh")]


async def result_traceparent(bootstrap: str, execution_id: str, step_id: str) -> str:
    """The `traceparent` header of `step_id`'s result record (any prefix's results topic)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    consumer.subscribe(pattern=r"^.*wf\.steps\.results$")
    await consumer.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for record in (r for batch in batches.values() for r in batch):
                if record.key != execution_id.encode():
                    continue
                if json.loads(record.value).get("stepId") == step_id:
                    return dict(record.headers).get("traceparent", b"").decode()
        raise AssertionError(f"no result record of {step_id} in {execution_id}")
    finally:
        await consumer.stop()


@pytest.mark.parametrize("runtime", ["go", "java", "kcat"])
@pytest.mark.timeout(900)
async def test_the_go_java_and_kcat_workers_continue_the_trace(
    runtime: str, kafka_bootstrap: str, redis_url: str, tmp_path: Path, jaeger: TraceBackends
) -> None:
    """The e-mail step's result record carries the execution's trace on, whichever runtime
    ran it; the worker's attempt is a span of that trace in Jaeger (Go and Java SDKs, kcat's
    OTLP/JSON over curl), under the execution's span."""
    worker = runtime_worker(runtime)
    with seed_stack(kafka_bootstrap, redis_url, tmp_path, runtime, worker, traced(jaeger)) as url:
        full = await run_seed(url, runtime)
    traceparent = await result_traceparent(kafka_bootstrap, full["executionId"], "welcomeEmail")
    assert traceparent.split("-")[1:2] == [full["traceId"]], traceparent
    service = f"workflows-{runtime}-worker"
    query = {
        "service": service,
        "tags": json.dumps({"execution.id": full["executionId"]}),
    }
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=jaeger.jaeger_query, timeout=10) as client:
        while not (found := (await client.get("/api/traces", params=query)).json().get("data")):
            assert time.monotonic() < deadline, f"no span of {service} in Jaeger"
            await asyncio.sleep(0.3)
    trace = found[0]
    assert trace["traceID"].rjust(32, "0") == full["traceId"]
    by_name = {s["operationName"]: s for s in trace["spans"]}
    worker_span = by_name["step welcomeEmail attempt 1"]
    services = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    assert services[worker_span["processID"]] == service
    execution = by_name["execution customerOnboardingWorkflow"]
    assert worker_span["references"][0]["spanID"] == execution["spanID"], span_tree(trace)[1]
    assert traceparent.split("-")[2] == worker_span["spanID"].rjust(16, "0")  # the attempt's span
