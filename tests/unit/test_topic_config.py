"""`ensure_topics` passes `min.insync.replicas` as a topic config when the settings name one
(WORKFLOWS_MIN_INSYNC_REPLICAS), and leaves the broker's default otherwise; the clients are
made for failover (idempotent producer on replicated topics, metadata refreshed every few
seconds). No broker: the Kafka clients are replaced by recorders."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.admin import NewTopic

from workflows.services.infra import kafka
from workflows.services.infra.settings import Settings


class _Admin:
    created: list[NewTopic]

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        _Admin.created = []

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def list_topics(self) -> list[str]:
        return ["there.already"]

    async def create_topics(self, topics: list[NewTopic]) -> Any:
        _Admin.created = list(topics)
        return SimpleNamespace(topic_errors=[(t.name, 0, None) for t in topics])


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> type[_Admin]:
    monkeypatch.setattr(kafka, "AIOKafkaAdminClient", _Admin)
    return _Admin


async def test_min_insync_replicas_is_a_topic_config(admin: type[_Admin]) -> None:
    settings = Settings(partitions=4, replication_factor=3, min_insync_replicas=2)
    await kafka.ensure_topics(settings, ["b", "a", "there.already", "a"])
    assert [t.name for t in admin.created] == ["a", "b"]
    for topic in admin.created:
        assert (topic.num_partitions, topic.replication_factor) == (4, 3)
        assert topic.topic_configs == {"min.insync.replicas": "2"}


async def test_no_setting_leaves_the_broker_default(admin: type[_Admin]) -> None:
    await kafka.ensure_topics(Settings(replication_factor=3), ["a"])
    assert [t.topic_configs for t in admin.created] == [{}]


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().min_insync_replicas is None
    monkeypatch.setenv("WORKFLOWS_MIN_INSYNC_REPLICAS", "2")
    assert Settings().min_insync_replicas == 2


class _Recorder:
    made: list[dict[str, Any]] = []

    def __init__(self, **kwargs: Any) -> None:
        _Recorder.made.append(kwargs)

    def subscribe(self, *args: Any, **kwargs: Any) -> None:
        pass


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    _Recorder.made = []
    monkeypatch.setattr(kafka, "AIOKafkaProducer", _Recorder)
    monkeypatch.setattr(kafka, "AIOKafkaConsumer", _Recorder)
    return _Recorder.made


def test_the_producer_is_idempotent_on_replicated_topics_only(
    clients: list[dict[str, Any]],
) -> None:
    """A retry to a new leader must not write a second copy; a single node (Tansu, the
    embedded default) refuses InitProducerId, so it is not asked there."""
    kafka.Bus(Settings(replication_factor=3), "t")
    kafka.Bus(Settings(), "t")
    assert [(c["acks"], c["enable_idempotence"]) for c in clients] == [
        ("all", True),
        ("all", False),
    ]


def test_consumers_refresh_their_metadata_every_few_seconds(
    clients: list[dict[str, Any]],
) -> None:
    """A member assigned nothing because a broker answered without its just-created topics
    rejoins at the next refresh: seconds, not aiokafka's default five minutes."""
    kafka.make_consumer(Settings(), ["a"], "g")
    assert clients[0]["metadata_max_age_ms"] <= 10_000
