"""The notifier's knobs are settings (issue 18, item 4): `WORKFLOWS_WEBHOOK_SECRET` and the
`WORKFLOWS_NOTIFY_*` variables reach it through `Settings`, like every other service's, and
its constructor takes only `settings`, `redis` and `metrics_registry`."""

from __future__ import annotations

import inspect

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from workflows.services.infra.settings import Settings
from workflows.services.notifier import Notifier


async def test_the_notifier_takes_its_knobs_from_the_environment_through_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORKFLOWS_WEBHOOK_SECRET", "s3cret")
    monkeypatch.setenv("WORKFLOWS_NOTIFY_ATTEMPTS", "7")
    monkeypatch.setenv("WORKFLOWS_NOTIFY_BACKOFF_S", "0.25")
    monkeypatch.setenv("WORKFLOWS_NOTIFY_TIMEOUT_S", "3")
    monkeypatch.setenv("WORKFLOWS_NOTIFY_MAX_PENDING", "9")
    monkeypatch.setenv("WORKFLOWS_NOTIFY_DRAIN_S", "1.5")
    notifier = Notifier(Settings(), Redis(), metrics_registry=CollectorRegistry())
    assert notifier.webhook_secret == "s3cret"
    assert (notifier._attempts, notifier._backoff_s, notifier._timeout_s) == (7, 0.25, 3.0)
    assert (notifier._max_pending, notifier._drain_s) == (9, 1.5)


def test_the_notifier_constructor_has_the_services_shape() -> None:
    params = inspect.signature(Notifier.__init__).parameters
    assert list(params) == ["self", "settings", "redis", "metrics_registry"]
    assert params["metrics_registry"].kind is inspect.Parameter.KEYWORD_ONLY
