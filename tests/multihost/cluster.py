"""The chaos suite's `Cluster`, spread over hosts: each service replica runs in its own
network namespace (`ip netns exec`) and reaches the broker and Redis over its veth link.

The broker (Apache Kafka, one KRaft node, its log directory in the work folder) and
redis-server run in the root namespace. Kafka's client listener binds the bridge's address and
advertises it (`listeners` / `advertised.listeners` = `PLAINTEXT://10.77.X.1:port`; its
controller listener stays on 127.0.0.1), which is what the hosts and the harness connect to.
Trigger replicas listen on their host's address (`http://10.77.X.N:port`).
"""

from __future__ import annotations

from pathlib import Path

from tests.chaos.harness import Cluster, KafkaBroker, Managed
from tests.multihost.netns import Network

__all__ = ["HOST_REPLICAS", "HostCluster", "host_names"]

# The issue: two orchestrators, dispatchers, workers and triggers, each on its own host.
HOST_REPLICAS: dict[str, int] = {
    "trigger": 2,
    "orchestrator": 2,
    "dispatcher": 2,
    "notifier": 1,
    "worker": 2,
}


def host_names(replicas: dict[str, int]) -> list[str]:
    """One host per replica, named as the chaos suite names its processes (`worker-2`)."""
    return [
        f"{name}-{index + 1}" if count > 1 else name
        for name, count in replicas.items()
        for index in range(count)
    ]


def _set(argv: list[str], option: str, value: str) -> None:
    argv[argv.index(option) + 1] = value


class HostCluster(Cluster):
    """Apache Kafka + Redis in the root namespace, every service replica on its own host."""

    def __init__(
        self,
        workdir: Path,
        network: Network,
        *,
        prefix: str,
        partitions: int,
        replicas: dict[str, int],
        extra_env: dict[str, str],
    ) -> None:
        self.network = network
        super().__init__(
            workdir, prefix=prefix, partitions=partitions, replicas=replicas, extra_env=extra_env
        )
        gateway = network.gateway
        self.bootstrap = f"{gateway}:{self.kafka_port}"
        self.redis_url = f"redis://{gateway}:{self.redis_port}/0"
        self.base_urls = [
            f"http://{network.hosts[s.name].address}:{self.http_port}"
            for s in self.services
            if s.name.startswith("trigger")
        ]
        self.base_url = self.base_urls[0]

    def _broker(self) -> KafkaBroker:
        """The chaos suite's broker, listening on and advertising the bridge's address."""
        return KafkaBroker(self.workdir / "kafka", self.kafka_port, host=self.network.gateway)

    def _redis(self) -> Managed:
        """The chaos suite's Redis, also on the bridge's address (no AOF: never restarted)."""
        managed = super()._redis()
        _set(managed.argv, "--bind", f"127.0.0.1 {self.network.gateway}")
        _set(managed.argv, "--appendonly", "no")
        managed.argv += ["--protected-mode", "no"]
        return managed

    def _services(self) -> list[Managed]:
        """The chaos suite's service processes, each run inside its own host."""
        gateway = self.network.gateway
        services = super()._services()
        for managed in services:
            host = self.network.hosts[managed.name]
            managed.argv = host.wrap(managed.argv)
            managed.env = {
                **managed.env,
                "WORKFLOWS_KAFKA_BOOTSTRAP": f"{gateway}:{self.kafka_port}",
                "WORKFLOWS_REDIS_URL": f"redis://{gateway}:{self.redis_port}/0",
            }
            if managed.port is not None:  # a trigger: its API listens on its host's address
                managed.env["WORKFLOWS_HTTP_HOST"] = host.address
                managed.port = None  # (not on this namespace's 127.0.0.1: wait for /readyz)
        return services

    def start(self) -> None:
        """Redis and the broker, then every service (the caller waits for the triggers)."""
        self.redis.start()
        self.broker.start()
        for service in self.services:
            service.start(wait=False)

    def host_pids(self, label: str) -> list[int]:
        """Every pid a host's service ran as (a cut host's work counts as a crashed one's)."""
        return list(self.service(label).pids)
