"""Serve `/metrics`, `/healthz` and `/readyz` on `http://host:port` from a background thread.

One server per process: every service of the process shares the registry it serves.
`/healthz` answers 200 while the process runs (liveness). `/readyz` asks the `readiness`
callable (`HealthProbe.check_threadsafe`: Redis and the Kafka consumers, see health.py) and
answers 200 or 503 with the checks as JSON; without one it is ready as soon as it serves.
The thread only renders the registry and waits for the readiness answer; it never runs
anything on the event loop itself.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterable
from threading import Thread
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from workflows.services.infra.health import Readiness

__all__ = ["MetricsServer"]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes and scrapes every few seconds: no access log."""


def _json(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def health_app(metrics: WsgiApp, readiness: Callable[[], Readiness] | None) -> WsgiApp:
    """Route `/healthz` and `/readyz`; everything else goes to the Prometheus app."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return _json(start_response, "200 OK", {"status": "ok"})
        if path == "/readyz":
            answer = readiness() if readiness is not None else Readiness({})
            status = "200 OK" if answer.ok else "503 Service Unavailable"
            return _json(start_response, status, answer.body())
        return metrics(environ, start_response)

    return app


class MetricsServer:
    """A started endpoint; `close()` stops it (idempotent)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        host: str,
        port: int,
        readiness: Callable[[], Readiness] | None = None,
    ) -> None:
        class Server(ThreadingWSGIServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        app = health_app(make_wsgi_app(registry), readiness)
        self._server: WSGIServer | None = make_server(
            host, port, app, Server, handler_class=_QuietHandler
        )
        self._thread = Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        assert self._server is not None, "closed"
        return int(self._server.server_address[1])

    @classmethod
    def start(
        cls,
        registry: CollectorRegistry,
        host: str,
        port: int,
        readiness: Callable[[], Readiness] | None = None,
    ) -> MetricsServer | None:
        """Serve on `host:port`; None when `port` is 0 (endpoint disabled)."""
        return cls(registry, host, port, readiness) if port else None

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None
