"""Serve a registry on `http://host:port/metrics` from a background thread.

One server per process: every service of the process shares the registry it serves. The
thread only renders the registry, it never touches the event loop.
"""

from __future__ import annotations

from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

__all__ = ["MetricsServer"]


class MetricsServer:
    """A started metrics endpoint; `close()` stops it (idempotent)."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        server, thread = start_http_server(port, host, registry)
        self._server: WSGIServer | None = server
        self._thread: Thread = thread

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        assert self._server is not None, "closed"
        return int(self._server.server_address[1])

    @classmethod
    def start(cls, registry: CollectorRegistry, host: str, port: int) -> MetricsServer | None:
        """Serve `registry` on `host:port`; None when `port` is 0 (metrics endpoint disabled)."""
        return cls(registry, host, port) if port else None

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None
