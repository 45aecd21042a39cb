"""The floor under one hop: an awaited Kafka produce (acks=all) + consume, and a Redis script.

Measured on the same Apache Kafka broker and redis-server the engine uses, on a topic of its
own created for the run (a fresh prefix), one message at a time, with the consumer settings
the services use (fetch_max_wait_ms from Settings).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from redis.asyncio import Redis

from bench.hist import Histogram
from bench.ours import wait_for_leaders
from workflows.services.infra.kafka import ensure_topics
from workflows.services.infra.settings import Settings

__all__ = ["measure_floor"]

WARMUP = 20
SCRIPT = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])"


async def measure_floor(settings: Settings, rounds: int) -> dict[str, Any]:
    topic = f"{settings.topic_prefix}bench.floor"
    await ensure_topics(settings.model_copy(update={"partitions": 1}), [topic])
    await wait_for_leaders(settings, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    await producer.start()
    await consumer.start()
    produce, roundtrip = Histogram(), Histogram()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        await consumer.position(tp)
        for i in range(WARMUP + rounds):  # the first rounds warm the connections (and a JVM)
            t0 = time.perf_counter()
            await (await producer.send(topic, uuid.uuid4().bytes))
            t1 = time.perf_counter()
            while not await consumer.getmany(tp, timeout_ms=1000, max_records=1):
                pass
            if i >= WARMUP:
                produce.record_seconds(t1 - t0)
                roundtrip.record_seconds(time.perf_counter() - t0)
    finally:
        await consumer.stop()
        await producer.stop()
    redis = Redis.from_url(settings.redis_url)
    script = redis.register_script(SCRIPT)
    eval_hist = Histogram()
    try:
        for _ in range(rounds):
            t0 = time.perf_counter()
            await script(keys=["bench:floor:a", "bench:floor:b"], args=["x" * 512])
            eval_hist.record_seconds(time.perf_counter() - t0)
    finally:
        await redis.aclose()
    return {
        "rounds": rounds,
        "warmup_rounds": WARMUP,
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        "kafka_produce_acked_ms": produce.summary(),
        "kafka_produce_then_consumed_ms": roundtrip.summary(),
        "redis_script_ms": eval_hist.summary(),
    }
