"""The template catalog: every template is valid, documented, and has its example functions."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from workflows.functions import default_registry
from workflows.services.catalog import CatalogError, instantiate, load_catalog, search
from workflows.services.core.validation import compile_workflow

CATALOG = load_catalog()


def test_the_catalog_has_at_least_ten_templates() -> None:
    assert len(CATALOG) >= 10, sorted(CATALOG)


@pytest.mark.parametrize("template_id", sorted(CATALOG))
def test_each_template_is_valid_and_documented(template_id: str) -> None:
    template = CATALOG[template_id]
    assert template.title and len(template.description) > 40 and template.tags
    compiled = compile_workflow(instantiate(template))
    assert compiled.steps
    assert template.functions is not None
    importlib.import_module(template.functions)
    missing = [name for name in template.function_names() if name not in default_registry]
    builtins = {"sleep", "waitForEvent", "approval"}
    assert [m for m in missing if m not in builtins] == []
    assert template.example is not None and "input" in template.example


def test_parameters_keep_their_type_alone_and_interpolate_inside_text() -> None:
    support = CATALOG["support-escalation"]
    filled = instantiate(support, {"slaMs": 250, "workflowName": "vipSupport"})
    assert filled["name"] == "vipSupport"
    assert filled["steps"][1]["timeout"] == 250
    lead = instantiate(CATALOG["lead-routing"], {"hotScore": 90})
    assert lead["steps"][2]["condition"] == "{{score.score >= 90}}"


def test_parameters_are_validated_against_the_template_schema() -> None:
    with pytest.raises(CatalogError, match="maxAttempts"):
        instantiate(CATALOG["customer-onboarding"], {"maxAttempts": 0})


def test_search_by_text_and_tag() -> None:
    assert [t.id for t in search(CATALOG, tag="hr")] == [
        "employee-offboarding",
        "employee-onboarding",
    ]
    assert "incident-response" in [t.id for t in search(CATALOG, text="on-call")]
    assert search(CATALOG, text="no such thing") == []


def test_users_add_their_own_catalog_directories(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        "id: my-flow\ntitle: Mine\ndescription: A team's own workflow template for tests.\n"
        "tags: [custom]\ndefinition: {name: mine, steps: [{id: a, function: f}]}\n"
    )
    catalog = load_catalog([tmp_path])
    assert "my-flow" in catalog and "customer-onboarding" in catalog
    (tmp_path / "broken.yaml").write_text("id: Bad Id\n")
    with pytest.raises(CatalogError, match=r"broken\.yaml"):
        load_catalog([tmp_path])
