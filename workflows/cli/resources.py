"""CLI commands for what the API and the dashboard offer beyond executions:
`pause`/`resume`, `schedules`, `workflows` (list/show/source/diff), `metrics NAME`, `events`.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

import httpx

from workflows.cli.api import _add
from workflows.cli.definitions import json_arg
from workflows.cli.render import table
from workflows.client import Workflows
from workflows.client_errors import ApiError
from workflows.services.core.kpis import format_kpi

__all__ = ["register"]

RECIPIENT = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+|webhook:https?://\S+")


def _nested(commands: Any, name: str, help_: str) -> Any:
    parser = commands.add_parser(name, help=help_)
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")


# ---------------------------------------------------------------- schedules


def _schedules_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no schedules: create one with `workflows schedules create NAME --cron '0 9 * * *'`"
    return table(
        ["id", "workflow", "when", "time zone", "state", "next"],
        [
            [
                s.get("scheduleId") or s.get("id"),
                s.get("workflow"),
                s.get("cronExpression") or s.get("every"),
                s.get("timezone"),
                "paused" if s.get("paused") else "active",
                ((s.get("upcoming") or s.get("nextRuns") or [None])[0] or "")[:16].replace("T", " ")
                or None,
            ]
            for s in rows
        ],
    )


def _create_schedule(wf: Workflows, args: argparse.Namespace) -> Any:
    if bool(args.cron) == bool(args.every):
        raise SystemExit("error: give one of --cron EXPR or --every DURATION (e.g. 15m)")
    data = json_arg(args.input, "--input", """'{"customerId": "c1"}'""")
    for recipient in [*args.on_start, *args.on_complete, *args.on_failure]:
        if not RECIPIENT.fullmatch(recipient):
            raise SystemExit(
                f"error: notification recipient {recipient!r} is neither an e-mail address "
                "nor webhook:https://...; e.g. --on-failure ops@example.com"
            )
    notifications = {
        key: values
        for key, values in (
            ("onStart", args.on_start),
            ("onComplete", args.on_complete),
            ("onFailure", args.on_failure),
        )
        if values
    }
    return wf.schedule(
        args.name,
        args.cron,
        data,
        notifications or None,
        every=args.every,
        timezone=args.timezone,
    )


def _register_schedules(commands: Any) -> None:
    sub = _nested(commands, "schedules", "create, list, pause, resume and delete schedules")
    ls = _add(sub, "list", "every schedule with its next fire", lambda wf, a: wf.list_schedules())
    ls.add_argument("--json", action="store_true", help="print the raw JSON")
    ls.set_defaults(render=_schedules_table)
    cr = _add(sub, "create", "start a workflow on a cron or an interval", _create_schedule)
    cr.add_argument("name", metavar="WORKFLOW")
    cr.add_argument("--cron", help="cron expression, e.g. '0 9 * * MON-FRI'")
    cr.add_argument("--every", help="an interval instead, e.g. 15m")
    cr.add_argument("--timezone", default="UTC", help="IANA time zone of the cron (default UTC)")
    cr.add_argument("--input", default="{}", help="the executions' input, JSON")
    for flag in ("--on-start", "--on-complete", "--on-failure"):
        cr.add_argument(
            flag,
            action="append",
            default=[],
            metavar="RECIPIENT",
            help="e-mail address or webhook:https://... (repeatable)",
        )
    for action, help_, method in (
        ("pause", "stop firing (kept)", "pause_schedule"),
        ("resume", "fire again", "resume_schedule"),
    ):
        p = _add(sub, action, help_, lambda wf, a, m=method: getattr(wf, m)(a.id))
        p.add_argument("id", metavar="SCHEDULE")
    rm = _add(
        sub,
        "delete",
        "delete a schedule",
        lambda wf, a: wf.delete_schedule(a.id) or {"deleted": a.id},
    )
    rm.add_argument("id", metavar="SCHEDULE")


# ---------------------------------------------------------------- workflows


def _workflows_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no workflows: register one with `workflows register FILE`"
    return table(
        ["name", "version", "description"],
        [[w.get("name"), w.get("latestVersion"), w.get("description")] for w in rows],
    )


def _show(detail: dict[str, Any]) -> str:
    definition = detail.get("definition") or {}
    steps = definition.get("steps") or []
    versions = ", ".join(str(v.get("version")) for v in detail.get("versions") or [])
    lines = [
        f"workflow:    {detail.get('name')} v{detail.get('version')} (versions {versions})",
        f"description: {detail.get('description') or '-'}",
        table(
            ["step", "function", "condition"],
            [[s.get("id"), s.get("function"), s.get("condition")] for s in steps],
        ),
    ]
    metrics = definition.get("metrics") or []
    if metrics:
        lines.append(
            table(
                ["kpi", "unit", "description"],
                [[m.get("name"), m.get("unit"), m.get("description")] for m in metrics],
            )
        )
    return "\n\n".join(lines)


def _http(args: argparse.Namespace) -> httpx.Client:
    key = args.api_key if args.api_key is not None else os.environ.get("WORKFLOWS_API_KEY", "")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=args.url, headers=headers, timeout=args.http_timeout)


def _get(args: argparse.Namespace, path: str, params: dict[str, Any]) -> Any:
    with _http(args) as http:
        reply = http.get(path, params={k: v for k, v in params.items() if v is not None})
    body = reply.json() if reply.content else None
    if reply.status_code >= 400:
        error = body.get("error") if isinstance(body, dict) else reply.text
        raise ApiError(reply.status_code, str(error), body)
    return body


def _source(_: Workflows, args: argparse.Namespace) -> Any:
    params = {"version": args.version, "format": args.format}
    return _get(args, f"/workflows/{args.name}/source", params)


def _diff(_: Workflows, args: argparse.Namespace) -> Any:
    return _get(args, f"/workflows/{args.name}/diff", {"from": args.old, "to": args.new})


def diff_text(body: dict[str, Any]) -> str:
    """Changed lines as -/+ (removed, added), unchanged runs collapsed to a count."""
    out = [f"{body['name']}: version {body['from']} -> {body['to']}, {body['changed']} changed"]
    same = 0
    for row in body.get("rows") or []:
        if row["kind"] == "same":
            same += 1
            continue
        if same:
            out.append(f"  ({same} unchanged line{'s' if same > 1 else ''})")
            same = 0
        if row.get("left"):
            out.append(f"- {row['left']['line']:>4} {row['left']['text']}")
        if row.get("right"):
            out.append(f"+ {row['right']['line']:>4} {row['right']['text']}")
    if same:
        out.append(f"  ({same} unchanged line{'s' if same > 1 else ''})")
    return "\n".join(out)


def _register_workflows(commands: Any) -> None:
    sub = _nested(commands, "workflows", "registered workflows: list, show, source, diff")
    ls = _add(sub, "list", "registered workflows", lambda wf, a: wf.list_workflows())
    ls.add_argument("--json", action="store_true", help="print the raw JSON")
    ls.set_defaults(render=_workflows_table)
    sh = _add(
        sub, "show", "a version's steps and KPIs", lambda wf, a: wf.get_workflow(a.name, a.version)
    )
    sh.add_argument("name")
    sh.add_argument("--version", type=int)
    sh.add_argument("--json", action="store_true", help="print the raw JSON")
    sh.set_defaults(render=_show)
    src = _add(sub, "source", "a version as registered (YAML or JSON)", _source)
    src.add_argument("name")
    src.add_argument("--version", type=int)
    src.add_argument(
        "--format", choices=("yaml", "json"), help="default: as registered, comments and all"
    )
    src.add_argument("--json", action="store_true", help="print the raw JSON")
    src.set_defaults(render=lambda body: body["text"].rstrip("\n"))
    df = _add(sub, "diff", "two versions, the changed lines", _diff)
    df.add_argument("name")
    df.add_argument("old", type=int, metavar="FROM")
    df.add_argument("new", type=int, metavar="TO")
    df.add_argument("--json", action="store_true", help="print the raw JSON")
    df.set_defaults(render=diff_text)


# ---------------------------------------------------------------- metrics, events


def metrics_text(body: dict[str, Any]) -> str:
    """`GET /workflows/{name}/metrics` as a person reads it: outcomes, then KPIs with units."""
    rate = body.get("completionRate")
    duration = body.get("durationMs") or {}
    statuses = ", ".join(f"{k} {v}" for k, v in (body.get("byStatus") or {}).items()) or "none"
    lines = [
        f"{body.get('workflow')}: {body.get('executions')} ended executions ({statuses})",
        "completion rate: " + ("-" if rate is None else format_kpi(100 * rate, "percent")),
        "duration (completed): "
        + ", ".join(
            f"{k} {format_kpi(round(duration[k]), 'ms')}"
            for k in ("p50", "p95")
            if duration.get(k) is not None
        ),
    ]
    kpis = body.get("kpis") or {}
    if kpis:
        rows = []
        for name, s in kpis.items():
            unit = s.get("unit")
            rows.append(
                [name, unit, s.get("count"), s.get("missing")]
                + [
                    format_kpi(s[f], unit) if s.get(f) is not None else None
                    for f in ("mean", "p50", "p95", "min", "max")
                ]
            )
        headers = ["kpi", "unit", "count", "missing", "mean", "p50", "p95", "min", "max"]
        lines += ["", table(headers, rows)]
    return "\n".join(lines)


def _publish(wf: Workflows, args: argparse.Namespace) -> Any:
    data = json_arg(args.data, "--data", """'{"orderId": "o-1"}'""")
    return wf.publish_event(args.type, data, event_id=args.event_id)


def register(commands: Any) -> None:
    for action, help_ in (("pause", "pause a running execution"), ("resume", "resume it")):
        p = _add(commands, action, help_, lambda wf, a, m=action: getattr(wf, m)(a.id))
        p.add_argument("id", metavar="EXECUTION")
    _register_schedules(commands)
    _register_workflows(commands)
    mt = _add(
        commands,
        "metrics",
        "a workflow's outcomes and KPIs over its ended executions",
        lambda wf, a: wf.workflow_metrics(a.name, a.limit),
    )
    mt.add_argument("name", metavar="WORKFLOW")
    mt.add_argument("--limit", type=int, help="the newest so many executions")
    mt.add_argument("--json", action="store_true", help="print the raw JSON")
    mt.set_defaults(render=metrics_text)
    events = _nested(commands, "events", "publish events (event triggers start workflows)")
    pub = _add(events, "publish", "publish an event of TYPE", _publish)
    pub.add_argument("type", metavar="TYPE", help="e.g. order.created")
    pub.add_argument("--data", default="{}", help="the event's data, JSON")
    pub.add_argument("--event-id", help="an id: the same event published twice starts once")
