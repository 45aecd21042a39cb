"""Shared I/O wiring for the services: settings, Kafka clients, the Redis state store."""
