"""Property tests of the API's edge (issue 20): whatever bytes arrive, `parse_json` answers a
value or a BodyProblem; whatever schedule is asked for, the spec is a ScheduleError or its
fire times compute; whatever pattern an input schema holds, validation answers at once."""

from __future__ import annotations

import contextlib
import json
import math
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflows.services.core.schedules import ScheduleError, ScheduleSpec
from workflows.services.core.schema_regex import SafeValidator, schema_issues
from workflows.services.core.triggers import EventError, parse_event
from workflows.services.trigger.input_guard import (
    MAX_JSON_DEPTH,
    BodyProblem,
    parse_json,
    yaml_expansion_problem,
)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**150), max_value=10**150)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(codec=None), max_size=20)  # lone surrogates included
)
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.sampled_from(["$claim", "$omitted"]), children)
    ),
    max_leaves=30,
)


def _encode(value: object) -> bytes:
    return json.dumps(value).encode()  # NaN, Infinity and \\ud800 escapes as Python writes them


@given(VALUES)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_parse_json_answers_a_clean_value_or_a_body_problem(value: object) -> None:
    try:
        parsed = parse_json(_encode(value))
    except BodyProblem as exc:
        problem: BodyProblem | None = exc
    else:
        problem = None
    if problem is not None:
        assert 400 <= problem.status < 500 and problem.path
        return
    # what passed is plain JSON every client reads: strict, UTF-8, round-trips
    text = json.dumps(parsed, allow_nan=False, ensure_ascii=False)
    assert json.loads(text.encode("utf-8")) == parsed


@given(st.binary(max_size=200))
def test_parse_json_never_raises_anything_else_on_bytes(body: bytes) -> None:
    with contextlib.suppress(BodyProblem):
        parse_json(body)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 100_000])
def test_depth_is_bounded_without_recursion(depth: int) -> None:
    with pytest.raises(BodyProblem, match="nested deeper"):
        parse_json(b"[" * depth + b"]" * depth)


def test_depth_counts_containers() -> None:
    parse_json(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)


def test_the_field_of_a_refused_number_is_named() -> None:
    with pytest.raises(BodyProblem) as caught:
        parse_json(b'{"a": {"b": [0, ' + b"1" * 200 + b"]}}")
    assert caught.value.path == "a.b[1]"


def test_yaml_alias_bomb_is_measured_without_expanding_it() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
    started = time.monotonic()
    assert yaml_expansion_problem("\n".join(lines)) is not None  # 10^12 values
    assert time.monotonic() - started < 1
    assert yaml_expansion_problem("a: &a [1, 2]\nb: *a\n") is None


CRON_FIELD = st.sampled_from(["*", "0", "1", "15", "29", "30", "31", "*/5", "1-5", "2", "12"])


@given(
    st.lists(CRON_FIELD, min_size=5, max_size=5).map(" ".join),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30)),
)
@settings(max_examples=200, deadline=None)
def test_a_schedule_is_refused_or_its_fire_times_compute(cron: str, start: datetime) -> None:
    try:
        spec = ScheduleSpec.create(cron_expression=cron, start_at=start.replace(tzinfo=UTC))
    except ScheduleError as exc:
        refused: ScheduleError | None = exc
    else:
        refused = None
    if refused is not None:
        assert refused.field in {"cronExpression", "startAt"}
        return
    first = spec.first(datetime.now(UTC))
    if first is not None:
        spec.upcoming(first, 5)


@given(st.integers(min_value=1, max_value=10**12), st.datetimes(max_value=datetime(9999, 12, 30)))
def test_intervals_never_overflow(seconds: int, start: datetime) -> None:
    try:
        spec = ScheduleSpec.create(every=f"{seconds}s", start_at=start.replace(tzinfo=UTC))
    except ScheduleError:
        return
    spec.next_after(datetime.now(UTC))
    spec.next_after(datetime.max.replace(tzinfo=UTC) - timedelta(days=2))


PATTERNS = st.sampled_from(
    ["^(a+)+$", "(a|aa)+$", "^(a|a?)+$", "(.*a){20}", "(x+x+)+y", "(a)\\1", "(?=a)", "[", "a{2,}"]
)


@given(PATTERNS, st.text(alphabet="ax!", max_size=40))
@settings(max_examples=200, deadline=None)
def test_input_schema_patterns_are_refused_or_answer_at_once(pattern: str, text: str) -> None:
    schema = {"type": "object", "properties": {"s": {"pattern": pattern}}}
    if schema_issues(schema, ("input",)):
        return
    started = time.monotonic()
    list(SafeValidator(schema).iter_errors({"s": text}))
    list(
        SafeValidator(
            {"patternProperties": {pattern: {}}, "additionalProperties": False}
        ).iter_errors({text: 1})
    )
    assert time.monotonic() - started < 1.0  # backtracking here takes hours at 40 characters


def test_non_finite_numbers_in_a_schema_are_named() -> None:
    schema = {"type": "object", "properties": {"n": {"maximum": math.inf, "minimum": math.nan}}}
    paths = sorted(".".join(map(str, loc)) for loc, _ in schema_issues(schema, ("input",)))
    assert paths == ["input.properties.n.maximum", "input.properties.n.minimum"]


@pytest.mark.parametrize(
    "value",
    [
        b'{"type": "a.b", "data": {"x": NaN}}',
        b'{"type": "a.b", "data": {"x": -Infinity}}',
        b'{"type": "a.b", "data": {"x": ' + b"9" * 5000 + b"}}",
        b'{"type": "a.b", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
)
def test_a_hostile_event_from_a_topic_is_an_event_error_for_the_dlq(value: bytes) -> None:
    """Not a ValueError or RecursionError that fails the consumer's batch on every read."""
    with pytest.raises(EventError) as caught:
        parse_event(value, "", "t:0:1", 10_000_000)
    assert caught.value.code == "invalid_json"
