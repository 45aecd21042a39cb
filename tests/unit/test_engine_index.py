"""advance() walks only the dependents of the step that finished (compiled.StepLinks)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.fanin_cpu import fan_out
from workflows.services.core import engine
from workflows.services.core.compiled import CompiledStep
from workflows.services.core.engine import apply_step_result, start_execution
from workflows.services.core.validation import compile_workflow

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_links_index_dependents_slots_and_sinks() -> None:
    wf = fan_out(3)
    links = wf.links
    assert links.dependents["root"] == (1, 2, 3)
    assert links.dependents["b1"] == (4,)
    assert links.dependents["join"] == ()
    assert links.slot[4, "b2"] == 2
    assert links.sinks == ("join",)


def test_a_fan_in_result_examines_only_its_dependents(monkeypatch: pytest.MonkeyPatch) -> None:
    wf = fan_out(100)
    examined: list[str] = []
    original = engine.Run._examine

    def counting(self: Any, cs: CompiledStep, after: str | None = None) -> None:
        examined.append(cs.id)
        original(self, cs, after)

    monkeypatch.setattr(engine.Run, "_examine", counting)
    state = start_execution(wf, "e1", {}, T0).state
    apply_step_result(wf, state, "root", 1, T0, ok=True, output={})
    examined.clear()
    for i in range(100):
        t = apply_step_result(wf, state, f"b{i}", 1, T0, ok=True, output={"i": i})
        assert [d.step_id for d in t.dispatches] == (["join"] if i == 99 else [])
    assert len(examined) == 200  # each result: the finished step and the join, not 102 steps
    assert set(examined) == {*(f"b{i}" for i in range(100)), "join"}


def test_a_skip_unblocks_forward_and_backward_dependents_in_scan_order() -> None:
    """`first` depends on a later step: met in the next pass, after `after` (same pass)."""
    wf = compile_workflow(
        {
            "name": "order",
            "parallelism": "auto",
            "steps": [
                {"id": "first", "function": "f", "dependsOn": ["gate"]},
                {"id": "root", "function": "f"},
                {"id": "gate", "function": "f", "dependsOn": ["root"], "condition": "false"},
                {"id": "after", "function": "f", "dependsOn": ["gate"]},
            ],
        }
    )
    state = start_execution(wf, "e1", {}, T0).state
    t = apply_step_result(wf, state, "root", 1, T0, ok=True, output={})
    assert [d.step_id for d in t.dispatches] == ["after", "first"]
    assert [e.type for e in t.events][:2] == ["step.succeeded", "step.skipped"]
