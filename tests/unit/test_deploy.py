"""deploy/ only queries metrics the services export, and Prometheus accepts its files."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from tests.support.prometheus import MISSING, PROMTOOL
from workflows.services.infra.metrics import EngineMetrics
from workflows.services.infra.settings import Settings
from workflows.services.trigger.app import create_app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NAME = re.compile(r"\bworkflows_[a-z_]+\b")
SELECTOR = re.compile(r"\b(workflows_[a-z_]+)\{([^}]*)\}")
MATCHER = re.compile(r"([a-z_]+)\s*(?:=~|!~|!=|=)")
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1h", "$workflow": ".*"}


def exported() -> dict[str, set[str]]:
    """Every series name the services export -> the label names it carries."""
    registry = CollectorRegistry()
    engine = EngineMetrics.of(registry)
    ctx = create_app(Settings(), metrics_registry=registry).state.ctx
    collectors = [*vars(engine).values(), ctx.requests, ctx.latency]
    names: dict[str, set[str]] = {}
    for metric in collectors:
        if not isinstance(metric, MetricWrapperBase):
            continue
        labels = {*metric._labelnames, "job", "instance"}
        suffixes = {
            "counter": ["_total"],
            "gauge": [""],
            "histogram": ["_bucket", "_sum", "_count"],
        }
        for suffix in suffixes[metric._type]:
            names[metric._name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return names


def _strings(node: Any, keys: tuple[str, ...]) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in keys and isinstance(value, str):
                yield value
            else:
                yield from _strings(value, keys)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, keys)


def dashboard_queries() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboard.json").read_text())
    return list(_strings(dashboard, ("expr", "query", "definition")))


def alert_queries() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


@pytest.mark.parametrize("source", [dashboard_queries, alert_queries])
def test_every_queried_metric_and_label_is_one_the_services_export(source: Any) -> None:
    names = exported()
    queries = source()
    used = {name for query in queries for name in NAME.findall(query)}
    assert used, "no workflows_ metric found in the queries"
    assert used <= names.keys(), f"not exported: {sorted(used - names.keys())}"
    for query in queries:
        for metric, matchers in SELECTOR.findall(query):
            unknown = set(MATCHER.findall(matchers)) - names[metric]
            assert not unknown, f"{metric} has no label {unknown}: {query}"


def test_the_dashboard_shows_executions_failures_latency_retries_lag_and_kpis() -> None:
    text = "\n".join(dashboard_queries())
    for needle in (
        "workflows_executions_finished_total",
        'status=~"failed|timed_out',
        "histogram_quantile(0.99, sum by (le) (rate(workflows_execution_duration_seconds_bucket",
        "workflows_step_duration_seconds_bucket",
        "workflows_step_retries_total",
        "workflows_consumer_lag_messages",
        "workflows_kpi_value",
    ):
        assert needle in text


def test_prometheus_scrapes_every_service_of_the_compose_file() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert set(targets) == {"trigger", "orchestrator", "dispatcher", "worker", "notifier"}
    for service, target in targets.items():
        host, port = target.split(":")
        assert host == service and service in compose
        command = compose[service]["command"]
        environment = compose[service].get("environment") or compose["orchestrator"]["environment"]
        # the metrics port, never the trigger's API port (there /metrics needs an API key)
        assert port == environment["WORKFLOWS_METRICS_PORT"], service
        assert command[:2] == ["run", service]
    for needed in ("kafka", "redis", "prometheus", "grafana"):
        assert needed in compose


@pytest.mark.skipif(PROMTOOL is None, reason=MISSING)
def test_promtool_accepts_the_rules_the_config_and_every_dashboard_query(tmp_path: Path) -> None:
    assert PROMTOOL is not None
    for args in (["check", "rules", "alerts.yml"], ["check", "config", "prometheus.yml"]):
        checked = subprocess.run(
            [PROMTOOL, *args], cwd=DEPLOY, capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    # promtool parses rule expressions: one recording rule per dashboard query checks them all.
    rules = []
    for i, query in enumerate(dashboard_queries()):
        for variable, value in GRAFANA_VARIABLES.items():
            query = query.replace(variable, value)
        if not query.startswith("label_values("):
            rules.append({"record": f"dashboard:query_{i}", "expr": query})
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
