"""Property tests: parsing and evaluating never fail with anything but ExpressionError."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflows.services.core.expressions import (
    UNDEFINED,
    ExpressionError,
    ExpressionLimitError,
    evaluate,
    parse,
    to_json_value,
)
from workflows.services.core.templates import TemplateError, compile_template

FUZZ = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

TOKENS = [
    "a", "b", "input", "x", "items", "__x", "constructor", "len", "lower", "max", "json",
    "true", "false", "null", "undefined", "typeof", "NaN", "0", "1", "2.5", "1e3", ".5",
    '"s"', "'t'", '"\\u0041"', '"', "'", "\\", "+", "-", "*", "/", "%", "!", "!!", "<", "<=",
    ">", ">=", "==", "===", "!=", "!==", "&&", "||", "??", "?", ":", "?.", ".", ",", "(", ")",
    "[", "]", "{", "}", "=", " ", "length", "toLowerCase", "join", "{{", "}}", "#", "é",
]  # fmt: skip

token_soup = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "x", "length", "0"]), children, max_size=4)
    ),
    max_leaves=12,
)
contexts = st.dictionaries(st.sampled_from(["a", "b", "input", "x", "items"]), json_values)


def _error_of(fn: Callable[..., Any], *args: Any) -> ExpressionError | None:
    """The ExpressionError raised by ``fn(*args)``; any other exception propagates."""
    try:
        fn(*args)
    except ExpressionError as exc:
        return exc
    return None


def is_json_like(value: Any) -> bool:
    if value is None or value is UNDEFINED or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list):
        return all(is_json_like(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json_like(v) for k, v in value.items())
    return False


@FUZZ
@given(st.text(max_size=60))
def test_parse_arbitrary_text(source: str) -> None:
    error = _error_of(parse, source)
    assert error is None or (error.column >= 0 and error.source == source)


@FUZZ
@given(token_soup, contexts)
def test_parse_and_evaluate_token_soup(source: str, context: dict[str, Any]) -> None:
    try:
        expr = parse(source)
    except ExpressionError:
        return
    error = _error_of(expr.evaluate, context)
    if error is not None:
        assert 0 <= error.column <= len(source) + 1
        return
    result = expr.evaluate(context)
    assert is_json_like(result)
    to_json_value(result)  # always serialisable


def _expression_from(depth: int) -> st.SearchStrategy[str]:
    leaf = st.sampled_from(["a", "b.x", "items[0]", "1", "2.5", '"s"', "null", "undefined", "[]"])
    if depth == 0:
        return leaf
    sub = _expression_from(depth - 1)
    binary = st.tuples(sub, st.sampled_from(["+", "-", "*", "/", "%", "===", "<", "&&", "||"]), sub)
    return (
        leaf
        | binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})")
        | sub.map(lambda s: f"!{s}")
        | st.tuples(sub, sub, sub).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})")
        | sub.map(lambda s: f"string({s})")
        | st.tuples(sub, sub).map(lambda t: f"[{t[0]}, {{k: {t[1]}}}]")
    )


@FUZZ
@given(_expression_from(3), contexts)
def test_well_formed_expressions(source: str, context: dict[str, Any]) -> None:
    expr = parse(source)  # generated sources are always syntactically valid
    try:
        result = expr.evaluate(context)
    except ExpressionError:
        return
    assert is_json_like(result)


@FUZZ
@given(st.text(max_size=40) | token_soup, contexts)
def test_templates_never_crash(text: str, context: dict[str, Any]) -> None:
    error = _error_of(lambda: compile_template({"k": [text, "{{" + text + "}}"]}).render(context))
    assert error is None or (isinstance(error, TemplateError) and error.column >= 0)


@pytest.mark.parametrize("opener", ["(", "[", "!", "-", "{a:", "a[", "typeof "])
def test_deep_nesting_is_a_limit_error(opener: str) -> None:
    with pytest.raises(ExpressionLimitError):
        parse(opener * 10000)
    with pytest.raises(ExpressionLimitError):
        parse(opener * 1000)  # within the length limit, beyond the depth limit


def test_string_repetition_hits_size_limit() -> None:
    doubled = "s + s"
    for _ in range(5):
        doubled = f"({doubled}) + ({doubled})"
    with pytest.raises(ExpressionLimitError, match="string result longer"):
        evaluate(doubled, {"s": "x" * 20_000})


def test_float_edge_values_serialise() -> None:
    assert to_json_value(evaluate("[1 / 0, 0 / 0, -1 / 0]", {})) == [None, None, None]
    assert math.isnan(evaluate("0 / 0", {}))
