"""The pure parts behind the dashboard editor: text checks, step graph, dry-run path, diff."""

from __future__ import annotations

import json
from pathlib import Path

from workflows.services.core.checking import check_text, format_of, issue_line
from workflows.services.core.dry_run import dry_run_report
from workflows.services.core.graph import step_graph
from workflows.services.core.simulate import simulate
from workflows.services.core.textdiff import side_by_side

SEED = Path(__file__).parents[2] / "examples" / "customer_onboarding.yaml"
BROKEN = """\
name: demo
input:
  type: object
  properties:
    amount: {type: number}
steps:
  - id: a
    function: f
    input: {x: '{{input.amount}}'}
  - id: b
    function: g
    condition: '{{input.amount > = 10}}'
"""
AUTO = """\
name: fanOut
parallelism: auto
steps:
  - {id: fetch, function: fetch}
  - {id: left, function: l, input: {v: '{{fetch.a}}'}}
  - {id: right, function: r, input: {v: '{{fetch.b}}'}, condition: '{{fetch.ok}}'}
  - {id: join, function: j, input: {l: '{{left.v}}', r: '{{right.v}}'}}
errorHandling:
  fallbackSteps: {right: rightFallback}
"""


def test_a_broken_condition_is_reported_at_its_line_and_the_column_of_the_token() -> None:
    result = check_text(BROKEN)
    assert not result.ok
    [issue] = result.issues
    assert (issue.line, issue.path, issue.column) == (12, "steps[1].condition", 18)
    assert issue_line("f.yaml", issue) == (
        "f.yaml: line 12: steps[1].condition: column 18: unexpected token '='"
    )
    offset = result.offset(issue)
    assert offset is not None
    line_start = sum(len(line) + 1 for line in BROKEN.splitlines()[:11])
    assert BROKEN[offset] == "=" and offset - line_start == 33  # 0-based column in the file


def test_json_text_gets_lines_too_and_the_same_messages_as_yaml() -> None:
    import yaml

    as_json = json.dumps(yaml.safe_load(BROKEN), indent=2)
    issues = check_text(as_json, "json").issues
    assert [i.message for i in issues] == [i.message for i in check_text(BROKEN).issues]
    assert issues[0].line is not None
    assert as_json.splitlines()[issues[0].line - 1].strip().startswith('"condition"')


def test_unparsable_text_names_the_line() -> None:
    result = check_text("name: x\nsteps: [\n")
    assert not result.ok and result.issues[0].line == 3
    assert result.issues[0].message.startswith("invalid YAML")
    assert format_of("a.JSON") == "json" and format_of("a.yml") == "yaml"


def test_sequential_graph_chains_steps_and_marks_data_edges_conditions_and_fallbacks() -> None:
    result = check_text(SEED.read_text())
    assert result.compiled is not None
    graph = step_graph(result.compiled, result.parsed).wire()
    assert graph["levels"] == [[n["id"]] for n in graph["nodes"]]  # one step at a time
    edges = {(e["from"], e["to"]): e["kinds"] for e in graph["edges"]}
    assert edges[("accountSetup", "welcomeEmail")] == ["data", "order"]
    assert edges[("welcomeEmail", "resourceAllocation")] == ["order"]
    assert edges[("accountSetup", "scheduleKickoff")] == ["data"]
    kickoff = next(n for n in graph["nodes"] if n["id"] == "scheduleKickoff")
    assert kickoff["fallback"] == "sendSchedulingLink"
    assert kickoff["condition"] == "{{!!assignAccountManager}}"
    assert SEED.read_text().splitlines()[kickoff["line"] - 1].strip() == "- id: scheduleKickoff"


def test_auto_parallelism_puts_independent_steps_on_one_level() -> None:
    result = check_text(AUTO)
    assert result.compiled is not None
    graph = step_graph(result.compiled, result.parsed).wire()
    assert graph["parallelism"] == "auto"
    assert graph["levels"] == [["fetch"], ["left", "right"], ["join"]]
    edges = {(e["from"], e["to"]): e["kinds"] for e in graph["edges"]}
    assert edges == {
        ("fetch", "left"): ["data"],
        ("fetch", "right"): ["data"],
        ("left", "join"): ["data"],
        ("right", "join"): ["data"],
    }


def test_explicit_depends_on_is_its_own_edge_kind() -> None:
    text = AUTO.replace("{id: join, function: j,", "{id: join, function: j, dependsOn: [left],")
    result = check_text(text.replace("'{{right.v}}'", "'x'"))
    assert result.compiled is not None, result.issues
    edges = {(e["from"], e["to"]): e["kinds"] for e in step_graph(result.compiled).wire()["edges"]}
    assert edges[("left", "join")] == ["data", "dependsOn"]
    assert ("right", "join") not in edges


def test_dry_run_report_gives_each_step_its_outcome() -> None:
    result = check_text(AUTO)
    assert result.compiled is not None
    run = simulate(result.compiled, {}, {"fetch": {"ok": False}})
    report = dry_run_report(result.compiled, run)
    outcomes = {s["id"]: s["outcome"] for s in report["steps"]}
    assert outcomes == {"fetch": "ran", "left": "ran", "right": "skipped", "join": "ran"}
    assert report["status"] == "completed"
    assert next(s for s in report["steps"] if s["id"] == "right")["reason"] == (
        "condition was false"
    )
    failing = simulate(result.compiled, {}, {"fetch": {"ok": True}}, {"right"})
    outcomes = {s["id"]: s["outcome"] for s in dry_run_report(result.compiled, failing)["steps"]}
    assert outcomes["right"] == "fallback"


def test_side_by_side_diff_pairs_changed_lines_and_keeps_line_numbers() -> None:
    rows = side_by_side("a\nb\nc\n", "a\nB\nc\nd\n")
    assert [r["kind"] for r in rows] == ["same", "changed", "same", "added"]
    assert rows[1]["left"] == {"line": 2, "text": "b"}
    assert rows[1]["right"] == {"line": 2, "text": "B"}
    assert rows[3]["left"] is None and rows[3]["right"] == {"line": 4, "text": "d"}
    assert [r["kind"] for r in side_by_side("x\ny\n", "y\n")] == ["removed", "same"]
