"""aiokafka against confluent-kafka on one Apache Kafka broker: `python -m bench.kafka_clients`.

The floor of one Kafka leg of a step hop, one record at a time (300 rounds after 30 warm-up
rounds, 300-byte values, acks=all, linger 0, a topic of one partition each):

- aiokafka produce, awaited ack;
- aiokafka produce, then consumed by an aiokafka consumer (ack awaited first, and not);
- confluent-kafka produce (delivery reports from a poll thread) -> aiokafka consumer;
- confluent-kafka produce -> confluent-kafka consumer.

Issue 15 item 5 asks whether the engine's Bus should produce with confluent-kafka; these
floors and the engine runs with a confluent-kafka Bus are in bench/NOTES.md ("Kafka client").
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import confluent_kafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from workflows.testing.apache_kafka import kafka_cluster

ROUNDS, WARMUP = 300, 30
VALUE = b"x" * 300


def _summary(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p50, p90, p99 = ms[len(ms) // 2], ms[int(len(ms) * 0.9)], ms[int(len(ms) * 0.99)]
    return f"p50 {p50:.2f} p90 {p90:.2f} p99 {p99:.2f} ms"


async def _consumer(boot: str, topic: str) -> tuple[AIOKafkaConsumer, TopicPartition]:
    consumer = AIOKafkaConsumer(bootstrap_servers=boot, enable_auto_commit=False)
    await consumer.start()
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    await consumer.seek_to_end(tp)
    await consumer.position(tp)
    return consumer, tp


async def _received(consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
    while not await consumer.getmany(tp, timeout_ms=1000, max_records=1):
        pass


async def measure(boot: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=boot)
    await admin.start()
    await admin.create_topics([NewTopic(t, 1, 1) for t in ("kc.a", "kc.b", "kc.c")])
    await admin.close()
    out: dict[str, str] = {}
    producer = AIOKafkaProducer(bootstrap_servers=boot, acks="all", linger_ms=0)
    await producer.start()
    consumer, tp = await _consumer(boot, "kc.a")
    acked, after_ack, no_wait = [], [], []
    for i in range(WARMUP + ROUNDS):
        t0 = time.perf_counter()
        await (await producer.send("kc.a", VALUE))
        t1 = time.perf_counter()
        await _received(consumer, tp)
        t2 = time.perf_counter()
        future = await producer.send("kc.a", VALUE)
        await _received(consumer, tp)
        t3 = time.perf_counter()
        await future
        if i >= WARMUP:
            acked.append(t1 - t0)
            after_ack.append(t2 - t0)
            no_wait.append(t3 - t2)
    out["aiokafka produce, ack awaited"] = _summary(acked)
    out["aiokafka produce -> aiokafka consumer (ack awaited first)"] = _summary(after_ack)
    out["aiokafka produce -> aiokafka consumer (ack not awaited)"] = _summary(no_wait)
    await consumer.stop()
    await producer.stop()

    fast = confluent_kafka.Producer(
        {"bootstrap.servers": boot, "acks": "all", "linger.ms": 0, "partitioner": "murmur2_random"}
    )
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            fast.poll(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    loop = asyncio.get_running_loop()
    consumer, tp = await _consumer(boot, "kc.b")
    mixed = []
    for i in range(WARMUP + ROUNDS):
        delivered: asyncio.Future[Any] = loop.create_future()
        t0 = time.perf_counter()
        fast.produce(
            "kc.b",
            VALUE,
            on_delivery=lambda e, m, f=delivered: loop.call_soon_threadsafe(f.set_result, e),
        )
        await _received(consumer, tp)
        if i >= WARMUP:
            mixed.append(time.perf_counter() - t0)
        await delivered
    out["confluent-kafka produce -> aiokafka consumer"] = _summary(mixed)
    stop.set()
    poller.join()
    await consumer.stop()

    native = confluent_kafka.Consumer(
        {"bootstrap.servers": boot, "group.id": "kc", "enable.auto.commit": False}
    )
    native.assign([confluent_kafka.TopicPartition("kc.c", 0, confluent_kafka.OFFSET_END)])
    native.poll(1.0)
    both = []
    for i in range(WARMUP + ROUNDS):
        t0 = time.perf_counter()
        fast.produce("kc.c", VALUE)
        fast.poll(0)
        while True:
            message = native.poll(1.0)
            if message is not None and not message.error():
                break
        if i >= WARMUP:
            both.append(time.perf_counter() - t0)
    fast.flush()
    native.close()
    out["confluent-kafka produce -> confluent-kafka consumer"] = _summary(both)
    return out


def main() -> None:
    with kafka_cluster(size=1, heap="1g") as cluster:
        for name, figure in asyncio.run(measure(cluster.bootstrap)).items():
            print(f"{name:60s} {figure}")


if __name__ == "__main__":
    main()
