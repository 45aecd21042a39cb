"""Start a throwaway Redis Cluster on loopback: masters with one replica each, AOF on.

Used by `make test-cluster` (tests/conftest.py) and the failover test. Each node is a
`redis-server --cluster-enabled yes` with its own directory, port and cluster bus port; the
cluster is formed with `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`
and is ready when every node reports `cluster_state:ok` and every replica is in sync.

    with redis_cluster() as cluster:
        cluster.url         # redis+cluster://127.0.0.1:<port> (services.infra.redis_client)
        cluster.kill(port)  # SIGKILL one node, e.g. the master of a key's slot
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from workflows.testing.embedded import free_port, wait_for_port

__all__ = ["ClusterNode", "RedisClusterHandle", "redis_cluster"]

SLOTS = 16384


@dataclass
class ClusterNode:
    port: int
    bus_port: int
    proc: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, decode_responses=True)


@dataclass
class RedisClusterHandle:
    nodes: list[ClusterNode]
    killed: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        """A seed URL naming every live node (the client needs only one)."""
        return f"redis+cluster://{self.live()[0].address}"

    def live(self) -> list[ClusterNode]:
        return [n for n in self.nodes if n.port not in self.killed]

    def master_of(self, key: str) -> ClusterNode:
        """The live node that serves `key`'s slot now."""
        with self.live()[0].client() as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
            for start, end, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if int(start) <= slot <= int(end):
                    return self.node(int(master[1]))
        raise LookupError(f"slot of {key!r} is not served by any node")

    def node(self, port: int) -> ClusterNode:
        for node in self.nodes:
            if node.port == port:
                return node
        raise LookupError(f"no cluster node on port {port}")

    def kill(self, port: int) -> None:
        """SIGKILL the node on `port` (no shutdown, no AOF rewrite: a crash)."""
        node = self.node(port)
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(5)
        self.killed.add(port)

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Poll until every live node sees the whole slot range served and in state ok."""
        _poll(lambda: all(_node_ok(n) for n in self.live()), timeout, "cluster_state:ok")


def _node_ok(node: ClusterNode) -> bool:
    try:
        with node.client() as client:
            info = client.cluster("INFO")
            if info.get("cluster_state") != "ok" or int(info["cluster_slots_ok"]) != SLOTS:
                return False
            replication = client.info("replication")
    except redis.RedisError:
        return False
    if replication.get("role") == "slave":
        return bool(replication.get("master_link_status") == "up")
    return True


def _poll(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"redis cluster: no {what} after {timeout}s")


def _distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed (Debian package redis-server / redis-tools)")
    return path


@contextlib.contextmanager
def redis_cluster(
    masters: int = 3,
    replicas: int = 1,
    node_timeout_ms: int = 1000,
    appendfsync: str = "everysec",
) -> Iterator[RedisClusterHandle]:
    """Run `masters` x (1 + `replicas`) cluster nodes on 127.0.0.1; yields a handle."""
    server, cli = _binary("redis-server"), _binary("redis-cli")
    nodes: list[ClusterNode] = []
    with tempfile.TemporaryDirectory(prefix="wf-redis-cluster-") as folder:
        try:
            ports = _distinct_free_ports(2 * masters * (1 + replicas))
            for port, bus_port in zip(ports[::2], ports[1::2], strict=True):
                node_dir = Path(folder) / str(port)
                node_dir.mkdir()
                args = [
                    server,
                    "--bind", "127.0.0.1",
                    "--port", str(port),
                    "--cluster-enabled", "yes",
                    "--cluster-port", str(bus_port),
                    "--cluster-config-file", f"nodes-{port}.conf",
                    "--cluster-node-timeout", str(node_timeout_ms),
                    "--appendonly", "yes",
                    "--appendfsync", appendfsync,
                    "--save", "",
                    "--repl-diskless-sync-delay", "0",
                    "--dir", str(node_dir),
                ]  # fmt: skip
                proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                nodes.append(ClusterNode(port, bus_port, proc))
            for node in nodes:
                wait_for_port(node.port, proc=node.proc)
            create = [cli, "--cluster", "create", *(n.address for n in nodes)]
            create += ["--cluster-replicas", str(replicas), "--cluster-yes"]
            done = subprocess.run(create, capture_output=True, timeout=60, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout!r}")
            handle = RedisClusterHandle(nodes)
            handle.wait_ok()
            yield handle
        finally:
            for node in nodes:
                if node.proc.poll() is None:
                    node.proc.terminate()
            for node in nodes:
                try:
                    node.proc.wait(5)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait()
