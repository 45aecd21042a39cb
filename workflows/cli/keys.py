"""`workflows keys create|list|revoke`: API keys, written straight to Redis (an operator's tool).

Reads `WORKFLOWS_REDIS_URL` and `WORKFLOWS_KEY_PREFIX` like the services do; without
`WORKFLOWS_REDIS_URL` it uses the Redis of a running `workflows dev` (and says so). The token is
printed once, by `create`; Redis keeps only its SHA-256.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from workflows.cli.devstate import dev_settings
from workflows.services.core.namespaces import NamespaceError
from workflows.services.infra.api_keys import SCOPES, ApiKey, ApiKeyStore, parse_scope
from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import connect_redis, wait_for_redis

__all__ = ["register"]


async def _with_store(action: Any) -> Any:
    settings = dev_settings("redis_url")
    redis = connect_redis(settings)
    try:
        await wait_for_redis(redis, settings.redis_url, timeout_s=0)  # one try: a person waits
        return await action(ApiKeyStore(redis, Keys(settings.key_prefix)))
    finally:
        await redis.aclose()


def _row(key: ApiKey) -> str:
    state = f"revoked {key.revoked_at[:19]}" if key.revoked_at else "active"
    scopes = ",".join(key.scopes)
    return f"{key.id:<14} {key.namespace:<16} {scopes:<20} {state:<28} {key.name}"


def cmd_create(args: argparse.Namespace) -> int:
    try:
        scopes = [parse_scope(s) for s in args.scope]
        created = asyncio.run(
            _with_store(
                lambda store: store.create(args.namespace, scopes, args.name, args.approver)
            )
        )
    except (ValueError, NamespaceError) as exc:
        print(f"error: {exc}")
        return 2
    if args.json:
        print(json.dumps({**created.key.wire(), "token": created.token}, indent=2))
    else:
        key = created.key
        print(f"created API key {key.id} (namespace {key.namespace}, {','.join(key.scopes)})")
        print(created.token)
        print("keep it now: it is not shown again (send it as `Authorization: Bearer <key>`)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    keys: list[ApiKey] = asyncio.run(_with_store(lambda store: store.list_keys()))
    if args.json:
        print(json.dumps([k.wire() for k in keys], indent=2))
        return 0
    if not keys:
        print("no API keys: create one with `workflows keys create --scope admin`")
        return 0
    print(f"{'ID':<14} {'NAMESPACE':<16} {'SCOPES':<20} {'STATE':<28} NAME")
    for key in keys:
        print(_row(key))
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    key = asyncio.run(_with_store(lambda store: store.revoke(args.id)))
    if key is None:
        print(f"error: no API key {args.id} (see `workflows keys list`)")
        return 1
    print(f"revoked API key {key.id} at {key.revoked_at}")
    return 0


def register(commands: Any) -> None:
    keys = commands.add_parser("keys", help="create, list and revoke API keys (writes to Redis)")
    sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="a new key; its token is printed once")
    create.add_argument("--namespace", default="default", help="the tenant it can see")
    create.add_argument(
        "--scope",
        action="append",
        choices=SCOPES,
        required=True,
        help="read, execute (implies read) or admin (implies both); repeatable",
    )
    create.add_argument("--name", default="", help="what the key is for")
    create.add_argument(
        "--approver",
        default=None,
        metavar="NAME",
        help="bind the key to this approver: it decides approvals as NAME only",
    )
    create.add_argument("--json", action="store_true", help="print the record and token as JSON")
    create.set_defaults(handler=cmd_create)
    ls = sub.add_parser("list", help="every key (never the tokens)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=cmd_list)
    revoke = sub.add_parser("revoke", help="a revoked key is refused (401) from the next request")
    revoke.add_argument("id", metavar="KEY_ID")
    revoke.set_defaults(handler=cmd_revoke)
