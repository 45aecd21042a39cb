"""CLI commands that need nothing running: validate, eval, simulate, schema."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workflows.files import load_definition_file, read_definition_file
from workflows.services.core.checking import check_text, format_of, issue_line
from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.expressions import ExpressionError, evaluate, to_json_value
from workflows.services.core.issues import DefinitionError, ValidationIssue
from workflows.services.core.migration import alignment_issues, simulate_migration
from workflows.services.core.simulate import format_simulation, priority_line, simulate
from workflows.services.core.templates import compile_template, is_template
from workflows.services.core.validation import compile_workflow

__all__ = ["json_arg", "register"]


def json_arg(text: str, what: str, example: str = "") -> Any:
    """`text` parsed as JSON, or exit with one line naming the option, the column and a fix."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fix = f"; pass JSON, e.g. {what} {example}" if example else ""
        raise SystemExit(
            f"error: {what} is not valid JSON: {exc.msg} (column {exc.colno}){fix}"
        ) from None


def _validate_file(path: str) -> tuple[CompiledWorkflow | None, list[ValidationIssue]]:
    """YAML/JSON go through `check_text`, the same code as the dashboard editor's checks."""
    if path.endswith(".py"):
        try:
            return load_definition_file(path), []
        except DefinitionError as exc:
            return None, exc.issues
    result = check_text(Path(path).read_text(encoding="utf-8"), format_of(path))
    return result.compiled, result.issues


def cmd_validate(args: argparse.Namespace) -> int:
    failed = False
    for path in args.files:
        try:
            wf, issues = _validate_file(path)
        except OSError as exc:
            failed = True
            print(f"{path}: cannot read: {exc.strerror}")
            continue
        except UnicodeDecodeError as exc:
            failed = True
            print(f"{path}: cannot read: not UTF-8 text (byte {exc.start})")
            continue
        for issue in issues:
            print(issue_line(path, issue))
        if wf is None:
            failed = True
        else:
            print(f"{path}: ok ({wf.name}, {len(wf.steps)} steps)")
    return 1 if failed else 0


def cmd_eval(args: argparse.Namespace) -> int:
    context = json_arg(args.context, "--context")
    if not isinstance(context, dict):
        print("error: --context must be a JSON object", file=sys.stderr)
        return 2
    try:
        if is_template(args.expression):
            value = compile_template(args.expression).render(context)
        else:
            value = evaluate(args.expression, context)
    except ExpressionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(to_json_value(value)))
    return 0


def _mocks(pairs: list[str]) -> dict[str, Any]:
    mocks: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"error: --mock wants stepId=JSON, got {pair!r}")
        mocks[key] = json_arg(value, f"--mock {key}")
    return mocks


def cmd_simulate(args: argparse.Namespace) -> int:
    try:
        wf = load_definition_file(args.file)
    except DefinitionError as exc:
        for issue in exc.issues:
            print(f"{args.file}: {issue}")
        return 1
    input_ = json_arg(args.input, "--input")
    if args.migrate_to:
        return _simulate_migration(args, wf, input_)
    trigger = json_arg(args.trigger, "--trigger") if args.trigger else None
    if trigger is not None and not (
        isinstance(trigger, dict) and set(trigger) <= {"event", "schedule"}
    ):
        raise SystemExit(
            'error: --trigger must be an object {"event": {...}} or {"schedule": {...}}'
        )
    if args.priority is not None and not -1000 <= args.priority <= 1000:
        raise SystemExit("error: --priority must be between -1000 and 1000")
    declared = "priority" in wf.definition.model_fields_set
    if declared or args.priority is not None:  # the default 0 changes nothing: no line
        print(priority_line(wf.definition.priority if declared else None, args.priority))
    result = simulate(
        wf, input_, _mocks(args.mock), set(args.fail), trigger=trigger, priority=args.priority
    )
    units = {m.name: m.unit for m in wf.definition.metrics}
    for line in format_simulation(result, units):
        print(line)
    return 0 if result.state.status.value == "completed" else 1


def _simulate_migration(args: argparse.Namespace, old: CompiledWorkflow, input_: Any) -> int:
    """What registering `--migrate-to NEW` after FILE does to an execution of FILE whose
    `--done` steps succeeded: the plan the registration would carry out, one line."""
    try:
        raw, parsed = read_definition_file(args.migrate_to)
        new = compile_workflow(raw, parsed, version=old.version + 1)
    except DefinitionError as exc:
        for issue in exc.issues:
            print(f"{args.migrate_to}: {issue}")
        return 1
    refused = alignment_issues(old, new, parsed)
    for issue in refused:
        print(f"{args.migrate_to}: {issue}")
    if refused:
        return 1
    done = [step for step in (args.done or "").split(",") if step]
    unknown = [step for step in done if step not in old.by_id]
    if unknown:
        print(f"error: --done: no step {unknown[0]!r} in {args.file}", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    plan = simulate_migration(old, new, input_, done, _mocks(args.mock), now)
    print(f"migration {new.definition.migration}: {plan.line()}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from workflows import contracts

    folder = Path(contracts.__file__).parent
    print(f"JSON Schemas: {folder / 'schemas'}")
    for path in sorted((folder / "schemas").glob("*.json")):
        print(f"  {path.name}")
    print(f"AsyncAPI:     {folder / 'asyncapi.yaml'}")
    return 0


def register(commands: Any) -> None:
    validate = commands.add_parser("validate", help="check definition files; exit 1 on errors")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(handler=cmd_validate)

    ev = commands.add_parser("eval", help="evaluate a template or expression against a context")
    ev.add_argument("expression", metavar="EXPR")
    ev.add_argument("--context", default="{}", help="JSON object, e.g. '{\"input\": {...}}'")
    ev.set_defaults(handler=cmd_eval)

    sim = commands.add_parser("simulate", help="dry-run a definition with mocked step outputs")
    sim.add_argument("file", metavar="FILE")
    sim.add_argument("--input", default="{}", help="the execution input, JSON")
    sim.add_argument(
        "--mock",
        action="append",
        default=[],
        metavar="STEP=JSON",
        help="output of a step (or of a function, e.g. a fallback); default {}",
    )
    sim.add_argument(
        "--fail",
        action="append",
        default=[],
        metavar="STEP",
        help="make every attempt of this step fail (retries, then fallback)",
    )
    sim.add_argument(
        "--migrate-to",
        metavar="NEW",
        help="print what registering NEW as the next version does to an execution of FILE "
        "(its `migration`), with the --done steps succeeded",
    )
    sim.add_argument("--done", metavar="A,B", help="with --migrate-to: the steps that ran")
    sim.add_argument(
        "--priority",
        type=int,
        metavar="N",
        help="the start request's priority (-1000..1000; default: the definition's)",
    )
    sim.add_argument(
        "--trigger",
        metavar="JSON",
        help='what started it, for {{trigger.*}}: \'{"event": {"id": "e1", "type": "a.b", '
        '"data": {...}}}\' or \'{"schedule": {"id": "s1", "scheduledAt": "..."}}\'',
    )
    sim.set_defaults(handler=cmd_simulate)

    schema = commands.add_parser("schema", help="where the message contracts live")
    schema.set_defaults(handler=cmd_schema)
