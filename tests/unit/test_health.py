"""`/healthz` and `/readyz` of the metrics server: the readiness decision and the routing."""

from __future__ import annotations

import json
from typing import Any
from wsgiref.util import setup_testing_defaults

from prometheus_client import CollectorRegistry, Counter, make_wsgi_app

from workflows.services.infra.health import Readiness, readiness
from workflows.services.infra.metrics_server import health_app


def call(app: Any, path: str) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {"PATH_INFO": path}
    setup_testing_defaults(environ)
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


def test_ready_when_redis_answers_and_every_consumer_started() -> None:
    answer = readiness(True, {"orchestrator": 3, "worker": 0})
    assert answer.ok and answer.status_code == 200
    assert answer.body() == {
        "status": "ready",
        "checks": {"redis": True, "orchestrator": True, "worker": True},
        "partitions": {"orchestrator": 3, "worker": 0},
    }


def test_a_replica_without_partitions_is_still_ready() -> None:
    """More replicas than partitions: the idle ones must not stall a rollout."""
    assert readiness(True, {"dispatcher": 0}).ok


def test_not_ready_names_what_fails() -> None:
    no_redis = readiness(False, {"orchestrator": 2})
    assert no_redis.status_code == 503
    assert no_redis.body()["error"] == "not ready: redis"
    not_started = readiness(True, {"orchestrator": None, "notifier": 1})
    assert not not_started.ok
    assert not_started.body()["error"] == "not ready: orchestrator"
    assert not_started.body()["checks"] == {"redis": True, "orchestrator": False, "notifier": True}


def test_an_error_without_checks_is_not_ready() -> None:
    answer = Readiness({}, error="not ready: the event loop did not answer in 3.0s")
    assert answer.status_code == 503
    assert answer.body()["error"] == "not ready: the event loop did not answer in 3.0s"


def test_the_app_routes_probes_and_serves_metrics_elsewhere() -> None:
    registry = CollectorRegistry()
    Counter("workflows_probe_demo", "a demo counter", registry=registry).inc()
    answers = iter([readiness(True, {"worker": 1}), readiness(False, {"worker": None})])
    app = health_app(make_wsgi_app(registry), lambda: next(answers))

    status, headers, body = call(app, "/healthz")
    assert (status, json.loads(body)) == ("200 OK", {"status": "ok"})
    assert headers["Content-Type"] == "application/json"

    status, _, body = call(app, "/readyz")
    assert status == "200 OK" and json.loads(body)["status"] == "ready"
    status, _, body = call(app, "/readyz")
    assert status == "503 Service Unavailable"
    assert json.loads(body)["error"] == "not ready: redis, worker"

    status, _, body = call(app, "/metrics")
    assert status.startswith("200") and b"workflows_probe_demo_total 1.0" in body


def test_without_a_readiness_check_the_server_is_ready_once_it_serves() -> None:
    app = health_app(make_wsgi_app(CollectorRegistry()), None)
    status, _, body = call(app, "/readyz")
    assert status == "200 OK" and json.loads(body)["checks"] == {}
