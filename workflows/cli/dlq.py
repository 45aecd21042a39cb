"""`workflows dlq list|replay`: inspect and re-drive messages on the dead-letter topic.

Without WORKFLOWS_KAFKA_BOOTSTRAP / WORKFLOWS_REDIS_URL it uses those of a running
`workflows dev` (and says so).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from workflows.cli.devstate import dev_settings
from workflows.services.infra.dead_letters import (
    DeadLetterEntry,
    read_dead_letters,
    replay_dead_letters,
)
from workflows.services.infra.kafka import wait_for_broker
from workflows.services.infra.redis_client import connect_redis, wait_for_redis
from workflows.services.infra.settings import Settings

__all__ = ["register"]


def _row(entry: DeadLetterEntry) -> str:
    letter = entry.letter
    if letter is None:
        return f"{entry.ref:<10} {'?':<28} {'?':<12} {'':<32} {entry.problem}"
    when = letter.occurred_at.strftime("%Y-%m-%d %H:%M:%S")
    execution = letter.execution_id or "-"
    return (
        f"{entry.ref:<10} {when:<20} {letter.source_topic:<28} {letter.error_type:<12} "
        f"{execution:<32} {letter.reason}"
    )


async def _read(settings: Settings, limit: int) -> list[DeadLetterEntry]:
    await wait_for_broker(settings.kafka_bootstrap, timeout_s=0)  # one try: a person waits
    return await read_dead_letters(settings, limit)


def cmd_list(args: argparse.Namespace) -> int:
    entries = asyncio.run(_read(dev_settings("kafka_bootstrap"), args.limit))
    if not entries:
        print("the dead-letter topic is empty")
        return 0
    header = f"{'REF':<10} {'WHEN':<20} {'SOURCE TOPIC':<28} {'TYPE':<12} {'EXECUTION':<32} REASON"
    print(header)
    for entry in entries:
        print(_row(entry))
    return 0


async def _replay(args: argparse.Namespace) -> int:
    settings = dev_settings("kafka_bootstrap", "redis_url")
    entries = await _read(settings, limit=1_000_000)
    if not args.all:
        wanted = set(args.refs)
        entries = [e for e in entries if e.ref in wanted]
        missing = wanted - {e.ref for e in entries}
        if missing:
            print(f"error: no dead letter {', '.join(sorted(missing))} (see `workflows dlq list`)")
            return 1
    redis = connect_redis(settings)
    try:
        await wait_for_redis(redis, settings.redis_url, timeout_s=0)
        for entry, outcome in await replay_dead_letters(settings, redis, entries, args.force):
            print(f"{entry.ref:<10} {outcome}")
    finally:
        await redis.aclose()
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    if not args.refs and not args.all:
        print("error: name entries as PARTITION:OFFSET, or pass --all")
        return 2
    return asyncio.run(_replay(args))


def register(commands: Any) -> None:
    dlq = commands.add_parser("dlq", help="inspect and re-drive the dead-letter topic")
    sub = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    ls = sub.add_parser("list", help="dead letters with their reason (moves no offsets)")
    ls.add_argument("--limit", type=int, default=1000)
    ls.set_defaults(handler=cmd_list)
    rp = sub.add_parser("replay", help="publish the original messages to their topics again")
    rp.add_argument("refs", nargs="*", metavar="PARTITION:OFFSET")
    rp.add_argument("--all", action="store_true", help="every entry on the topic")
    rp.add_argument("--force", action="store_true", help="replay entries replayed before")
    rp.set_defaults(handler=cmd_replay)
