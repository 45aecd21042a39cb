"""Claim check, the pure part: reference shape, limits, what to resolve, what to store."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from workflows.services.core.engine import apply_step_result, start_execution
from workflows.services.core.payload_refs import (
    PayloadLimits,
    PayloadTooLarge,
    changed_steps,
    claim_value,
    externalize,
    find_refs,
    human_size,
    is_ref,
    json_bytes,
    needed_steps,
    replace_refs,
    too_large_message,
)
from workflows.services.core.validation import compile_workflow

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LIMITS = PayloadLimits(inline_max=1024, hard_max=64 * 1024)
BIG = {"blob": "x" * 4096}
WF = compile_workflow(
    {
        "name": "big",
        "steps": [
            {"id": "a", "function": "produce"},
            {"id": "b", "function": "consume", "input": {"data": "{{a.blob}}"}},
            {"id": "c", "function": "tail", "input": {"n": 1}},
        ],
    }
)


def ref_of(value: Any, execution: str = "e1") -> dict[str, Any]:
    data = json_bytes(value)
    return {"$claim": hashlib.sha256(data).hexdigest(), "size": len(data), "execution": execution}


def test_small_values_stay_inline_and_large_ones_become_references() -> None:
    assert claim_value("e1", {"ok": True}, LIMITS) == ({"ok": True}, None)
    ref, blob = claim_value("e1", BIG, LIMITS)
    assert ref == ref_of(BIG)
    assert blob is not None and blob.data == json_bytes(BIG) and blob.execution == "e1"
    assert claim_value("e1", ref, LIMITS) == (ref, None)  # a reference is never wrapped again


def test_a_value_above_the_hard_limit_is_refused_with_its_size() -> None:
    huge = {"blob": "x" * (70 * 1024)}
    with pytest.raises(PayloadTooLarge, match="above the 64 KB limit") as caught:
        claim_value("e1", huge, LIMITS)
    assert caught.value.size == len(json_bytes(huge))


def test_the_error_names_the_step_the_size_the_limit_and_the_setting() -> None:
    message = too_large_message("output", "x", int(9.2 * (1 << 20)), 8 << 20)
    assert message == (
        "output of step 'x' is 9.2 MB, above the hard limit of 8 MB (WORKFLOWS_PAYLOAD_MAX_BYTES)"
    )
    assert human_size(512) == "512 B" and human_size(64 * 1024) == "64 KB"


def test_only_the_exact_shape_is_a_reference() -> None:
    ref = ref_of(BIG)
    assert is_ref(ref)
    assert not is_ref({**ref, "other": 1})  # user data that merely looks alike
    assert not is_ref({**ref, "$claim": "not-a-sha"})
    nested = {"list": [1, {"deep": ref}], "other": "x"}
    assert list(find_refs(nested)) == [ref]
    assert replace_refs(nested, lambda r: "resolved") == {
        "list": [1, {"deep": "resolved"}],
        "other": "x",
    }


def test_needed_steps_are_the_referenced_outputs_the_next_templates_read() -> None:
    t = start_execution(WF, "e1", {}, T0)
    apply_step_result(WF, t.state, "a", 1, T0, ok=True, output=ref_of(BIG))
    state = t.state
    assert state.steps["b"].status.value == "running"
    assert needed_steps(WF, state) == set()  # b is running: its input is rendered already
    assert needed_steps(WF, state, about="b") == {"a"}  # b's failure may dispatch a fallback
    state.steps["b"].status = state.steps["b"].status.WAITING_RETRY
    assert needed_steps(WF, state) == {"a"}  # the retry renders b's template again
    state.steps["b"].status = state.steps["b"].status.RUNNING
    apply_step_result(WF, state, "b", 1, T0, ok=True, output={"done": True})
    assert needed_steps(WF, state) == set()  # nothing left reads a


def test_externalize_keeps_the_state_and_the_command_small() -> None:
    t = start_execution(WF, "e1", {}, T0)
    ref = ref_of(BIG)
    known = {id(BIG): (BIG, ref)}  # a's output as the orchestrator resolved it
    transition = apply_step_result(WF, t.state, "a", 1, T0, ok=True, output=BIG)
    assert transition.dispatches[0].input == {"data": BIG["blob"]}  # b's template read it
    result = externalize(transition, LIMITS, known, {ref["$claim"]})
    state = transition.state
    b_input = transition.dispatches[0].input
    assert b_input == ref_of({"data": BIG["blob"]})
    assert [blob.sha for blob in result.blobs] == [b_input["$claim"]]  # a is not stored again
    assert state.steps["a"].output == ref and state.steps["b"].input == b_input
    for entry in transition.events:
        assert len(json_bytes(entry.data)) < 1024, entry.type
    assert len(state.model_dump_json()) < 4096


def test_a_result_checks_only_the_steps_it_changed() -> None:
    t = start_execution(WF, "e1", {}, T0)
    transition = apply_step_result(WF, t.state, "a", 1, T0, ok=True, output=BIG)
    changed = changed_steps(transition, "a")
    assert changed == {"a", "b"}  # a succeeded, b was dispatched; c is untouched
    untouched = {"left": "y" * 4096}  # as if an earlier transition had let it through
    transition.state.steps["c"].input = untouched
    result = externalize(transition, LIMITS, {}, set(), changed)
    state = transition.state
    assert state.steps["a"].output == ref_of(BIG) and is_ref(state.steps["b"].input)
    assert state.steps["c"].input is untouched  # not looked at: no encoding, no blob
    assert len(result.blobs) == 2
    everything = externalize(transition, LIMITS, {}, set())  # None: every step, as before
    assert state.steps["c"].input == ref_of(untouched) and len(everything.blobs) == 1
    resolved = {"read": "z" * 4096}  # c's output, resolved from its reference for a template
    state.steps["c"].output = resolved
    externalize(transition, LIMITS, {id(resolved): (resolved, ref_of(resolved))}, set(), changed)
    assert state.steps["c"].output == ref_of(resolved)  # put back although c is not changed


def test_a_dispatch_above_the_hard_limit_is_refused() -> None:
    limits = PayloadLimits(inline_max=1024, hard_max=2048)
    t = start_execution(WF, "e1", {}, T0)
    transition = apply_step_result(WF, t.state, "a", 1, T0, ok=True, output=BIG)
    result = externalize(transition, limits, {}, set())
    assert transition.dispatches == []
    [(dispatch, message)] = result.refused
    assert dispatch.step_id == "b"
    assert message.startswith("input of step 'b' is 4 KB, above the hard limit of 2 KB")
    size = len(json_bytes({"data": BIG["blob"]}))
    assert transition.state.steps["b"].input == {"$omitted": "too large", "size": size}
