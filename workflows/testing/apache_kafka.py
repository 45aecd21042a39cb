"""Apache Kafka on loopback: a KRaft broker (combined broker + controller) or a cluster of them
(`host=` binds and advertises another local address instead, e.g. a bridge's).

The broker is `org.apache.kafka:kafka_2.13` from Maven Central, fetched once into a cache
folder by `make install` (`python -m workflows.testing.apache_kafka fetch`: the pom beside
this module and `mvn dependency:copy-dependencies`), formatted with `kafka.tools.StorageTool` and
run with
`kafka.Kafka`. Used by the test fixtures, the chaos suite, the multi-host run, the benchmark and
`workflows dev --broker kafka`. Topic auto-creation is off: the engine creates its topics.

    python -m workflows.testing.apache_kafka fetch   # fill the cache (needs Java 17+ and Maven)
    python -m workflows.testing.apache_kafka run     # one broker in the foreground
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workflows.testing.embedded import free_port, wait_for_port

__all__ = [
    "KAFKA_VERSION",
    "KafkaCluster",
    "KafkaNode",
    "apache_kafka",
    "fetch",
    "kafka_cluster",
    "kafka_libs",
]

KAFKA_VERSION = "4.4.0"  # keep in step with kafka_dist/pom.xml
DIST = Path(__file__).resolve().parent / "kafka_dist"
READY_LINE = "Kafka Server started"


def kafka_home() -> Path:
    """The cache folder (`WORKFLOWS_KAFKA_HOME`, else ~/.cache/workflows/kafka-<version>)."""
    configured = os.environ.get("WORKFLOWS_KAFKA_HOME")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "workflows" / f"kafka-{KAFKA_VERSION}"


def kafka_libs() -> Path:
    """The folder of the broker's jars; a clear error when `make install` has not filled it."""
    libs = kafka_home() / "libs"
    if not (libs / ".complete").exists():
        raise RuntimeError(
            f"Apache Kafka {KAFKA_VERSION} is not in {libs}: run `make install` "
            "(or `python -m workflows.testing.apache_kafka fetch`; needs Java 17+ and Maven)"
        )
    return libs


def fetch(quiet: bool = True) -> Path:
    """Fetch the broker's jars into the cache once (idempotent); returns the jar folder."""
    home = kafka_home()
    libs = home / "libs"
    if (libs / ".complete").exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Maven (mvn) is needed once to fetch Apache Kafka's jars")
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(DIST / "pom.xml", home / "pom.xml")
    argv = [
        mvn,
        "-B",
        "-Dstyle.color=never",
        *(["-q"] if quiet else []),
        "-f",
        str(home / "pom.xml"),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={libs}",
    ]
    subprocess.run(argv, check=True)
    (libs / ".complete").write_text(KAFKA_VERSION)
    return libs


def java_binary() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise RuntimeError("Apache Kafka needs Java 17 or newer (`java` is not on PATH)")
    return found


def _java(heap: str, pretouch: bool = False) -> list[str]:
    return [
        java_binary(),
        f"-Xms{heap}",
        f"-Xmx{heap}",
        # The whole heap is touched at start, so its resident size does not grow in steps as
        # G1 first uses its regions (a soak measures RSS; the start takes longer).
        *(["-XX:+AlwaysPreTouch"] if pretouch else []),
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={DIST / 'log4j2.properties'}",
        "-cp",
        f"{kafka_libs()}/*",
    ]


@dataclass
class KafkaNode:
    """One combined broker + controller process with its own ports and log directory."""

    node_id: int
    port: int
    controller_port: int
    folder: Path
    heap: str = "1g"
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log_size_at_start: int = field(default=0, repr=False)
    # The client listener's (and advertised) address; the controller stays on 127.0.0.1.
    host: str = "127.0.0.1"
    pretouch: bool = False  # -XX:+AlwaysPreTouch: the heap resident from the start

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "broker.log"

    def write_config(self, voters: str, size: int, extra: dict[str, str]) -> Path:
        replicas = str(min(size, 3))
        config = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{self.address},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.address}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.folder / "data"),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "default.replication.factor": replicas,
            "min.insync.replicas": "2" if size >= 3 else "1",
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": "2" if size >= 3 else "1",
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": "2" if size >= 3 else "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "message.max.bytes": str(16 * 1024 * 1024),
            "replica.fetch.max.bytes": str(16 * 1024 * 1024),
            "log.segment.bytes": str(64 * 1024 * 1024),
            **extra,
        }
        path = self.folder / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in config.items()))
        return path

    def format(self, cluster_id: str) -> None:
        argv = [
            *_java("256m"),
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",  # an id may start with "-"
            "-c",
            str(self.folder / "server.properties"),
            "--ignore-formatted",
        ]
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"kafka StorageTool format failed: {result.stderr[-2000:]}")

    def start(self) -> None:
        """Start the JVM (appending to `broker.log`); `wait_ready` tells when it serves."""
        config = str(self.folder / "server.properties")
        argv = [*_java(self.heap, self.pretouch), "kafka.Kafka", config]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll the broker's log for its start line (the port opens before it serves)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        offset = self._log_size_at_start
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"Kafka node {self.node_id} exited with {self.proc.returncode}: "
                    f"{self.log_path.read_text(errors='replace')[-2000:]}"
                )
            with self.log_path.open("rb") as log:
                log.seek(offset)
                if READY_LINE.encode() in log.read():
                    left = max(deadline - time.monotonic(), 1.0)
                    if self.host == "127.0.0.1":
                        wait_for_port(self.port, timeout=left)
                    else:
                        _wait_connectable(self.host, self.port, left)
                    return
            time.sleep(0.05)
        raise TimeoutError(f"Kafka node {self.node_id} not ready after {timeout}s")

    def launch(self) -> None:
        """`start`, remembering where this run's log begins (for `wait_ready`)."""
        self._log_size_at_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.start()

    def kill(self) -> None:
        """kill -9: no shutdown, no flush beyond what the OS already has."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _wait_connectable(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), 0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s") from None
            time.sleep(0.02)


@dataclass
class KafkaCluster:
    """`size` KRaft nodes on loopback sharing one controller quorum (every node votes)."""

    nodes: list[KafkaNode]
    cluster_id: str
    version: str = KAFKA_VERSION

    @property
    def bootstrap(self) -> str:
        return ",".join(node.address for node in self.nodes)

    def node(self, node_id: int) -> KafkaNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def node_by_port(self, port: int) -> KafkaNode:
        return next(n for n in self.nodes if n.port == port)

    def kill(self, node_id: int) -> None:
        self.node(node_id).kill()

    def restart(self, node_id: int, timeout: float = 60.0) -> None:
        """Start a stopped or killed node again on the same ports and log directory."""
        node = self.node(node_id)
        node.kill()
        node.launch()
        node.wait_ready(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to every node at once, then kill -9 whatever is still up after `timeout`."""
        for node in self.nodes:
            if node.running:
                assert node.proc is not None
                node.proc.terminate()
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            if node.proc is not None:
                try:
                    node.proc.wait(max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    node.kill()


def _folder(base: Path | None) -> contextlib.AbstractContextManager[str]:
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
        return contextlib.nullcontext(str(base))
    return tempfile.TemporaryDirectory(prefix="wf-kafka-")


@contextlib.contextmanager
def kafka_cluster(
    size: int = 3,
    heap: str = "512m",
    ports: Sequence[int] | None = None,
    folder: Path | None = None,
    extra: dict[str, str] | None = None,
    host: str = "127.0.0.1",
    pretouch: bool = False,
) -> Iterator[KafkaCluster]:
    """Start `size` nodes (replication factor min(size, 3), min.insync.replicas 2 from three
    nodes up) and yield the cluster once every node serves; stops them all on exit. `host`:
    the address the client listeners bind and advertise (e.g. a bridge's, for other network
    namespaces); the controller quorum stays on 127.0.0.1. `pretouch`: the JVM heap is made
    resident at start (the benchmark's soak measures RSS)."""
    ports = list(ports) if ports else [free_port() for _ in range(size)]
    with _folder(folder) as base:
        nodes = [
            KafkaNode(
                i + 1,
                ports[i],
                free_port(),
                Path(base) / f"node{i + 1}",
                heap,
                host=host,
                pretouch=pretouch,
            )
            for i in range(size)
        ]
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
        cluster_id = str(uuid.uuid4())
        cluster = KafkaCluster(nodes, _kafka_cluster_id(cluster_id))
        try:
            for node in nodes:
                node.folder.mkdir(parents=True, exist_ok=True)
                node.write_config(voters, size, extra or {})
                node.format(cluster.cluster_id)
            for node in nodes:
                node.launch()
            for node in nodes:
                node.wait_ready()
            yield cluster
        finally:
            cluster.stop()


def _kafka_cluster_id(seed: str) -> str:
    """A Kafka cluster id: 16 bytes, URL-safe base64 without padding (22 characters)."""
    import base64

    return base64.urlsafe_b64encode(uuid.UUID(seed).bytes).decode().rstrip("=")


@contextlib.contextmanager
def apache_kafka(
    port: int | None = None, heap: str = "1g", folder: Path | None = None
) -> Iterator[str]:
    """One Apache Kafka broker on 127.0.0.1 (KRaft, combined roles); yields the bootstrap."""
    ports = [port] if port else None
    with kafka_cluster(1, heap=heap, ports=ports, folder=folder) as cluster:
        yield cluster.bootstrap


def _main(argv: list[str]) -> int:
    command = argv[0] if argv else "fetch"
    if command == "fetch":
        libs = fetch(quiet="--verbose" not in argv)
        print(f"Apache Kafka {KAFKA_VERSION}: {libs}")
        return 0
    if command == "run":
        port = int(argv[1]) if len(argv) > 1 else 9092
        with apache_kafka(port) as bootstrap:
            print(f"Apache Kafka {KAFKA_VERSION} on {bootstrap} (Ctrl-C stops it)", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        return 0
    print("usage: python -m workflows.testing.apache_kafka fetch|run [PORT]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
