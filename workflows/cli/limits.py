"""`workflows limits [set|clear]`: list limits and their holders, declare function limits.

    workflows limits                                  # every limit and who holds its slots
    workflows limits set chargeCard --concurrency 2 --rate 10 --per 1
    workflows limits clear chargeCard

Talks to a running trigger service (`--url`, env `WORKFLOWS_API_URL`) with the API key of
`--api-key` or env `WORKFLOWS_API_KEY`: listing needs the `read` scope, changes `admin`.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import httpx

from workflows.cli.common import DEFAULT_URL
from workflows.cli.failures import CliFailure, trigger_hint
from workflows.cli.render import table

__all__ = ["limits_table", "register"]


def _setting(limit: dict[str, Any]) -> str:
    parts = []
    if limit.get("concurrency") is not None:
        parts.append(f"concurrency {limit['concurrency']}")
    rate = limit.get("rateLimit")
    if rate:
        parts.append(f"{rate['limit']} per {rate['periodSeconds']:g} s")
    return ", ".join(parts) or "-"


def limits_table(view: dict[str, Any]) -> str:
    """One row per slot holder (or one row for a limit nobody holds), then the parked count."""
    rows: list[list[Any]] = []
    for fn in view.get("functions", []):
        held = [("lease", h) for h in fn["holders"]] + [("rate", h) for h in fn["inWindow"]]
        for kind, h in held or [("", None)]:
            rows.append(
                [
                    f"function {fn['name']}",
                    _setting(fn["limit"]),
                    kind or "-",
                    h["holder"] if h else "-",
                    h["expiresAt"] if h else "-",
                ]
            )
    for wf in view.get("workflows", []):
        setting = _setting({"rateLimit": wf["rateLimit"]})
        for h in wf["inWindow"] or [None]:
            rows.append(
                [
                    f"workflow {wf['name']}",
                    setting,
                    "rate" if h else "-",
                    h["holder"] if h else "-",
                    h["expiresAt"] if h else "-",
                ]
            )
    if not rows:
        return f"no limits declared; {view.get('parked', 0)} command(s) parked"
    body = table(["limit", "setting", "slot", "holder", "until"], rows)
    return f"{body}\n{view.get('parked', 0)} command(s) parked, waiting for a slot"


def _client(args: argparse.Namespace) -> httpx.Client:
    key = args.api_key if args.api_key is not None else os.environ.get("WORKFLOWS_API_KEY", "")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=args.url, headers=headers, timeout=30.0)


def _answer(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: {message}")
    return response.json() if response.content else None


def _run(args: argparse.Namespace) -> int:
    try:
        with _client(args) as http:
            if args.limits_command == "set":
                body: dict[str, Any] = {"leaseSeconds": args.lease_seconds}
                if args.concurrency is not None:
                    body["concurrency"] = args.concurrency
                if args.rate is not None:
                    body["rateLimit"] = {"limit": args.rate, "periodSeconds": args.per}
                print(json.dumps(_answer(http.put(f"/limits/functions/{args.name}", json=body))))
            elif args.limits_command == "clear":
                _answer(http.delete(f"/limits/functions/{args.name}"))
                print(f"function {args.name}: no limits")
            else:
                view = _answer(http.get("/limits"))
                print(json.dumps(view, indent=2) if args.json else limits_table(view))
    except httpx.TransportError as exc:
        raise CliFailure(f"{trigger_hint(args.url)} ({exc or type(exc).__name__})") from None
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"error: {exc}")
        return 1
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=DEFAULT_URL, help="trigger service (WORKFLOWS_API_URL)")
    parser.add_argument("--api-key", help="API key (default: env WORKFLOWS_API_KEY)")


def register(commands: Any) -> None:
    limits = commands.add_parser("limits", help="concurrency and rate limits, and their holders")
    _common(limits)
    limits.add_argument("--json", action="store_true", help="print the raw JSON")
    limits.set_defaults(handler=_run, limits_command=None)
    sub = limits.add_subparsers(dest="limits_command", metavar="ACTION")
    put = sub.add_parser("set", help="declare or replace a function's limits")
    _common(put)
    put.add_argument("name", help="the function")
    put.add_argument("--concurrency", type=int, help="calls running at once, all replicas")
    put.add_argument("--rate", type=int, help="calls started per --per seconds")
    put.add_argument("--per", type=float, default=1.0, help="the rate's period, seconds")
    put.add_argument("--lease-seconds", type=int, default=30, help="a dead holder's slot frees")
    clear = sub.add_parser("clear", help="remove a function's limits")
    _common(clear)
    clear.add_argument("name", help="the function")
