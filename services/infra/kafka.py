"""Kafka clients as the services use them: acks=all producer, manual-commit consumers, DLQ.

Nothing here depends on the broker being Tansu; any Kafka-protocol broker works.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import structlog
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.partitioner import murmur2
from aiokafka.structs import ConsumerRecord, TopicPartition
from pydantic import BaseModel

from workflows.contracts import ContractError, dead_letter, decode, encode
from workflows.contracts.signing import Signer
from workflows.contracts.topics import Topics
from workflows.services.infra.settings import Settings

M = TypeVar("M", bound=BaseModel)

__all__ = [
    "KEY_PARTITIONER",
    "BrokerUnavailable",
    "Bus",
    "KeyPartitioner",
    "assign_whole_topic",
    "ensure_topics",
    "fitted_dead_letter",
    "make_consumer",
    "wait_for_broker",
]

log = structlog.get_logger(__name__)
TOPIC_EXISTS = 36
# How often a client refreshes its metadata unprompted (aiokafka's default: 5 min). On several
# brokers one that has not learnt a just-created topic yet can answer a refresh without it; a
# group member that joins then is assigned none of its partitions and would wait for the next
# refresh to rejoin (seen: an orchestrator idle with `partitions_assigned []`).
METADATA_MAX_AGE_MS = 5_000


class BrokerUnavailable(ConnectionError):
    """No Kafka broker answered at `bootstrap` within `waited_s` seconds of retries."""

    def __init__(self, bootstrap: str, waited_s: float, cause: str) -> None:
        self.bootstrap = bootstrap
        self.waited_s = waited_s
        self.cause = cause
        tried = f" (retried for {waited_s:.1f} s)" if waited_s > 0.1 else ""
        super().__init__(f"no Kafka broker answers at {bootstrap}{tried}: {cause}")


async def wait_for_broker(bootstrap: str, timeout_s: float, first_delay_s: float = 0.2) -> None:
    """Return once a broker at `bootstrap` answers a metadata request; retry with a doubling
    delay (capped at 5 s), logging each wait, for up to `timeout_s`; then BrokerUnavailable.

    A service started before its broker (a host reboot, a compose file) waits instead of dying
    with the first refused connection; aiokafka's own per-attempt error logs are held back.
    """
    started = time.monotonic()
    delay = first_delay_s
    quiet = logging.getLogger("aiokafka")
    while True:
        client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=5_000)
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            await client.bootstrap()
            return
        except KafkaConnectionError:
            cause = "cannot connect"
        except (KafkaError, OSError) as exc:
            cause = str(exc).rstrip(".") or type(exc).__name__
        finally:
            quiet.setLevel(level)
            await client.close()
        waited = time.monotonic() - started
        if waited + delay > timeout_s:
            raise BrokerUnavailable(bootstrap, waited, cause)
        log.warning("waiting_for_broker", bootstrap=bootstrap, error=cause, retry_in_s=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


async def assign_whole_topic(
    consumer: AIOKafkaConsumer, topic: str
) -> tuple[list[TopicPartition], dict[TopicPartition, int]]:
    """Assign every partition of `topic` to a started consumer without a group, positioned at
    the beginning: (the partitions, their end offsets now); ([], {}) when the topic has none."""
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        # aiokafka's consumer has no public refresh: `topics()` returns a copy of the metadata
        # and leaves the consumer's own unchanged, so a topic created after it started (as on
        # Apache Kafka, where nothing is created on first use) would stay unknown
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    if not tps:
        return [], {}
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    return tps, dict(await consumer.end_offsets(tps))


async def ensure_topics(settings: Settings, names: Iterable[str]) -> None:
    """Create topics that do not exist yet (idempotent; existing ones are left as they are),
    with `min.insync.replicas` when the settings name it (else the broker's default)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        configs: dict[str, str] = {}
        if settings.min_insync_replicas is not None:
            configs["min.insync.replicas"] = str(settings.min_insync_replicas)
        wanted = [
            NewTopic(name, settings.partitions, settings.replication_factor, topic_configs=configs)
            for name in sorted(set(names))
            if name not in existing
        ]
        if wanted:
            response = await admin.create_topics(wanted)
            for topic, code, *_ in getattr(response, "topic_errors", []):
                if code not in (0, TOPIC_EXISTS):
                    raise RuntimeError(f"cannot create topic {topic}: error code {code}")
    finally:
        await admin.close()


class _LogAssignment(ConsumerRebalanceListener):  # type: ignore[misc]
    """Logs which partitions this replica owns after each rebalance (and which it gave up);
    `on_revoked` (if given) runs before the partitions go: drop caches, commit what is done."""

    def __init__(
        self, group_id: str, on_revoked: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self.group_id = group_id
        self.on_revoked = on_revoked

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        log.info("partitions_revoked", group=self.group_id, partitions=_names(revoked))
        if self.on_revoked is not None:
            await self.on_revoked()

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        log.info("partitions_assigned", group=self.group_id, partitions=_names(assigned))


def _names(partitions: Iterable[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}:{tp.partition}" for tp in partitions)


def make_consumer(
    settings: Settings,
    topics: Iterable[str],
    group_id: str,
    on_revoked: Callable[[], Awaitable[None]] | None = None,
) -> AIOKafkaConsumer:
    """A manual-commit group member; a member silent for `session_timeout_ms` (crashed, cut
    off the network) is evicted by the broker and its partitions go to the others.

    Range assignment: every topic of the group has the same partition count, so a member gets
    the same partition numbers of each topic, and all the messages of one execution (keyed by
    its id: start, results, control) go to the same replica. (Round robin over all the
    topic-partitions splits them between replicas when the count does not divide evenly.)
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        max_partition_fetch_bytes=max(settings.max_message_bytes * 2, 1_048_576),
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=max(settings.session_timeout_ms // 3, 100),
        partition_assignment_strategy=(RangePartitionAssignor,),
        metadata_max_age_ms=METADATA_MAX_AGE_MS,
    )
    names = list(topics)
    if names:
        consumer.subscribe(names, listener=_LogAssignment(group_id, on_revoked))
    return consumer


MAX_DEAD_LETTER_REASON = 4000
MAX_DEAD_LETTER_KEY = 1000


def fitted_dead_letter(limit: int, *, original: bytes, **fields: Any) -> bytes:
    """A dead letter of `original` that fits in `limit` bytes, encoded.

    The DLQ takes what the other topics take (`max_message_bytes`), and the letter carries
    the original twice (base64 and text): a record close to the limit would make a letter
    the broker refuses, failing its batch on every redelivery. The copy is cut until the
    letter fits, and its reason says so, with the original's size."""
    first = dead_letter(original=original, **fields)
    if first.execution_id is not None and len(first.execution_id) > MAX_DEAD_LETTER_KEY:
        first = first.model_copy(update={"execution_id": first.execution_id[:MAX_DEAD_LETTER_KEY]})
    letter = encode(first)
    if len(letter) <= limit:
        return letter
    full, execution_id = len(original), first.execution_id
    keep = max(min(full, limit) * 3 // 4 - 8192, 0)
    while True:
        cut = dict(fields, reason=f"{fields['reason']} (original cut: {keep} of {full} bytes)")
        letter = encode(dead_letter(original=original[:keep], execution_id=execution_id, **cut))
        if len(letter) <= limit or keep == 0:
            return letter
        keep //= 2


class KeyPartitioner:
    """aiokafka's default partitioner (murmur2 of the key, as Java's), with the hash of each
    recent key kept: every record of an execution is keyed by its id, and the pure-Python
    murmur2 was 2.4 % of a busy process's CPU (py-spy). Keyless records go to a random
    partition, as the default does. Only executions in flight send again, so the cache is
    small: at 8,192 keys it holds ~1 MiB (it was 65,536, ~9 MiB, which a 10-minute soak
    never filled: the dispatcher's RSS grew all along with it)."""

    def __init__(self, capacity: int = 8_192) -> None:
        self.capacity = capacity
        self._hashes: dict[bytes, int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self.capacity:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[hashed % len(all_partitions)]


LocalDelivery = Callable[[bytes, str | None, Sequence[tuple[str, bytes]]], None]
KEY_PARTITIONER = KeyPartitioner()  # one per process: the producers share the hashes


class Bus:
    """The producer side: publish without waiting, then `flush` the pending sends together."""

    def __init__(self, settings: Settings, service: str) -> None:
        self.settings = settings
        self.service = service
        self.topics = Topics.with_prefix(settings.topic_prefix)
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            acks="all",
            # Replicated topics fail over: a batch the killed leader had replicated but not
            # acknowledged is sent again to the new leader, a second copy in the log unless the
            # producer is idempotent. (Not asked of a single node: Tansu refuses InitProducerId.)
            enable_idempotence=settings.replication_factor > 1,
            linger_ms=0,
            partitioner=KEY_PARTITIONER,
            max_request_size=max(settings.max_message_bytes * 2, 1_048_576),
        )
        self.signer = Signer([settings.signing_key, *settings.signing_keys_previous])
        # topic -> a consumer in this process that takes each record published there at once
        # (`workflows run orchestrator dispatcher`, `workflows.services.infra.handoff`: commands
        # go to the dispatcher and results to the orchestrator in memory; the Kafka copy still
        # goes out and arrives later, and is recognized and dropped): value, key, headers
        self.local_delivery: dict[str, LocalDelivery] = {}
        self._pending: list[asyncio.Future[Any]] = []
        self.on_dead_letter: Callable[[str], None] | None = None  # metrics: source topic

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.flush()
        await self.producer.stop()

    async def publish(
        self,
        topic: str,
        value: bytes,
        key: str | None = None,
        trace: Mapping[str, str] | None = None,
    ) -> None:
        """Queue a send; it is durable once `flush()` returns. `trace`: W3C trace context
        (`traceparent`, `tracestate`) sent as record headers beside the signature."""
        headers = self.signer.headers(value)
        if trace:
            headers = [*(headers or ()), *((k, v.encode()) for k, v in trace.items())]
        future = await self.producer.send(
            topic, value, key=key.encode() if key else None, headers=headers
        )
        self._pending.append(future)
        deliver = self.local_delivery.get(topic)
        if deliver is not None:
            deliver(value, key, headers or ())

    async def flush(self) -> None:
        """Wait for every send queued so far (by any caller) to be acknowledged."""
        pending = list(self._pending)
        if pending:
            try:
                await asyncio.gather(*pending)
            finally:  # a failed send is reported once, not by every later flush
                self._pending = [f for f in self._pending if not f.done()]

    async def dead_letter(
        self, record: ConsumerRecord[Any, Any], reason: str, error_type: str
    ) -> None:
        """Send an unprocessable record to the DLQ with its reason and original bytes."""
        key = record.key.decode(errors="replace") if isinstance(record.key, bytes) else None
        if key is not None and len(key) > MAX_DEAD_LETTER_KEY:
            key = key[:MAX_DEAD_LETTER_KEY]
        if len(reason) > MAX_DEAD_LETTER_REASON:
            reason = reason[:MAX_DEAD_LETTER_REASON] + f"... ({len(reason)} characters)"
        original = record.value if isinstance(record.value, bytes) else b""
        letter = fitted_dead_letter(
            self.settings.max_message_bytes,
            source_topic=record.topic,
            original=original,
            reason=reason,
            error_type=error_type,
            service=self.service,
            partition=record.partition,
            offset=record.offset,
            key=key,
        )
        log.warning("dead_letter", topic=record.topic, offset=record.offset, reason=reason)
        if self.on_dead_letter is not None:
            self.on_dead_letter(record.topic)
        await self.publish(self.topics.dlq, letter, key)

    async def decode_or_dead_letter(
        self, record: ConsumerRecord[Any, Any], model: type[M], max_bytes: int
    ) -> M | None:
        """`record` as a `model` message; None once one that does not decode (or, with signing
        on, is not validly signed) is in the DLQ."""
        data = record.value if isinstance(record.value, bytes) else b""
        unsigned = self.signer.problem(data, record.headers)
        if unsigned is not None:
            await self.dead_letter(record, unsigned, "bad_signature")
            return None
        try:
            return decode(model, data, max_bytes=max_bytes)
        except ContractError as exc:
            await self.dead_letter(record, exc.reason, exc.code)
            return None
