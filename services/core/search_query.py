"""The execution search language: parse a query and test an index row (pure: no I/O).

    customerId = 'cust_12345' AND status = 'failed'
    amount > 10000 AND endedAt > '2026-11-25T00:00:00Z'
    status IN ('failed', 'timed_out') AND customerId = 'cust_*'
    customerId STARTS_WITH 'cust_1' AND version != 3

A query is predicates joined by AND. A predicate is `column op value` with op one of `=`,
`!=`, `<`, `<=`, `>`, `>=`; `column IN (v, ...)`; or `column STARTS_WITH 'text'` (also
written `column = 'text*'`: a trailing `*` is a prefix match). Columns are the built-in ones
(`workflow`, `status`, `version`, `startedAt`, `endedAt`) and the search attributes the
namespace's workflows declare. A keyword takes a quoted string ('...' or "...", a quote
doubled inside), a number an unquoted number, a time an ISO 8601 string with its zone or
epoch milliseconds. Keywords compare as text (`=`, `!=`, IN, prefix only); numbers and
times also order. An execution without a value for a column matches only `!=`.

Errors are `QueryError` with the 1-based column of the text they are about.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from workflows.services.core.errors import CoreError

__all__ = [
    "MAX_PREDICATES",
    "MAX_QUERY_CHARS",
    "Predicate",
    "Query",
    "QueryError",
    "Value",
    "parse_query",
    "predicate_matches",
    "query_matches",
]

MAX_QUERY_CHARS = 4096
MAX_PREDICATES = 32
MAX_IN_VALUES = 100

Op = Literal["=", "!=", "<", "<=", ">", ">=", "in", "prefix"]
Value = str | float
ORDERED: frozenset[str] = frozenset({"<", "<=", ">", ">="})


class QueryError(CoreError, ValueError):
    """A query the parser refuses; `column` is the 1-based position in the text."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.message = message
        self.column = column


@dataclass(frozen=True, slots=True)
class Predicate:
    column: str
    kind: str  # keyword, number or time
    op: Op
    values: tuple[Value, ...]  # one, or several for IN; numbers/times as float (ms)
    position: int


@dataclass(frozen=True, slots=True)
class Query:
    predicates: tuple[Predicate, ...]

    @property
    def empty(self) -> bool:
        return not self.predicates


_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<str>'(?:[^']|'')*'|"(?:[^"]|"")*")
    |(?P<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<op>!=|<>|<=|>=|=|<|>)
    |(?P<punct>[(),])
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # str num op punct name end
    text: str
    position: int
    value: Value = ""


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    i = 0
    while i < len(text):
        match = _TOKEN.match(text, i)
        if match is None:
            raise QueryError(f"unexpected character {text[i]!r}", i + 1)
        kind = match.lastgroup or ""
        raw = match.group()
        if kind == "str":
            quote = raw[0]
            out.append(_Tok("str", raw, i + 1, raw[1:-1].replace(quote * 2, quote)))
        elif kind == "num":
            out.append(_Tok("num", raw, i + 1, float(raw)))
        elif kind != "ws":
            out.append(_Tok(kind, "!=" if raw == "<>" else raw, i + 1))
        i = match.end()
    out.append(_Tok("end", "", len(text) + 1))
    return out


def _time_value(tok: _Tok, column: str) -> float:
    if tok.kind == "num":
        return float(tok.value)
    if tok.kind == "str":
        try:
            moment = datetime.fromisoformat(str(tok.value).replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment.timestamp() * 1000
    raise QueryError(
        f"{column} is a time: give an ISO 8601 time with its zone ('2026-11-25T00:00:00Z')"
        f" or epoch milliseconds, not {tok.text or 'nothing'}",
        tok.position,
    )


def _value(tok: _Tok, column: str, kind: str) -> Value:
    if kind == "time":
        return _time_value(tok, column)
    if kind == "number":
        if tok.kind != "num" or not math.isfinite(float(tok.value)):
            raise QueryError(
                f"{column} is a number: give an unquoted number, not {tok.text or 'nothing'}",
                tok.position,
            )
        return float(tok.value)
    if tok.kind != "str":
        raise QueryError(
            f"{column} is a keyword: give a quoted string, not {tok.text or 'nothing'}",
            tok.position,
        )
    return str(tok.value)


class _Parser:
    def __init__(self, text: str, types: Mapping[str, str]) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.types = types

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += min(1, len(self.toks) - 1 - self.i)
        return tok

    def word(self, tok: _Tok, word: str) -> bool:
        return tok.kind == "name" and tok.text.upper() == word

    def query(self) -> Query:
        predicates = [self.predicate()]
        while self.word(self.peek(), "AND"):
            self.take()
            predicates.append(self.predicate())
        tok = self.peek()
        if tok.kind != "end":
            hint = " (only AND joins predicates)" if self.word(tok, "OR") else ""
            raise QueryError(f"expected AND or the end, not {tok.text!r}{hint}", tok.position)
        if len(predicates) > MAX_PREDICATES:
            raise QueryError(f"at most {MAX_PREDICATES} predicates", predicates[-1].position)
        return Query(tuple(predicates))

    def predicate(self) -> Predicate:
        tok = self.take()
        if tok.kind != "name":
            what = repr(tok.text) if tok.text else "the end"
            raise QueryError(f"expected a column name, not {what}", tok.position)
        column = tok.text
        kind = self.types.get(column)
        if kind is None:
            known = ", ".join(sorted(self.types))
            raise QueryError(f"unknown column '{column}' (known: {known})", tok.position)
        op_tok = self.take()
        if self.word(op_tok, "IN"):
            return self.in_list(column, kind, tok.position)
        if self.word(op_tok, "STARTS_WITH"):
            value_tok = self.take()
            if kind != "keyword":
                raise QueryError(
                    f"STARTS_WITH needs a keyword column; {column} is a {kind}", op_tok.position
                )
            return Predicate(
                column, kind, "prefix", (_value(value_tok, column, kind),), tok.position
            )
        if op_tok.kind != "op":
            what = repr(op_tok.text) if op_tok.text else "the end"
            raise QueryError(
                f"expected an operator after {column} (=, !=, <, <=, >, >=, IN, STARTS_WITH),"
                f" not {what}",
                op_tok.position,
            )
        op: Op = op_tok.text  # type: ignore[assignment]
        if op in ORDERED and kind == "keyword":
            raise QueryError(f"{column} is a keyword: it has no order ({op})", op_tok.position)
        value = _value(self.take(), column, kind)
        if op == "=" and isinstance(value, str) and value.endswith("*"):
            return Predicate(column, kind, "prefix", (value[:-1],), tok.position)
        return Predicate(column, kind, op, (value,), tok.position)

    def in_list(self, column: str, kind: str, position: int) -> Predicate:
        tok = self.take()
        if tok.text != "(":
            raise QueryError(f"expected '(' after IN, not {tok.text or 'the end'!r}", tok.position)
        values = [_value(self.take(), column, kind)]
        while self.peek().text == ",":
            self.take()
            values.append(_value(self.take(), column, kind))
        tok = self.take()
        if tok.text != ")":
            raise QueryError(
                f"expected ',' or ')' in IN, not {tok.text or 'the end'!r}", tok.position
            )
        if len(values) > MAX_IN_VALUES:
            raise QueryError(f"at most {MAX_IN_VALUES} values in IN", position)
        return Predicate(column, kind, "in", tuple(dict.fromkeys(values)), position)


def parse_query(text: str, types: Mapping[str, str]) -> Query:
    """Parse `text` against the columns and their types (`keyword`, `number`, `time`);
    an empty text is the query that matches every execution."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"a query is at most {MAX_QUERY_CHARS} characters", MAX_QUERY_CHARS + 1)
    if not text.strip():
        return Query(())
    return _Parser(text, types).query()


def predicate_matches(predicate: Predicate, value: Value | None) -> bool:
    """Whether a row whose column holds `value` (None: no value) satisfies `predicate`."""
    op, wanted = predicate.op, predicate.values
    if value is None:
        return op == "!="
    if op == "=":
        return value == wanted[0]
    if op == "!=":
        return value != wanted[0]
    if op == "in":
        return value in wanted
    if op == "prefix":
        return isinstance(value, str) and value.startswith(str(wanted[0]))
    if isinstance(value, str) or isinstance(wanted[0], str):
        return False
    if op == "<":
        return value < wanted[0]
    if op == "<=":
        return value <= wanted[0]
    if op == ">":
        return value > wanted[0]
    return value >= wanted[0]


def query_matches(query: Query, values: Mapping[str, Value]) -> bool:
    """Whether a row (column -> value; numbers and times as float ms) matches every predicate."""
    return all(predicate_matches(p, values.get(p.column)) for p in query.predicates)
