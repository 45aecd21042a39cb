"""Real trace backends for the trace tests, fetched or built once into ~/.cache/workflows.

- Jaeger v2 (memory storage), built from tests/support/jaeger/go.mod: receives the services'
  OTLP; its query API is what the tests assert on. A `go build` of Jaeger has
  no UI assets (jaeger-ui is a git submodule, not in the module), so for the picture:
- Zipkin (`io.zipkin:zipkin-server` exec jar from Maven Central, memory storage), whose Lens
  UI shows the same trace. Its released modules have no OTLP receiver and Jaeger has
  no Zipkin exporter, so Jaeger forwards every span over OTLP to
- the zipkin bridge, a minimal OpenTelemetry Collector (tests/support/zipkin_bridge: OTLP in,
  the collector's Zipkin exporter out), built from the Go module proxy.

Every listener is on a free loopback port picked at start (`TraceBackends` names them), so
the tests run beside anything else holding Jaeger's or Zipkin's usual ports.

services --OTLP--> Jaeger (assertions) --OTLP--> bridge --Zipkin v2--> Zipkin (screenshot)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.stack import ROOT

CACHE = Path.home() / ".cache" / "workflows"
JAEGER_VERSION = "v1.76.0"  # the module version whose cmd/jaeger is Jaeger v2
JAEGER_MODULE = ROOT / "tests" / "support" / "jaeger"
JAEGER_BIN = CACHE / f"jaeger-{JAEGER_VERSION}" / "jaeger"
BRIDGE_VERSION = "v0.140.1"  # the collector-contrib zipkinexporter pinned in its go.mod
BRIDGE_MODULE = ROOT / "tests" / "support" / "zipkin_bridge"
BRIDGE_BIN = CACHE / f"zipkin-bridge-{BRIDGE_VERSION}" / "zipkin-bridge"
ZIPKIN_VERSION = "3.5.1"
ZIPKIN_JAR = CACHE / f"zipkin-{ZIPKIN_VERSION}" / f"zipkin-server-{ZIPKIN_VERSION}-exec.jar"


_JAEGER_CONFIG = """\
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter, otlphttp/zipkin_bridge]
  telemetry:
    metrics:
      level: none
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: "127.0.0.1:{query}"
    grpc:
      endpoint: "127.0.0.1:{query_grpc}"
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      http:
        endpoint: "127.0.0.1:{otlp}"
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
  otlphttp/zipkin_bridge:
    endpoint: "http://127.0.0.1:{bridge}"
    tls:
      insecure: true
"""

_BRIDGE_CONFIG = """\
receivers:
  otlp:
    protocols:
      http:
        endpoint: "127.0.0.1:{bridge}"
processors:
  batch:
    timeout: 200ms
exporters:
  zipkin:
    endpoint: "{zipkin}/api/v2/spans"
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [zipkin]
  telemetry:
    metrics:
      level: none
"""


def _go_build(module: Path, package: str, target: Path) -> Path:
    if target.exists():
        return target
    go = shutil.which("go")
    if go is None:
        pytest.skip(f"needs the Go toolchain to build {target.name} (a trace backend)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".building")
    subprocess.run([go, "build", "-o", str(partial), package], cwd=module, check=True, timeout=1800)
    partial.rename(target)
    return target


def jaeger_binary() -> Path:
    """Jaeger v2, built once from tests/support/jaeger's pinned modules (several minutes)."""
    return _go_build(JAEGER_MODULE, "github.com/jaegertracing/jaeger/cmd/jaeger", JAEGER_BIN)


def bridge_binary() -> Path:
    """The OTLP-to-Zipkin collector, built once from tests/support/zipkin_bridge."""
    return _go_build(BRIDGE_MODULE, ".", BRIDGE_BIN)


def zipkin_jar() -> Path:
    """Zipkin's executable jar (server + Lens UI), fetched once with Maven."""
    if ZIPKIN_JAR.exists():
        return ZIPKIN_JAR
    mvn = shutil.which("mvn")
    if mvn is None:
        pytest.skip("needs Maven to fetch Zipkin's server jar (the trace UI)")
    ZIPKIN_JAR.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            mvn,
            "-B",
            "-q",
            "dependency:copy",
            f"-Dartifact=io.zipkin:zipkin-server:{ZIPKIN_VERSION}:jar:exec",
            f"-DoutputDirectory={ZIPKIN_JAR.parent}",
        ],
        cwd=ZIPKIN_JAR.parent,
        check=True,
        timeout=900,
    )
    assert ZIPKIN_JAR.exists(), f"Maven did not leave {ZIPKIN_JAR}"
    return ZIPKIN_JAR


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _answers(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return check


@contextmanager
def _process(
    argv: list[str],
    log: Path,
    ready: Callable[[], bool],
    what: str,
    env: dict[str, str] | None = None,
    wait: float = 120,
) -> Iterator[None]:
    """Run `argv` until the block ends, once `ready()` (polled until `wait` seconds)."""
    out = log.open("wb")
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + wait
        while not ready():
            assert proc.poll() is None, f"{what} exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"{what} did not answer within {wait:.0f} s"
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        out.close()


@dataclass(frozen=True)
class TraceBackends:
    """Where the started backends listen (loopback URLs)."""

    otlp: str  # what the services export to (Jaeger's OTLP/HTTP receiver)
    jaeger_query: str  # Jaeger's query API (/api/traces)
    zipkin: str  # Zipkin's API and Lens UI (/zipkin/)


@contextmanager
def trace_backends(folder: Path) -> Iterator[TraceBackends]:
    """Zipkin, the bridge and Jaeger (in that order), each on free loopback ports."""
    jaeger, bridge, jar = jaeger_binary(), bridge_binary(), zipkin_jar()
    java = shutil.which("java")
    if java is None:
        pytest.skip("needs Java to run Zipkin (the trace UI)")
    otlp, query, query_grpc, bridge_port, zipkin_port = _free_ports(5)
    urls = TraceBackends(
        otlp=f"http://127.0.0.1:{otlp}",
        jaeger_query=f"http://127.0.0.1:{query}",
        zipkin=f"http://127.0.0.1:{zipkin_port}",
    )
    (folder / "bridge.yaml").write_text(
        _BRIDGE_CONFIG.format(bridge=bridge_port, zipkin=urls.zipkin)
    )
    (folder / "jaeger.yaml").write_text(
        _JAEGER_CONFIG.format(otlp=otlp, query=query, query_grpc=query_grpc, bridge=bridge_port)
    )
    zipkin_env = {
        "PATH": "/usr/bin:/bin",
        "STORAGE_TYPE": "mem",
        "QUERY_PORT": str(zipkin_port),
    }
    zipkin = [java, "-Xms128m", "-Xmx384m", "-XX:TieredStopAtLevel=1", "-jar", str(jar)]
    with (
        _process(
            zipkin, folder / "zipkin.log", _answers(f"{urls.zipkin}/health"), "Zipkin", zipkin_env
        ),
        _process(
            [str(bridge), "--config", str(folder / "bridge.yaml")],
            folder / "bridge.log",
            lambda: _port_open(bridge_port),
            "the zipkin bridge",
            wait=30,
        ),
        _process(
            [str(jaeger), "--config", str(folder / "jaeger.yaml")],
            folder / "jaeger.log",
            _answers(f"{urls.jaeger_query}/api/services"),
            "Jaeger",
            wait=60,
        ),
    ):
        yield urls


def _free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports free now (bound together, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


_EVENT_FIELDS = ("step.id", "step.attempt", "delayMs", "kind", "function", "child.workflow")


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
        for log in span.get("logs", []):  # span events: retry waits, waits, fallbacks, ...
            fields = {f["key"]: f["value"] for f in log["fields"]}
            shown = ", ".join(f"{k}={fields[k]}" for k in _EVENT_FIELDS if k in fields)
            lines.append(f"{'  ' * (depth + 1)}* {fields.get('event', '?')} ({shown})")
        for child in children.get(span["spanID"], []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return roots, "\n".join(lines)


if __name__ == "__main__":  # `make install`: build and fetch the trace backends once
    for built in (jaeger_binary(), bridge_binary(), zipkin_jar()):
        print(f"trace backend ready: {built}")
