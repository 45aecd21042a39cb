"""Unit tests for the expression language: API, helpers, errors, limits, references."""

from __future__ import annotations

import copy
import math
import pickle
from typing import Any

import pytest

import workflows.services.core.expressions as expressions
from workflows.services.core.expressions import (
    HELPERS,
    UNDEFINED,
    Expression,
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionLimitError,
    ExpressionSyntaxError,
    Limits,
    evaluate,
    parse,
    references,
    to_js_string,
    to_json_value,
    truthy,
)


def test_public_api_is_sorted_and_complete() -> None:
    def isort_key(name: str) -> tuple[int, str]:  # the order ruff's RUF022 enforces
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert expressions.__all__ == sorted(expressions.__all__, key=isort_key)
    for name in expressions.__all__:
        assert hasattr(expressions, name)


def test_parse_once_evaluate_many() -> None:
    expr = parse("input.plan === 'enterprise'")
    assert isinstance(expr, Expression)
    assert expr.evaluate({"input": {"plan": "enterprise"}}) is True
    assert expr.evaluate({"input": {"plan": "starter"}}) is False
    assert expr.evaluate({}) is False
    assert repr(expr) == "Expression(\"input.plan === 'enterprise'\")"


def test_seed_examples() -> None:
    ctx = {"input": {"plan": "starter", "companySize": "enterprise"}}
    src = 'input.plan === "enterprise" || input.companySize === "enterprise"'
    assert evaluate(src, ctx) is True
    assert evaluate("!!assignAccountManager", ctx) is False
    assert evaluate("!!assignAccountManager", {"assignAccountManager": {}}) is True
    assert evaluate("assignAccountManager.email", ctx) is UNDEFINED


def test_undefined_sentinel() -> None:
    assert repr(UNDEFINED) == "undefined"
    assert not UNDEFINED
    assert copy.deepcopy(UNDEFINED) is UNDEFINED
    assert pickle.loads(pickle.dumps(UNDEFINED)) is UNDEFINED
    assert type(UNDEFINED)() is UNDEFINED


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", False), ("0", True), (0, False), (0.0, False), (math.nan, False), (None, False),
     (UNDEFINED, False), (False, False), (True, True), ([], True), ({}, True), (-1, True)],
)  # fmt: skip
def test_truthy(value: Any, expected: bool) -> None:
    assert truthy(value) is expected


def test_to_js_string_and_json_value() -> None:
    assert to_js_string(3.0) == "3"
    assert to_js_string(None) == "null"
    assert to_js_string(UNDEFINED) == "undefined"
    assert to_js_string([1, None, [2]]) == "1,,2"
    assert to_json_value(UNDEFINED) is None
    assert to_json_value({"a": UNDEFINED, "b": [UNDEFINED, 2.0, math.inf]}) == {
        "b": [None, 2, None]
    }


HELPER_CASES: list[tuple[str, Any]] = [
    ('len("héllo")', 5),
    ("len([1, 2])", 2),
    ("len({a: 1})", 1),
    ("len(missing)", 0),
    ('lower("AbC")', "abc"),
    ('upper("abc")', "ABC"),
    ('trim("  x ")', "x"),
    ("lower(missing)", UNDEFINED),
    ('contains("hello", "ell")', True),
    ("contains([1, 2], 2)", True),
    ('contains({a: 1}, "a")', True),
    ("contains(missing, 1)", False),
    ('startsWith("hello", "he")', True),
    ('endsWith("hello", "x")', False),
    ("keys({a: 1, b: 2})", ["a", "b"]),
    ("keys([5, 6])", ["0", "1"]),
    ("round(2.5)", 3),
    ("round(-2.5)", -2),
    ("round(0.49999999999999994)", 0),
    ("floor(-1.5)", -2),
    ("ceil(1.2)", 2),
    ("abs(-3)", 3),
    ("min(3, 1, 2)", 1),
    ("max([3, 1, 2])", 3),
    ("max()", -math.inf),
    ("string(3.0)", "3"),
    ("string(null)", "null"),
    ('number(" 42 ")', 42),
    ('number("1.5e3")', 1500),
    ('number("")', 0),
    ("number(true)", 1),
    ("number([7])", 7),
    ('json({a: [1, undefined], b: undefined, c: "x"})', '{"a":[1,null],"c":"x"}'),
    ("json(undefined)", UNDEFINED),
    ("coalesce(missing, null, 0, 5)", 0),
    ("coalesce()", UNDEFINED),
    ('default(missing, "d")', "d"),
    ('default("", "d")', ""),
    ('join(["a", "b"], "+")', "a+b"),
]


@pytest.mark.parametrize(("source", "expected"), HELPER_CASES)
def test_helpers(source: str, expected: Any) -> None:
    assert evaluate(source, {}) == expected


def test_number_helper_nan() -> None:
    for src in (
        'number("abc")',
        "number(undefined)",
        "number({})",
        'number("0x1_f")',
        'number("+-1")',
    ):
        assert math.isnan(evaluate(src, {}))


def test_helpers_listed() -> None:
    assert list(HELPERS) == sorted(HELPERS)
    assert "now" not in HELPERS
    assert {"len", "lower", "coalesce", "default", "json"} <= set(HELPERS)


@pytest.mark.parametrize(
    ("source", "column", "fragment"),
    [
        ('constructor.constructor("return 1")()', 13, "member 'constructor' is not allowed"),
        ('__import__("os")', 1, "names starting with '__' are refused"),
        ("x.__class__", 3, "member '__class__' is not allowed"),
        ("a.__proto__", 3, "member '__proto__' is not allowed"),
        ('a["__proto__"]', 3, "not allowed"),
        ("a.prototype", 3, "not allowed"),
        ("globals()", 1, "calls are limited to the helpers: abs, all, any, ceil"),
        ('eval("1")', 1, "'eval' is not a helper"),
        ("(lower)('A')", 8, "calls are limited"),
        ("a.b()", 4, "calls are limited"),
        ("a?.()", 2, "optional calls"),
        ("new Date()", 1, "not supported"),
        ("{__proto__: 1}", 2, "not allowed"),
        ('lower("a", "b")', 1, "lower() takes 1 argument, got 2"),
    ],
)
def test_refused_inputs(source: str, column: int, fragment: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse(source)
    assert fragment in info.value.message
    assert info.value.column == column
    assert info.value.source == source


def test_dynamic_forbidden_key_refused_at_runtime() -> None:
    with pytest.raises(ExpressionEvaluationError, match="not allowed") as info:
        evaluate("a[k]", {"a": {}, "k": "__class__"})
    assert info.value.column == 3


@pytest.mark.parametrize(
    ("source", "column", "message"),
    [
        ('input.plan = "x"', 12, "unexpected token '='"),
        ("1 +", 4, "unexpected end of expression"),
        ("(1 + 2", 7, "expected ')' but the expression ended"),
        ("a ? b", 6, "expected ':'"),
        ("'abc", 1, "unterminated string"),
        ("1 # 2", 3, "unexpected character '#'"),
        ("a || b ?? c", 8, "cannot mix '??'"),
        ("1e", 1, "invalid number exponent"),
        ("12abc", 1, "invalid number"),
        ('"\\u12"', 2, "invalid \\u escape"),
        ("[1,,2]", 4, "unexpected token ','"),
        ("a.", 2, "expected a property name"),
    ],
)
def test_syntax_errors_have_columns(source: str, column: int, message: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse(source)
    assert message in info.value.message
    assert info.value.column == column
    assert str(info.value) == f"column {column}: {info.value.message}"


def test_evaluation_error_points_at_operator() -> None:
    with pytest.raises(ExpressionEvaluationError) as info:
        evaluate('1 + 2 * "x"', {})
    assert info.value.column == 7
    assert "'*' needs two numbers, got number and string" in str(info.value)


def test_method_on_wrong_type() -> None:
    with pytest.raises(
        ExpressionEvaluationError, match=r"toLowerCase\(\) is not a method of number"
    ):
        evaluate("n.toLowerCase()", {"n": 5})


def test_helper_type_error() -> None:
    with pytest.raises(ExpressionEvaluationError, match=r"round\(\) needs a number") as info:
        evaluate('1 + round("x")', {})
    assert info.value.column == 5


def test_error_hierarchy_and_pickle() -> None:
    for cls in (ExpressionSyntaxError, ExpressionEvaluationError, ExpressionLimitError):
        assert issubclass(cls, ExpressionError)
    err = ExpressionSyntaxError("boom", 3, "abc")
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), again.message, again.column, again.source) == (
        ExpressionSyntaxError, "boom", 3, "abc",
    )  # fmt: skip


def test_limits() -> None:
    with pytest.raises(ExpressionLimitError, match="longer than 4096"):
        parse("1" * 5000)
    with pytest.raises(ExpressionLimitError, match="nested deeper than 64"):
        parse("(" * 100 + "1" + ")" * 100)
    with pytest.raises(ExpressionLimitError):
        parse("!" * 100 + "1")
    with pytest.raises(ExpressionLimitError):
        parse("1" + "+1" * 100)
    parse("(" * 60 + "1" + ")" * 60)  # within the limit
    with pytest.raises(ExpressionLimitError, match="string result longer"):
        evaluate("s + s", {"s": "x" * 600_000})
    with pytest.raises(ExpressionLimitError, match="array result longer"):
        parse("[1, 2, 3]", limits=Limits(max_array_items=2)).evaluate({})
    with pytest.raises(ExpressionLimitError, match="more than 5 steps"):
        parse("1 + 2 + 3 + 4", limits=Limits(max_steps=5)).evaluate({})


def test_deeply_nested_context_value_is_a_limit_error() -> None:
    value: Any = 1
    for _ in range(5000):
        value = [value]
    with pytest.raises(ExpressionLimitError):
        evaluate("json(v)", {"v": value})


def test_references() -> None:
    assert references("input.plan") == {("input", "plan")}
    assert references("assignAccountManager.email") == {("assignAccountManager", "email")}
    src = 'a.b[0]["c"] || lower(q.r) || x[y.z] || s.trim() || {k: t} || 1 + u ? v : w'
    assert references(src) == {
        ("a", "b", "0", "c"), ("q", "r"), ("x",), ("y", "z"), ("s",), ("t",), ("u",),
        ("v",), ("w",),
    }  # fmt: skip
    assert references(parse("true || undefined || 'x'")) == set()
    expr = parse("a.b")
    expr.references().add(("mutated",))
    assert expr.references() == {("a", "b")}


def test_optional_ternary_lexing() -> None:
    assert evaluate("a?.5:1", {"a": True}) == 0.5


def test_object_shorthand_and_numeric_keys() -> None:
    assert evaluate("{a, 1: 2, 1.5: 3}", {"a": 1}) == {"a": 1, "1": 2, "1.5": 3}
    assert evaluate("o[1]", {"o": {"1": "one"}}) == "one"


def test_non_dict_mapping_context() -> None:
    from types import MappingProxyType

    ctx = MappingProxyType({"a": MappingProxyType({"b": 2})})
    assert evaluate("a.b + 1", ctx) == 3
