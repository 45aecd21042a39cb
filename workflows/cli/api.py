"""CLI commands for a running trigger service: register, execute, status, list, cancel, retry."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import httpx

from workflows.cli.common import DEFAULT_URL
from workflows.cli.definitions import json_arg
from workflows.cli.failures import CliFailure, trigger_hint
from workflows.cli.logs_view import attempt_logs_text
from workflows.cli.render import executions_table, progress_line, status_view
from workflows.client import TERMINAL, Workflows, _outcome
from workflows.client_errors import ClientError, ExecutionTimeout
from workflows.services.core.state import ExecutionStatus

__all__ = ["register"]

STATUSES = tuple(status.value for status in ExecutionStatus)


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def _call(args: argparse.Namespace) -> int:
    try:
        with Workflows(args.url, timeout=args.http_timeout, api_key=args.api_key) as wf:
            result = args.action(wf, args)
            render = getattr(args, "render", None)
            if render is not None and not args.json:
                print(render(result))
            else:
                _print(result)
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except httpx.TransportError as exc:
        reason = str(exc) or type(exc).__name__
        raise CliFailure(f"{trigger_hint(args.url)} ({reason})") from None
    return 0


def _execute(wf: Workflows, args: argparse.Namespace) -> Any:
    data = json_arg(args.input, "--input", """'{"customerId": "c1"}'""")
    key, priority = args.idempotency_key, args.priority
    if not args.wait:
        return wf.execute(args.name, data, wait=False, idempotency_key=key, priority=priority)
    execution_id = wf.start(args.name, data, idempotency_key=key, priority=priority)
    print(f"execution {execution_id}", file=sys.stderr, flush=True)
    try:
        if sys.stderr.isatty():
            return _execute_with_progress(wf, args, execution_id)
        return _outcome(wf.wait(execution_id, timeout=args.timeout))
    except ExecutionTimeout as exc:
        raise CliFailure(
            f"execution {execution_id} is still {exc.status} after waiting {args.timeout:g} s: "
            f"follow it with `workflows status {execution_id}`, or wait longer with --timeout"
        ) from None


def _execute_with_progress(wf: Workflows, args: argparse.Namespace, execution_id: str) -> Any:
    """Poll get_status, redrawing one progress line on stderr until it ends."""
    started = time.monotonic()
    width = 0
    try:
        while True:
            status = wf.get_status(execution_id)
            line = progress_line(status, time.monotonic() - started)
            sys.stderr.write("\r" + line.ljust(width))
            sys.stderr.flush()
            width = len(line)
            if status["status"] in TERMINAL:
                return _outcome(status)
            if time.monotonic() - started > args.timeout:
                raise ExecutionTimeout(execution_id, status["status"], args.timeout)
            time.sleep(0.25)
    finally:
        sys.stderr.write("\n")
        sys.stderr.flush()


def _status(wf: Workflows, args: argparse.Namespace) -> Any:
    return wf.get_status(args.id, include_metrics=args.metrics, include_audit_trail=args.audit)


def _add(commands: Any, name: str, help_: str, action: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help_)
    parser.add_argument("--url", default=DEFAULT_URL, help="trigger service (WORKFLOWS_API_URL)")
    parser.add_argument("--http-timeout", type=float, default=60.0, help=argparse.SUPPRESS)
    parser.add_argument("--api-key", help="API key (default: env WORKFLOWS_API_KEY)")
    parser.set_defaults(handler=_call, action=action)
    return parser


def register(commands: Any) -> None:
    reg = _add(
        commands,
        "register",
        "register a definition file (new immutable version)",
        lambda wf, a: wf.register(a.file),
    )
    reg.add_argument("file", metavar="FILE")

    ex = _add(
        commands,
        "execute",
        "start an execution; print its output (or the start response)",
        _execute,
    )
    ex.add_argument("name")
    ex.add_argument("--input", default="{}", help="JSON object")
    ex.add_argument("--wait", action="store_true", help="wait for the output")
    ex.add_argument("--timeout", type=float, default=30.0)
    ex.add_argument("--idempotency-key")
    ex.add_argument(
        "--priority",
        type=int,
        help="-1000..1000 (default: the definition's); a backlogged function runs higher first",
    )

    st = _add(commands, "status", "an execution's status", _status)
    st.add_argument("id")
    st.add_argument("--json", action="store_true", help="print the raw JSON")
    st.set_defaults(render=status_view)
    st.add_argument("--audit", action="store_true", help="include the audit trail")
    st.add_argument("--metrics", action="store_true", help="include timings")

    ls = _add(
        commands,
        "list",
        "recent executions; --query searches them (README: Search)",
        lambda wf, a: wf.list_executions(
            workflow=a.workflow, status=a.status, limit=a.limit, query=a.query
        ),
    )
    ls.add_argument("--query", help="e.g. \"customerId = 'cust_12345' AND status = 'failed'\"")
    ls.add_argument("--workflow")
    ls.add_argument("--status", choices=STATUSES)
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--json", action="store_true", help="print the raw JSON")
    ls.set_defaults(render=executions_table)

    lg = _add(
        commands,
        "logs",
        "what the functions logged, per step attempt",
        lambda wf, a: wf.logs(a.id, a.step),
    )
    lg.add_argument("id")
    lg.add_argument("step", nargs="?")
    lg.add_argument("--json", action="store_true", help="print the raw JSON")
    lg.set_defaults(render=attempt_logs_text)

    ca = _add(
        commands, "cancel", "cancel a running execution", lambda wf, a: wf.cancel(a.id, a.reason)
    )
    ca.add_argument("id")
    ca.add_argument("--reason")

    rt = _add(
        commands,
        "retry",
        "re-run a failed execution from its failed step",
        lambda wf, a: {"executionId": wf.retry(a.id, from_step=a.from_step)},
    )
    rt.add_argument("id")
    rt.add_argument("--from-step")
