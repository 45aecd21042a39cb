"""Session fixtures: one real Apache Kafka broker and one real Redis for the whole run.

The broker is Apache Kafka (KRaft, one combined broker + controller,
`workflows.testing.apache_kafka`), started once per session; Tansu, the embedded default of
`workflows dev`, has its own smoke test (tests/e2e/test_tansu_default.py).

Redis is one redis-server, or with `WORKFLOWS_TEST_REDIS=cluster` (`make test-cluster`) a
Redis Cluster of 3 masters + 3 replicas (`workflows.testing.embedded_cluster`). Each test gets its
own topic prefix and Redis key prefix, so tests never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from workflows.services.infra.redis_client import RedisClient, connect_redis
from workflows.services.infra.settings import Settings
from workflows.testing.apache_kafka import KAFKA_VERSION, apache_kafka
from workflows.testing.embedded import redis_server
from workflows.testing.embedded_cluster import redis_cluster

ON_CLUSTER = os.environ.get("WORKFLOWS_TEST_REDIS", "single") == "cluster"


def _header() -> str:
    redis = "Redis Cluster (3 masters + 3 replicas)" if ON_CLUSTER else "one redis-server"
    return (
        f"broker: Apache Kafka {KAFKA_VERSION} (KRaft, single node, started per session); "
        f"redis: {redis}"
    )


def pytest_report_header() -> list[str]:
    return [_header()]


def pytest_sessionstart(session: pytest.Session) -> None:
    """`-q` (as `make test` runs) hides the report header: say which broker runs anyway."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and session.config.option.verbose < 0:
        reporter.write_line(_header())


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with apache_kafka() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if ON_CLUSTER:
        with redis_cluster() as cluster:
            yield cluster.url
    else:
        with redis_server() as url:
            yield url


@pytest.fixture
def settings(kafka_bootstrap: str, redis_url: str) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        topic_prefix=f"t{tag}.",
        key_prefix=f"wf{tag}",
        partitions=2,
        timer_poll_ms=10,
        auth="off",  # access control has its own tests (tests/integration/test_access_control.py)
    )


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[RedisClient]:
    client = connect_redis(settings)
    yield client
    await client.aclose()
