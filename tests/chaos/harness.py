"""The chaos suite's cluster: an Apache Kafka broker (one KRaft node, its log directory in the
work folder), a restartable Redis with AOF, and the engine's services as separate OS processes
that can be `kill -9`ed and restarted.

Every process is started by `Cluster` and stopped by its pid (never by name). The logs of
every process go to `<workdir>/logs/<name>.log` (appended across restarts); the broker's to
`<workdir>/kafka/broker.log`.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from workflows.testing.apache_kafka import KAFKA_VERSION, KafkaNode
from workflows.testing.embedded import free_port, wait_for_port

__all__ = ["Cluster", "KafkaBroker", "Managed"]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FUNCTIONS = "tests.chaos.chaos_functions"

# The services and how many replicas of each run (the brief: two orchestrators, two workers).
SERVICE_REPLICAS: dict[str, int] = {
    "trigger": 1,
    "orchestrator": 2,
    "dispatcher": 1,
    "notifier": 1,
    "worker": 2,
}


@dataclass
class Managed:
    """One OS process we start, kill and restart; its log is appended across restarts."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0
    exits: list[int] = field(default_factory=list)  # exit codes of runs that ended on their own
    pids: list[int] = field(default_factory=list)
    killed_pids: list[int] = field(default_factory=list)
    _log: IO[bytes] | None = None

    def start(self, wait: bool = True, timeout: float = 30.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is running"
        self._log = self.log_path.open("ab")
        self._log.write(f"\n=== start #{self.starts + 1} at {time.time():.3f} ===\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.starts += 1
        self.pids.append(self.proc.pid)
        if wait and self.port is not None:
            wait_for_port(self.port, timeout=timeout, proc=self.proc)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def kill9(self) -> None:
        """SIGKILL by pid: no cleanup, no flush, no offset commit, no graceful anything."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.kills += 1
        self.killed_pids.append(self.proc.pid)
        self._close_log()
        self.proc = None  # not an exit of its own: `reap` and `supervise` leave it alone

    def terminate(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_log()
        return self.proc.returncode

    def reap(self) -> int | None:
        """If the process ended on its own, record its exit code and return it."""
        if self.proc is None or self.proc.poll() is None:
            return None
        code = self.proc.returncode
        self.exits.append(code)
        self._close_log()
        self.proc = None
        return code

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _close_log(self) -> None:
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None


class KafkaBroker:
    """One Apache Kafka KRaft node (broker + controller) on a fixed port whose log directory
    (topics, committed offsets, the metadata log) lives in `folder`: a restart - kill -9 and
    start again on the same port and folder - keeps everything it had acknowledged."""

    name = "kafka"
    version = KAFKA_VERSION

    def __init__(
        self, folder: Path, port: int, *, host: str = "127.0.0.1", heap: str = "512m"
    ) -> None:
        self.node = KafkaNode(1, port, free_port(), folder, heap, host=host)
        self.port = port
        self.starts = 0
        self.kills = 0
        self.pids: list[int] = []
        self._formatted = False

    @property
    def log_path(self) -> Path:
        return self.node.log_path

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.node.proc

    @property
    def alive(self) -> bool:
        return self.node.running

    @property
    def pid(self) -> int | None:
        return self.node.proc.pid if self.node.proc is not None else None

    def start(self, wait: bool = True, timeout: float = 120.0) -> None:
        """Format the log directory the first time, then start the JVM (and wait until it
        logs that it serves)."""
        assert not self.alive, "kafka is running"
        if not self._formatted:
            self.node.folder.mkdir(parents=True, exist_ok=True)
            voters = f"{self.node.node_id}@127.0.0.1:{self.node.controller_port}"
            self.node.write_config(voters, 1, {})
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            self.node.format(cluster_id)
            self._formatted = True
        self.node.launch()
        self.starts += 1
        if self.pid is not None:
            self.pids.append(self.pid)
        if wait:
            self.node.wait_ready(timeout)

    def kill9(self) -> None:
        """SIGKILL: no controlled shutdown, no flush beyond what the OS already has."""
        if self.alive:
            self.node.kill()
            self.kills += 1

    def terminate(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (a controlled shutdown), then SIGKILL after `timeout`; the exit code."""
        if self.node.proc is None:
            return None
        self.node.stop(timeout)
        return self.node.proc.returncode

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class Cluster:
    """Apache Kafka (one KRaft node) + Redis (AOF, fixed port and dir) + the services as
    processes."""

    def __init__(
        self,
        workdir: Path,
        *,
        appendfsync: str = "everysec",
        prefix: str = "chaos",
        partitions: int = 4,
        replicas: dict[str, int] | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.redis_dir = workdir / "redis"
        self.redis_dir.mkdir(exist_ok=True)
        self.appendfsync = appendfsync
        self.prefix = prefix
        self.partitions = partitions
        self.replicas = replicas or dict(SERVICE_REPLICAS)
        self.kafka_port = free_port()
        self.redis_port = free_port()
        self.http_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.kafka_port}"
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.extra_env = extra_env or {}
        self.broker = self._broker()
        self.redis = self._redis()
        self.services = self._services()
        self.redis_restarts = 0
        self.broker_restarts = 0
        self.broker_down_s: list[float] = []  # kill -9 -> serving again, per restart

    # -- the processes ---------------------------------------------------------------------
    def _broker(self) -> KafkaBroker:
        return KafkaBroker(self.workdir / "kafka", self.kafka_port)

    def _redis(self) -> Managed:
        argv = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.redis_port),
            "--dir",
            str(self.redis_dir),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync,
        ]
        return Managed("redis", argv, dict(os.environ), self.logs / "redis.log", self.redis_port)

    def service_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "WORKFLOWS_KAFKA_BOOTSTRAP": self.bootstrap,
            "WORKFLOWS_REDIS_URL": self.redis_url,
            "WORKFLOWS_TOPIC_PREFIX": f"{self.prefix}.",
            "WORKFLOWS_KEY_PREFIX": self.prefix,
            "WORKFLOWS_AUTH": "off",
            "WORKFLOWS_PARTITIONS": str(self.partitions),
            # A killed orchestrator's claimed timers fire again after the lease: keep it short.
            "WORKFLOWS_TIMER_LEASE_MS": "5000",
            "PYTHONPATH": str(ROOT),
            **self.extra_env,
        }

    def _services(self) -> list[Managed]:
        exe = str(BIN / "workflows")
        env = self.service_env()
        out: list[Managed] = []
        for name, count in self.replicas.items():
            for index in range(count):
                label = f"{name}-{index + 1}" if count > 1 else name
                argv = [exe, "run", name]
                port = None
                if name == "trigger":
                    argv += ["--port", str(self.http_port)]
                    port = self.http_port
                if name == "worker":
                    argv += ["--functions", FUNCTIONS]
                out.append(Managed(label, argv, env, self.logs / f"{label}.log", port))
        return out

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self.redis.start()
        self.broker.start()
        for service in self.services:
            service.start(wait=False)
        trigger = self.service("trigger")
        if trigger.port is not None:
            wait_for_port(trigger.port, timeout=60, proc=trigger.proc)

    def stop(self) -> dict[str, int | None]:
        """Terminate everything (services first); returns each service's exit code."""
        codes: dict[str, int | None] = {}
        for service in self.services:
            if service.proc is not None and service.proc.poll() is None:
                service.proc.terminate()
        for service in self.services:
            codes[service.name] = service.terminate(20)
        self.broker.terminate(20)
        self.redis.terminate(10)
        return codes

    def service(self, label: str) -> Managed:
        return next(s for s in self.services if s.name == label)

    # -- chaos -----------------------------------------------------------------------------
    def restart_redis(self, down_s: float = 1.0) -> None:
        """SIGKILL redis-server, then start it again on the same port and AOF directory."""
        self.redis.kill9()
        time.sleep(down_s)
        self.redis.start(timeout=60)
        self.redis_restarts += 1

    def restart_broker(self, down_s: float = 1.0) -> None:
        """SIGKILL the Kafka broker, then start it again on the same port and log directory
        (it recovers its logs; topics and committed offsets survive)."""
        killed_at = time.monotonic()
        self.broker.kill9()
        time.sleep(down_s)
        self.broker.start(timeout=180)
        self.broker_down_s.append(time.monotonic() - killed_at)
        self.broker_restarts += 1

    def supervise(self) -> list[tuple[str, int]]:
        """Restart services that exited on their own (as a process supervisor would)."""
        restarted = []
        for service in self.services:
            code = service.reap()
            if code is not None:
                restarted.append((service.name, code))
                service.start(wait=False)
        return restarted
