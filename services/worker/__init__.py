"""The Python worker: runs registered functions for commands on their function topics."""

from workflows.services.worker.service import Worker

__all__ = ["Worker"]
