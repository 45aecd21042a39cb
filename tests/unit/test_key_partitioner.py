"""The cached key partitioner picks the partition aiokafka's default (Java's murmur2) picks."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from workflows.services.infra.kafka import KeyPartitioner


@given(st.lists(st.binary(min_size=0, max_size=64), min_size=1, max_size=50), st.integers(1, 64))
def test_same_partition_as_the_default(keys: list[bytes], count: int) -> None:
    cached, default = KeyPartitioner(capacity=8), DefaultPartitioner()
    partitions = list(range(count))
    for key in keys + keys:  # the second pass reads the kept hashes (and the cleared ones)
        assert cached(key, partitions, partitions) == default(key, partitions, partitions)


def test_known_vectors_and_a_bounded_cache() -> None:
    cached = KeyPartitioner(capacity=2)
    # Kafka's own vectors: murmur2("21") = -973932308, murmur2("foobar") = -790332482
    assert cached(b"21", list(range(1000)), []) == (-973932308 & 0x7FFFFFFF) % 1000
    assert cached(b"foobar", list(range(7)), []) == (-790332482 & 0x7FFFFFFF) % 7
    cached(b"third", [0], [])
    assert len(cached._hashes) <= 2


def test_a_keyless_record_goes_to_an_available_partition() -> None:
    cached = KeyPartitioner()
    assert cached(None, [0, 1, 2], [2]) == 2
    assert cached(None, [0, 1], []) in (0, 1)
