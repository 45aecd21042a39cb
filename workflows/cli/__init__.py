"""The `workflows` command line: validate, eval, simulate, schema; services and API commands."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import NoReturn

from workflows.cli import definitions, render
from workflows.cli.failures import explain

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse with "did you mean" for a mistyped command or choice."""

    def error(self, message: str) -> NoReturn:
        if "invalid choice: " in message:
            wrong = message.split("invalid choice: ", 1)[1].split("'")[1]
            choices = [c for a in self._actions for c in (a.choices or []) if isinstance(c, str)]
            close = difflib.get_close_matches(wrong, choices, n=1)
            if close:
                message += f"; did you mean '{close[0]}'?"
        super().error(message)


def _version() -> str:
    try:
        return metadata.version("workflows-engine")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="workflows",
        description="Declarative business workflows over Kafka, with state in Redis.",
    )
    parser.add_argument("--version", action="version", version=f"workflows {_version()}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    definitions.register(commands)
    try:
        from workflows.cli import runtime
    except ImportError:  # pragma: no cover - runtime commands need the service packages
        pass
    else:
        runtime.register(commands)
        from workflows.cli import api, dlq, keys, templates

        api.register(commands)
        dlq.register(commands)
        keys.register(commands)
        templates.register(commands)
        from workflows.cli import approvals

        approvals.register(commands)
        from workflows.cli import limits, resources

        limits.register(commands)
        resources.register(commands)
    render.register(commands, parser)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else list(argv)):
        parser.print_help()  # bare `workflows`: what it can do
        sys.exit(0)
    args = parser.parse_args(argv)
    try:
        code = args.handler(args)
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # a known failure is one line; anything else keeps its traceback
        line = explain(exc)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        code = 1
    sys.exit(code)
