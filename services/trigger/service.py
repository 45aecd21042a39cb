"""Run the HTTP API with uvicorn; the owner (the CLI) handles signals and calls `stop()`."""

from __future__ import annotations

import contextlib
from collections.abc import Generator

import uvicorn
from prometheus_client import CollectorRegistry

from workflows.services.infra.settings import Settings
from workflows.services.trigger.app import create_app

__all__ = ["TriggerService"]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Leave signal handling to whoever runs the service."""
        yield


class TriggerService:
    """Serves `create_app(settings)` on `settings.http_host:http_port` until `stop()`."""

    def __init__(
        self, settings: Settings, *, metrics_registry: CollectorRegistry | None = None
    ) -> None:
        self.settings = settings
        self.app = create_app(settings, metrics_registry=metrics_registry)
        config = uvicorn.Config(
            self.app,
            host=settings.http_host,
            port=settings.http_port,
            lifespan="on",
            log_level="warning",
            access_log=False,
        )
        self.server = _Server(config)
        self._stopping = False

    @property
    def started(self) -> bool:
        return self.server.started

    @property
    def port(self) -> int | None:
        """The bound port once started (useful with http_port=0)."""
        for server in self.server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return None

    async def run(self) -> None:
        """Serve until `stop()`; raises if startup (Redis, Kafka) fails."""
        await self.server.serve()
        if not self.server.started and not self._stopping:
            raise RuntimeError("the trigger service failed to start (see the log)")

    def stop(self) -> None:
        """Ask the server to finish; safe to call more than once or before `run()`."""
        self._stopping = True
        self.server.should_exit = True
