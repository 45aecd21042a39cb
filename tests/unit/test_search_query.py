"""The search query language: parsing, errors naming their column, matching rows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows.services.core.search_attributes import (
    BUILTIN_COLUMNS,
    SearchAttribute,
    attribute_value,
)
from workflows.services.core.search_query import QueryError, parse_query, query_matches

COLUMNS = {**BUILTIN_COLUMNS, "customerId": "keyword", "amount": "number", "dueAt": "time"}


def test_the_issue_example_parses() -> None:
    query = parse_query("customerId = 'cust_12345' AND status = 'failed'", COLUMNS)
    assert [(p.column, p.op, p.values) for p in query.predicates] == [
        ("customerId", "=", ("cust_12345",)),
        ("status", "=", ("failed",)),
    ]


def test_operators_in_prefix_and_times() -> None:
    query = parse_query(
        "amount > 10000 and status IN ('failed', \"timed_out\") AND customerId = 'cust_*'"
        " AND endedAt >= '2026-11-25T00:00:00Z' AND version != 2 AND customerId STARTS_WITH 'c'",
        COLUMNS,
    )
    ops = [(p.column, p.op, p.values) for p in query.predicates]
    assert ops == [
        ("amount", ">", (10000.0,)),
        ("status", "in", ("failed", "timed_out")),
        ("customerId", "prefix", ("cust_",)),
        ("endedAt", ">=", (1795564800000.0,)),
        ("version", "!=", (2.0,)),
        ("customerId", "prefix", ("c",)),
    ]


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("customerId = ", 14, "quoted string"),
        ("customerId == 'x'", 13, "quoted string"),
        ("custId = 'x'", 1, "unknown column 'custId'"),
        ("amount > 'big'", 10, "amount is a number"),
        ("status > 'a'", 8, "has no order"),
        ("status = 'a' OR status = 'b'", 14, "only AND"),
        ("endedAt > 'yesterday'", 11, "endedAt is a time"),
        ("status IN ('a' 'b')", 16, "expected ',' or ')'"),
        ("status = 'a' AND", 17, "expected a column name"),
        ("amount STARTS_WITH 'a'", 8, "needs a keyword column"),
        ("status ~ 'a'", 8, "unexpected character"),
        ("status = 'open", 10, "unexpected character"),
    ],
)
def test_errors_name_their_column(text: str, column: int, words: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(text, COLUMNS)
    assert caught.value.column == column, str(caught.value)
    assert words in caught.value.message
    assert str(caught.value).startswith(f"column {column}: ")


def test_an_empty_query_matches_everything() -> None:
    assert parse_query("  ", COLUMNS).empty
    assert query_matches(parse_query("", COLUMNS), {})


def test_matching_rows() -> None:
    row = {"customerId": "cust_12345", "status": "failed", "amount": 12000.0}
    assert query_matches(parse_query("customerId = 'cust_1*' AND amount > 10000", COLUMNS), row)
    assert not query_matches(parse_query("amount < 10000", COLUMNS), row)
    assert query_matches(parse_query("dueAt != 5", COLUMNS), row)  # missing: only !=
    assert not query_matches(parse_query("dueAt < 5", COLUMNS), row)
    assert query_matches(parse_query("status IN ('failed')", COLUMNS), row)


def test_attribute_values_by_type() -> None:
    ctx = {"input": {"id": 42, "amount": "12.5", "at": "2026-11-25T00:00:00Z", "bad": "x"}}
    keyword = SearchAttribute.model_validate("{{input.id}}")
    assert attribute_value(keyword, ctx) == "42"
    number = SearchAttribute(value="{{input.amount}}", type="number")
    assert attribute_value(number, ctx) == 12.5
    assert attribute_value(SearchAttribute(value="{{input.bad}}", type="number"), ctx) is None
    when = SearchAttribute(value="{{input.at}}", type="time")
    assert attribute_value(when, ctx) == 1795564800000.0
    assert attribute_value(SearchAttribute(value="{{input.nope}}"), ctx) is None


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@given(_text)
def test_any_text_parses_or_fails_with_a_column_inside_it(text: str) -> None:
    column = 1
    try:
        parse_query(text, COLUMNS)
    except QueryError as exc:
        column = exc.column
    assert 1 <= column <= len(text) + 1


@given(
    st.lists(st.tuples(st.sampled_from(["customerId", "status"]), _text), min_size=1, max_size=4)
)
def test_quoted_values_come_back_as_they_were(pairs: list[tuple[str, str]]) -> None:
    text = " AND ".join(f"{c} != '{v.replace(chr(39), chr(39) * 2)}'" for c, v in pairs)
    query = parse_query(text, COLUMNS)
    assert [(p.column, p.values[0]) for p in query.predicates] == pairs
