"""Shared building blocks used by every Workflows service."""
