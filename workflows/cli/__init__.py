"""The `workflows` command line: validate, eval, simulate, schema; services and API commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from workflows.cli import definitions, render
from workflows.cli.failures import explain

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workflows",
        description="Declarative business workflows over Kafka, with state in Redis.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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
        from workflows.cli import limits

        limits.register(commands)
    render.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
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
