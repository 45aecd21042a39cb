"""The editor's API: validate (the same code and messages as `workflows validate`), simulate,
source, diff and template drafts, against the real app (Redis + broker where it stores)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.api import app_client
from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.settings import Settings
from workflows.services.trigger import create_app

pytestmark = pytest.mark.integration

EXE = str(Path(sys.executable).parent / "workflows")
BROKEN = """\
name: brokenDemo
input:
  type: object
  properties:
    amount: {type: number}
steps:
  - id: a
    function: f
    input: {x: '{{input.amont}}'}
  - id: b
    function: g
    condition: '{{input.amount = 10}}'
    input: {y: 'total {{a.total +}}'}
  - id: c
    function: h
    input: {z: '{{later.value}}'}
"""
GOOD = """\
name: authoringDemo
description: first
input:
  type: object
  properties:
    plan: {enum: [starter, enterprise]}
  required: [plan]
steps:
  - id: account
    function: setupAccount
    input: {plan: '{{input.plan}}'}
  - id: manager
    function: assignManager
    condition: '{{input.plan === "enterprise"}}'
    input: {account: '{{account.id}}'}
errorHandling:
  retryStrategy: {maxAttempts: 2, backoff: {initialDelay: 100, multiplier: 2}}
  fallbackSteps: {manager: notifySales}
"""


@pytest.fixture
async def offline() -> AsyncIterator[httpx.AsyncClient]:
    """The app without its lifespan: validate and simulate touch neither Redis nor Kafka."""
    settings = Settings(
        kafka_bootstrap="127.0.0.1:1", redis_url="redis://127.0.0.1:1/0", auth="off"
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def api(settings: Settings, redis: RedisClient) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, redis) as http:
        yield http


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
async def test_the_editor_and_workflows_validate_print_the_same_messages(
    offline: httpx.AsyncClient, tmp_path: Path, suffix: str
) -> None:
    text = BROKEN if suffix == ".yaml" else json.dumps(yaml.safe_load(BROKEN), indent=2)
    path = tmp_path / f"broken{suffix}"
    path.write_text(text)
    cli = await asyncio.to_thread(
        subprocess.run, [EXE, "validate", str(path)], capture_output=True, text=True, check=False
    )
    assert cli.returncode == 1, cli.stderr

    response = await offline.post(
        "/workflows/validate", json={"text": text, "format": suffix.lstrip(".")}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False and "graph" not in body
    assert cli.stdout.splitlines() == [f"{path}: {issue['text']}" for issue in body["issues"]]
    assert len(body["issues"]) == 4  # every problem at once, each with its line
    condition = next(i for i in body["issues"] if i["path"] == "steps[1].condition")
    assert condition["message"] == "unexpected token '='"
    assert (
        condition["line"]
        == text.splitlines().index(
            next(line for line in text.splitlines() if "amount = 10" in line)
        )
        + 1
    )
    assert text[condition["offset"]] == "="


async def test_a_valid_definition_comes_back_with_its_graph_and_wire_form(
    offline: httpx.AsyncClient,
) -> None:
    body = (await offline.post("/workflows/validate", json={"text": GOOD})).json()
    assert body["ok"] is True and body["issues"] == []
    assert (body["name"], body["steps"]) == ("authoringDemo", 2)
    assert body["definition"]["steps"][1]["condition"] == '{{input.plan === "enterprise"}}'
    nodes = {n["id"]: n for n in body["graph"]["nodes"]}
    assert nodes["manager"]["fallback"] == "notifySales" and nodes["manager"]["line"] == 12
    assert body["graph"]["edges"] == [
        {"from": "account", "to": "manager", "kinds": ["data", "order"]}
    ]


async def test_simulate_reports_the_path_taken(offline: httpx.AsyncClient) -> None:
    starter = await offline.post(
        "/workflows/simulate", json={"text": GOOD, "input": {"plan": "starter"}}
    )
    assert starter.status_code == 200, starter.text
    outcomes = {s["id"]: s["outcome"] for s in starter.json()["steps"]}
    assert outcomes == {"account": "ran", "manager": "skipped"}
    assert starter.json()["status"] == "completed"

    failing = await offline.post(
        "/workflows/simulate",
        json={
            "text": GOOD,
            "input": {"plan": "enterprise"},
            "mocks": {"account": {"id": "acc-1"}, "notifySales": {"sent": True}},
            "fail": ["manager"],
        },
    )
    body = failing.json()
    assert {s["id"]: s["outcome"] for s in body["steps"]} == {
        "account": "ran",
        "manager": "fallback",
    }
    assert body["output"] == {"sent": True}
    assert any("retry   manager attempt 1 failed" in line for line in body["lines"])


async def test_simulate_refuses_broken_text_bad_input_and_unknown_steps(
    offline: httpx.AsyncClient,
) -> None:
    broken = await offline.post("/workflows/simulate", json={"text": BROKEN})
    assert broken.status_code == 422 and len(broken.json()["issues"]) == 4
    bad_input = await offline.post("/workflows/simulate", json={"text": GOOD, "input": {"plan": 1}})
    assert bad_input.status_code == 422
    assert bad_input.json()["issues"][0]["path"] == "plan"
    unknown = await offline.post(
        "/workflows/simulate", json={"text": GOOD, "input": {"plan": "starter"}, "fail": ["nope"]}
    )
    assert unknown.status_code == 422 and "nope" in unknown.json()["error"]


async def test_versions_source_and_diff(api: httpx.AsyncClient) -> None:
    yaml_type = {"content-type": "application/yaml"}
    assert (await api.post("/workflows", content=GOOD, headers=yaml_type)).status_code == 201
    second = GOOD.replace("description: first", "description: second")
    assert (await api.post("/workflows", content=second, headers=yaml_type)).json()["version"] == 2

    source = (await api.get("/workflows/authoringDemo/source?version=1")).json()
    assert source["version"] == 1 and source["format"] == "yaml"
    assert source["text"].startswith("name: authoringDemo\ndescription: first\n")
    again = (await api.post("/workflows/validate", json={"text": source["text"]})).json()
    original = (await api.post("/workflows/validate", json={"text": GOOD})).json()
    assert again["ok"] and again["definition"] == original["definition"]
    as_json = (await api.get("/workflows/authoringDemo/source?format=json")).json()
    assert json.loads(as_json["text"])["description"] == "second" and as_json["version"] == 2

    diff = (await api.get("/workflows/authoringDemo/diff?from=1&to=2")).json()
    changed = [row for row in diff["rows"] if row["kind"] != "same"]
    assert diff["changed"] == 1 and changed[0]["kind"] == "changed"
    assert changed[0]["left"] == {"line": 2, "text": "description: first"}
    assert changed[0]["right"] == {"line": 2, "text": "description: second"}

    missing = await api.get("/workflows/authoringDemo/diff?from=1&to=9")
    assert missing.status_code == 404 and "latest is 2" in missing.json()["error"]
    assert (await api.get("/workflows/nobody/source")).status_code == 404


async def test_a_template_draft_is_filled_in_but_not_registered(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/templates/invoice-approval/draft",
        json={"parameters": {"workflowName": "draftedInvoices", "approvalThreshold": 5000}},
    )
    assert response.status_code == 200, response.text
    text = response.json()["text"]
    assert text.startswith("name: draftedInvoices\n") and ">= 5000}}" in text
    assert (await api.post("/workflows/validate", json={"text": text})).json()["ok"] is True
    assert (await api.get("/workflows/draftedInvoices")).status_code == 404
    bad = await api.post(
        "/templates/invoice-approval/draft", json={"parameters": {"approvalThreshold": -1}}
    )
    assert bad.status_code == 422 and "approvalThreshold" in bad.json()["error"]
    assert (await api.post("/templates/nope/draft", json={})).status_code == 404


async def test_the_readme_validate_example_answers_as_documented(
    offline: httpx.AsyncClient,
) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("### Authoring in the dashboard", 1)[1]
    sent = section.split("curl -s localhost:8000/workflows/validate", 1)[1].split("-d '", 1)[1]
    body = json.loads(sent.split("'\n", 1)[0])
    shown = sent.split("'\n", 1)[1].split("\ncurl", 1)[0]
    documented = json.loads("".join(line.lstrip("# ") for line in shown.splitlines()))
    assert (await offline.post("/workflows/validate", json=body)).json() == documented


async def test_with_access_control_on_the_checks_need_a_key() -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:1", redis_url="redis://127.0.0.1:1/0", auth="on")
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for path in ("/workflows/validate", "/workflows/simulate"):
            response = await http.post(path, json={"text": GOOD})
            assert response.status_code == 401, (path, response.text)
