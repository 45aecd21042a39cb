"""The Python form of a definition is public and faithful (issue 21 item 11): the classes come
from `workflows`, and examples/customer_onboarding.py registers as the very version its YAML
twin does, whichever comes first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, Field
from redis.asyncio import Redis

import workflows
import workflows.services.core.definition as core
from examples.customer_onboarding import customerOnboardingWorkflow
from tests.support.api import app_client
from workflows import WorkflowDefinition, model_schema
from workflows.client import _register_call
from workflows.services.infra.settings import Settings

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).parents[2] / "examples"
YAML = EXAMPLES / "customer_onboarding.yaml"


@pytest.fixture
async def api(settings: Settings, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, redis) as client:
        yield client


async def _register(api: httpx.AsyncClient, definition: Any) -> dict[str, Any]:
    """Register as the SDK and `workflows register` do."""
    call = _register_call(definition)
    response = await api.post(call.path, json=call.json, content=call.content, headers=call.headers)
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_definition_classes_are_exported_from_workflows() -> None:
    for name in core.__all__:
        assert name in workflows.__all__, name
        assert getattr(workflows, name) is getattr(core, name)
    source = (EXAMPLES / "customer_onboarding.py").read_text()
    assert "from workflows import" in source and "workflows.services.core" not in source


async def test_yaml_then_python_is_the_same_version(api: httpx.AsyncClient) -> None:
    first = await _register(api, str(YAML))
    assert first == {
        "name": "customerOnboardingWorkflow",
        "version": 1,
        "created": True,
        "migrations": [],  # a first version moves no execution in flight
    }
    assert await _register(api, customerOnboardingWorkflow) == {**first, "created": False}
    assert await _register(api, str(EXAMPLES / "customer_onboarding.py")) == {
        **first,
        "created": False,
    }


async def test_python_then_yaml_is_the_same_version(api: httpx.AsyncClient) -> None:
    first = await _register(api, customerOnboardingWorkflow)
    assert first["created"] is True
    assert await _register(api, str(YAML)) == {**first, "created": False}
    stored = (await api.get("/workflows/customerOnboardingWorkflow")).json()["definition"]
    assert "title" not in stored["input"]
    assert stored["output"]["properties"]["accountManager"] == {"type": "string"}


def test_model_schema_is_written_as_yaml_would() -> None:
    class Item(BaseModel):
        sku: str

    class Order(BaseModel):
        title: str = Field(description="a property named title stays")
        note: str | None = None  # optional: a string when present
        maybe: int | None  # required, and null is allowed
        items: list[Item]

    schema = model_schema(Order)
    assert schema == {
        "type": "object",
        "properties": {
            "title": {"type": "string", "description": "a property named title stays"},
            "note": {"type": "string"},
            "maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
        },
        "required": ["title", "maybe", "items"],
        "$defs": {
            "Item": {
                "type": "object",
                "properties": {"sku": {"type": "string"}},
                "required": ["sku"],
            }
        },
    }
    wire = WorkflowDefinition(name="w", input=Order, steps=()).to_wire()
    assert wire["input"] == schema
