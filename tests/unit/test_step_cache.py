"""steps[].cache (issue 17 item 8): validation with paths, the envelope the dispatcher gets."""

from __future__ import annotations

from typing import Any

from workflows.services.core.simulate import simulate
from workflows.services.core.step_cache import cache_key_text, cache_spec
from workflows.services.core.validation import compile_workflow, validate_definition


def test_cache_is_validated_with_its_path() -> None:
    raw: dict[str, Any] = {
        "name": "w",
        "steps": [
            {"id": "a", "function": "f", "cache": {"key": "{{input.x", "ttl": "1h"}},
            {"id": "b", "function": "sleep", "cache": {"key": "k", "ttl": "1s"}},
            {"id": "c", "function": "approval", "cache": {"key": "{{nope.id}}", "ttl": 1000}},
        ],
    }
    found = [str(issue) for issue in validate_definition(raw)]
    assert any(t.startswith("steps[0].cache.key: column 1: unclosed '{{'") for t in found), found
    assert any(t.startswith("steps[1].cache: cache reuses a function's output") for t in found)
    assert any(t.startswith("steps[2].cache: cache reuses a function's output") for t in found)
    assert any(t.startswith("steps[2].cache.key: unknown reference 'nope'") for t in found)


def test_a_ttl_that_is_not_a_duration_names_the_field() -> None:
    raw = {
        "name": "w",
        "steps": [{"id": "a", "function": "f", "cache": {"key": "k", "ttl": "5 x"}}],
    }
    [issue] = validate_definition(raw)
    assert str(issue).startswith("steps[0].cache.ttl: '5 x' is not a duration")


def test_the_command_carries_the_key_and_ttl_and_the_state_the_plain_input() -> None:
    raw = {
        "name": "w",
        "steps": [
            {
                "id": "a",
                "function": "score",
                "input": {"c": "{{input.c}}"},
                "cache": {"key": "{{input.c}}", "ttl": "1h"},
            }
        ],
    }
    result = simulate(compile_workflow(raw), {"c": "ann"})
    assert result.state.steps["a"].input == {"c": "ann"}
    assert cache_spec({"$cache": {"key": "score:ann", "ttlMs": 3_600_000}, "input": {"c": 1}}) == (
        "score:ann",
        3_600_000,
        {"c": 1},
    )
    assert cache_spec({"c": 1}) is None
    assert [cache_key_text(v) for v in (None, "", 3.0, {"a": 1}, "k")] == [
        None,
        None,
        "3",
        '{"a":1}',
        "k",
    ]
