"""`workflows templates list|show|install`: the template marketplace from the shell."""

from __future__ import annotations

import argparse
import json
from typing import Any

from workflows.cli.common import DEFAULT_URL
from workflows.client import Workflows
from workflows.client_errors import ClientError

__all__ = ["register"]


def _list(wf: Workflows, args: argparse.Namespace) -> None:
    rows = wf.list_templates(args.search, args.tag)
    print(f"{'ID':<28} {'TAGS':<34} TITLE")
    for row in rows:
        print(f"{row['id']:<28} {', '.join(row['tags']):<34} {row['title']}")


def _show(wf: Workflows, args: argparse.Namespace) -> None:
    print(json.dumps(wf.get_template(args.id), indent=2))


def _install(wf: Workflows, args: argparse.Namespace) -> None:
    params: dict[str, Any] = {}
    for pair in args.param:
        key, _, raw = pair.partition("=")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    done = wf.install_template(args.id, params)
    print(f"registered {done['name']} version {done['version']}")
    if done.get("functions"):
        print(f"example functions: workflows run worker --functions {done['functions']}")


def _run(args: argparse.Namespace) -> int:
    try:
        with Workflows(args.url, api_key=args.api_key) as wf:
            args.action(wf, args)
    except ClientError as exc:
        print(f"error: {exc}")
        return 1
    return 0


def register(commands: Any) -> None:
    parser = commands.add_parser("templates", help="browse and install workflow templates")
    parser.add_argument("--url", default=DEFAULT_URL, help="trigger service (WORKFLOWS_API_URL)")
    parser.add_argument("--api-key", help="API key (default: env WORKFLOWS_API_KEY)")
    sub = parser.add_subparsers(dest="templates_command", required=True, metavar="ACTION")
    ls = sub.add_parser("list", help="templates, filtered by text and tag")
    ls.add_argument("--search", help="text in id, title or description")
    ls.add_argument("--tag")
    ls.set_defaults(handler=_run, action=_list)
    show = sub.add_parser("show", help="one template with its parameters and definition")
    show.add_argument("id")
    show.set_defaults(handler=_run, action=_show)
    install = sub.add_parser("install", help="fill in parameters and register the workflow")
    install.add_argument("id")
    install.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    install.set_defaults(handler=_run, action=_install)
