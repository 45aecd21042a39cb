"""CPU of applying the results of a 1 -> N -> join fan-out in the pure core (no I/O).

    .venv/bin/python -m tests.support.fanin_cpu [--width 100] [--repeat 20]

Starts the execution, applies the root's result (which dispatches N steps), then the N
results in order (the last one dispatches the join) and the join's result; prints the
process CPU per execution for the N results (best of `--repeat`). A measurement, not a
test: nothing asserts on the timings.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.engine import apply_step_result, start_execution
from workflows.services.core.validation import compile_workflow

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fan_out(width: int) -> CompiledWorkflow:
    branches = [f"b{i}" for i in range(width)]
    steps: list[dict[str, Any]] = [{"id": "root", "function": "f"}]
    steps += [{"id": b, "function": "f", "dependsOn": ["root"]} for b in branches]
    steps.append({"id": "join", "function": "f", "dependsOn": branches})
    return compile_workflow({"name": "fanIn", "parallelism": "auto", "steps": steps})


def run_once(wf: CompiledWorkflow, width: int) -> float:
    state = start_execution(wf, "e1", {}, T0).state
    now = T0 + timedelta(milliseconds=1)
    t = apply_step_result(wf, state, "root", 1, now, ok=True, output={"v": 1})
    assert len(t.dispatches) == width
    began = time.process_time()
    for i in range(width):
        t = apply_step_result(wf, state, f"b{i}", 1, now, ok=True, output={"i": i})
    spent = time.process_time() - began
    assert [d.step_id for d in t.dispatches] == ["join"]
    apply_step_result(wf, state, "join", 1, now, ok=True, output={})
    assert state.status.value == "completed"
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    wf = fan_out(args.width)
    best = min(run_once(wf, args.width) for _ in range(args.repeat))
    per = best / args.width * 1e6
    print(f"1->{args.width}->join: {best * 1000:.2f} ms CPU for the {args.width} results", end="")
    print(f" ({per:.0f} µs each)")


if __name__ == "__main__":
    main()
