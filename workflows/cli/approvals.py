"""CLI commands for waiting steps: `approve`, `signal` and `waits`."""

from __future__ import annotations

import argparse
from typing import Any

from workflows.cli.api import _add
from workflows.cli.definitions import json_arg
from workflows.client import Workflows

__all__ = ["register"]


def _approve(wf: Workflows, args: argparse.Namespace) -> Any:
    return wf.approve(args.id, args.step, args.approver, reject=args.reject, comment=args.comment)


def _signal(wf: Workflows, args: argparse.Namespace) -> Any:
    payload = json_arg(args.payload, "--payload", """'{"approved": true}'""")
    if args.correlation and args.id is None:
        return wf.signal_event(args.name, args.correlation, payload)
    if args.id is None:
        raise SystemExit("error: give an EXECUTION id or --correlation")
    return wf.signal(args.id, args.name, payload, correlation=args.correlation)


def register(commands: Any) -> None:
    ap = _add(commands, "approve", "approve (or --reject) a waiting approval step", _approve)
    ap.add_argument("id", metavar="EXECUTION")
    ap.add_argument("step", metavar="STEP")
    ap.add_argument("--as", dest="approver", required=True, metavar="NAME", help="the approver")
    ap.add_argument("--reject", action="store_true", help="reject instead of approve")
    ap.add_argument("--comment", help="recorded in the audit trail with the decision")

    sg = _add(commands, "signal", "send a signal/event to waiting steps", _signal)
    sg.add_argument("name", metavar="NAME", help="the event type / signal name")
    sg.add_argument("id", metavar="EXECUTION", nargs="?", help="omit to route by --correlation")
    sg.add_argument("--payload", default="null", help="JSON value (the waiting step's output)")
    sg.add_argument("--correlation", help="without EXECUTION: every wait with this correlation")

    wt = _add(
        commands, "waits", "what an execution's steps are waiting for", lambda wf, a: wf.waits(a.id)
    )
    wt.add_argument("id", metavar="EXECUTION")
