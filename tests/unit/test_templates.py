"""Tests for {{ }} templates and conditions."""

from __future__ import annotations

from typing import Any

import pytest

from workflows.services.core.expressions import (
    UNDEFINED,
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionSyntaxError,
)
from workflows.services.core.templates import (
    Template,
    TemplateError,
    compile_template,
    is_template,
    parse_condition,
    render_template,
)

CTX: dict[str, Any] = {
    "input": {"plan": "starter", "companySize": "enterprise", "seats": 3.0, "tags": ["a", "b"]},
    "accountSetup": {"customerEmail": "ada@example.com"},
    "obj": {"k": [1, None]},
}


def test_seed_condition() -> None:
    src = '{{input.plan === "enterprise" || input.companySize === "enterprise"}}'
    assert render_template(src, CTX) is True
    assert render_template(src, {"input": {"plan": "starter", "companySize": "smb"}}) is False


def test_account_manager_truthiness() -> None:
    assert render_template("{{!!assignAccountManager}}", CTX) is False
    assert render_template("{{!!assignAccountManager}}", {"assignAccountManager": {}}) is True
    assert render_template("{{assignAccountManager.email}}", CTX) is UNDEFINED


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{accountSetup.customerEmail}}", "ada@example.com"),
        ("{{ input.seats }}", 3.0),
        ("{{input.tags}}", ["a", "b"]),
        ("{{obj}}", {"k": [1, None]}),
        ("{{ input.seats > 2 }}", True),
        ("{{missing}}", UNDEFINED),
        ("{{null}}", None),
    ],
)
def test_single_expression_keeps_type(template: str, expected: Any) -> None:
    result = render_template(template, CTX)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hello {{accountSetup.customerEmail}}!", "Hello ada@example.com!"),
        ("seats={{input.seats}}", "seats=3"),
        ("{{input.tags}} / {{obj}}", '["a","b"] / {"k":[1,null]}'),
        ("[{{missing}}][{{null}}]", "[][]"),
        ("{{true}}-{{1 / 0}}", "true-Infinity"),
        (" {{input.plan}}", " starter"),
        ("{{ '}}' }}{{ {a: 1}.a }}", "}}1"),
        ("no template here }}", "no template here }}"),
    ],
)
def test_interpolation(template: str, expected: str) -> None:
    assert render_template(template, CTX) == expected


def test_structures_render_recursively() -> None:
    source = {
        "subject": "Welcome {{input.plan}}",
        "items": ["Implementation timeline", "{{input.companySize}}", 3, None],
        "manager": "{{assignAccountManager.email}}",
        "nested": {"email": "{{accountSetup.customerEmail}}", "{{literal}}": True},
    }
    template = compile_template(source)
    assert template.render(CTX) == {
        "subject": "Welcome starter",
        "items": ["Implementation timeline", "enterprise", 3, None],
        "nested": {"email": "ada@example.com", "{{literal}}": True},
    }
    assert template.references() == {
        ("input", "plan"),
        ("input", "companySize"),
        ("assignAccountManager", "email"),
        ("accountSetup", "customerEmail"),
    }
    assert source["manager"] == "{{assignAccountManager.email}}"  # input untouched


def test_lists_keep_undefined_and_render_fresh_copies() -> None:
    template = Template(["{{missing}}", {"a": 1}])
    first = template.render({})
    assert first == [UNDEFINED, {"a": 1}]
    first[1]["a"] = 2
    assert template.render({}) == [UNDEFINED, {"a": 1}]


def test_constants() -> None:
    assert render_template(5, CTX) == 5
    assert render_template(None, CTX) is None
    assert compile_template({"a": ["x"]}).is_constant
    assert not compile_template({"a": ["{{x}}"]}).is_constant
    assert is_template("a {{b}}")
    assert not is_template("plain")
    assert not is_template(3)


@pytest.mark.parametrize(
    ("template", "column", "message"),
    [
        ("{{ a + }}", 8, "unexpected end of expression"),
        ("Hi {{ a", 4, "unclosed '{{'"),
        ("ok {{a}} then {{ b = 1 }}", 20, "unexpected token '='"),
        ("{{}}", 3, "unexpected end of expression"),
        ("x {{ __import__('os') }}", 6, "names starting with '__' are refused"),
        ("{{ globals() }}", 4, "'globals' is not a helper"),
    ],
)
def test_compile_errors_report_template_columns(template: str, column: int, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        compile_template({"deep": [template]})
    assert info.value.column == column
    assert message in info.value.message
    assert info.value.source == template
    assert isinstance(info.value, ExpressionError)
    assert str(info.value).startswith(f"column {column}: ")


def test_render_errors_report_template_columns() -> None:
    source = "total: {{ input.plan - 1 }}"
    with pytest.raises(TemplateError) as info:
        compile_template(source).render(CTX)
    assert info.value.column == source.index("-") + 1 == 22
    assert "'-' needs two numbers" in info.value.message


def test_condition_in_seed_style_reports_original_column() -> None:
    source = '{{input.plan = "x"}}'
    with pytest.raises(ExpressionError) as info:
        parse_condition(source)
    assert info.value.column == source.index("=") + 1
    assert info.value.source == source


def test_condition_forms() -> None:
    assert parse_condition('{{ input.plan === "starter" }}').evaluate(CTX) is True
    assert parse_condition("  {{input.plan}}  ").evaluate(CTX) == "starter"
    assert parse_condition("input.seats > 2").evaluate(CTX) is True
    assert parse_condition("{{x}}").references() == {("x",)}
    with pytest.raises(ExpressionSyntaxError) as info:
        parse_condition("input.plan = 'x'")
    assert info.value.column == 12
    with pytest.raises(TemplateError, match="single"):
        parse_condition("{{a}} and {{b}}")


def test_condition_evaluation_error_column() -> None:
    source = "  {{ 1 - input.plan }}"
    with pytest.raises(ExpressionEvaluationError) as info:
        parse_condition(source).evaluate(CTX)
    assert info.value.column == source.index("-") + 1
    assert info.value.source == source


def test_rendered_string_size_limit() -> None:
    with pytest.raises(TemplateError, match="longer than"):
        render_template("{{s}}{{s}}", {"s": "x" * 600_000})
