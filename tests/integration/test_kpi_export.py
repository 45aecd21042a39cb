"""The KPIs the API answers are the ones /metrics exports and Prometheus (and Grafana) show.

Four executions of a one-step workflow: two complete with a score of 100, two are declined
(fail). The API says a completion rate of 50 % and a median score of 100; before, Prometheus
said 100 % (only completed executions were exported) and a median of 75 (generic buckets).
The services run as one OS process (`workflows run trigger orchestrator dispatcher`), whose
/metrics a real Prometheus scrapes; the Grafana panels' own queries are asked of it.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.prometheus import MISSING, PROMETHEUS, query, running_prometheus
from tests.support.stack import EXE, ROOT, service_env
from workflows import Workflows
from workflows.testing.embedded import free_port

pytestmark = pytest.mark.integration
WF = "kpiExport"
DEFINITION = {
    "name": WF,
    "input": {
        "type": "object",
        "properties": {"score": {"type": "number"}, "decline": {"type": "boolean"}},
    },
    "steps": [
        {
            "id": "scoring",
            "function": "scoreOrder",
            "input": {"score": "{{input.score}}", "decline": "{{input.decline}}"},
        }
    ],
    "errorHandling": {"retryStrategy": {"maxAttempts": 1}},
    "metrics": [
        {
            "name": "completionRate",
            "value": '{{execution.status === "completed" ? 100 : 0}}',
            "unit": "percent",
        },
        {"name": "score", "value": "{{scoring.score}}", "unit": "points"},
    ],
}
FUNCTIONS = ["--functions", "tests.integration.kpi_functions"]
GRAFANA = ROOT / "deploy" / "grafana" / "dashboard.json"


@pytest.fixture
def api(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = service_env(kafka_bootstrap, redis_url, f"k{uuid.uuid4().hex[:6]}")
    log = (tmp_path / "services.log").open("wb")
    proc = subprocess.Popen(
        [EXE, "run", "trigger", "orchestrator", "dispatcher", "--port", str(port), *FUNCTIONS],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        code = proc.wait(30)
        assert code in (0, -15), (tmp_path / "services.log").read_text()[-3000:]


def eventually(check: Callable[[], Any], what: str, timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s: {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def exported(text: str) -> dict[tuple[str, str], float]:
    """(series name, kpi label or "") -> value, for this workflow's KPI series."""
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("workflow") == WF and "le" not in s.labels:
                key = (s.name, s.labels.get("kpi", ""))
                found[key] = found.get(key, 0.0) + float(s.value)  # summed over status
    return found


def grafana_queries() -> dict[str, list[str]]:
    """Panel title -> its PromQL, with the dashboard's $workflow set to this workflow."""
    panels = json.loads(GRAFANA.read_text())["panels"]
    return {
        p["title"]: [t["expr"].replace("$workflow", WF) for t in p.get("targets", [])]
        for p in panels
    }


@pytest.mark.timeout(240)
def test_api_metrics_endpoint_and_prometheus_agree_on_the_kpis(api: str, tmp_path: Path) -> None:
    path = tmp_path / "kpi.yaml"
    path.write_text(yaml.safe_dump(DEFINITION, sort_keys=False))
    inputs = [
        {"score": 100, "decline": False},
        {"score": 100, "decline": False},
        {"score": 100, "decline": True},
        {"score": 100, "decline": True},
    ]
    with Workflows(api, timeout=30) as wf:
        wf.wait_ready(60)
        wf.register(str(path))
        ids = [wf.start(WF, data) for data in inputs]
        ended = sorted(wf.wait(i, timeout=60)["status"] for i in ids)
    assert ended == ["completed", "completed", "failed", "failed"]

    body = httpx.get(f"{api}/workflows/{WF}/metrics", timeout=10).json()
    assert body["completionRate"] == 0.5
    rate, score = body["kpis"]["completionRate"], body["kpis"]["score"]
    assert (rate["mean"], rate["p50"], rate["count"], rate["unit"]) == (50, 50, 4, "percent")
    assert (score["mean"], score["p50"], score["p95"], score["count"]) == (100, 100, 100, 2)

    def scraped() -> dict[tuple[str, str], float] | None:
        found = exported(httpx.get(f"{api}/metrics", timeout=10).text)
        return found if ("workflows_kpi_mean", "score") in found else None

    metrics = eventually(scraped, "the trigger exports the KPI gauges")
    assert metrics[("workflows_completion_ratio", "")] == 0.5
    assert metrics[("workflows_kpi_mean", "completionRate")] == 50
    assert metrics[("workflows_kpi_p50", "completionRate")] == 50
    assert metrics[("workflows_kpi_mean", "score")] == 100
    assert metrics[("workflows_kpi_p50", "score")] == 100
    assert metrics[("workflows_kpi_p95", "score")] == 100
    assert metrics[("workflows_kpi_executions", "completionRate")] == 4
    # the histogram counts every outcome: its mean is the API's mean, not 100 %
    histogram = (
        metrics[("workflows_kpi_value_sum", "completionRate")]
        / metrics[("workflows_kpi_value_count", "completionRate")]
    )
    assert histogram == 50

    if PROMETHEUS is None:
        pytest.skip(MISSING)
    target = api.removeprefix("http://")
    with running_prometheus({"trigger": target}, tmp_path / "prometheus") as prometheus:
        mean_score = f'max(workflows_kpi_mean{{workflow="{WF}",kpi="score",unit="points"}})'
        eventually(lambda: query(prometheus, mean_score) is not None, "Prometheus scraped")
        panels = grafana_queries()

        def panel(title: str, index: int, kpi: str | None) -> float | None:
            """The panel's query, as Grafana sends it; the value of its series for `kpi`."""
            reply = httpx.get(
                f"{prometheus}/api/v1/query", params={"query": panels[title][index]}, timeout=5
            )
            series = reply.json()["data"]["result"]
            values = {r["metric"].get("kpi"): float(r["value"][1]) for r in series}
            return values.get(kpi)

        answers = {
            "completion": panel("Completion rate (as the API answers)", 0, None),
            "mean rate": panel("KPI mean by KPI (as the API answers)", 0, "completionRate"),
            "mean score": panel("KPI mean by KPI (as the API answers)", 0, "score"),
            "p50 score": panel("KPI median and p95 by KPI (as the API answers)", 0, "score"),
            "p95 score": panel("KPI median and p95 by KPI (as the API answers)", 1, "score"),
            "histogram mean rate": query(
                prometheus,
                f'sum(workflows_kpi_value_sum{{workflow="{WF}",kpi="completionRate"}}) / '
                f'sum(workflows_kpi_value_count{{workflow="{WF}",kpi="completionRate"}})',
            ),
        }
        print("KPIs from Prometheus:", answers)
        print("KPIs from the API:", body["completionRate"], body["kpis"])
        assert answers == {
            "completion": 0.5,
            "mean rate": 50,
            "mean score": 100,
            "p50 score": 100,
            "p95 score": 100,
            "histogram mean rate": 50,
        }
