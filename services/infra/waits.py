"""Redis side of waits: the correlation index, the early-signal buffer, delivery.

- `{p}:waits:{type}:{correlation}` (set, TTL `state_ttl_s`): ids of executions waiting
  for that event with that correlation.
- `{p}:sigbuf:{type}:{correlation}` (hash, TTL `signal_buffer_s`): signal id -> signal JSON
  that no execution was waiting for when it arrived.
- Outside the namespace `default`, `{type}` is `<namespace>~<type>`: an execution waits only
  for signals sent with a key of its own workflow's namespace.
- `{p}:sigbuf:exec:{<id>}` (hash, TTL what is left of `signal_buffer_s`): signal id ->
  signal JSON sent to the execution before any of its steps waited for it.

Delivery (`deliver_event_to_waits`) looks the correlation up; when no execution waits yet
the signal is buffered, then the index is read again (a wait registering in between reads
the buffer too, so the signal is delivered at least once; the engine drops repeats by
signal id). When the orchestrator flushes a wait's outbox entry (`register_wait`) it
indexes the wait and re-publishes every buffered signal that may match, still within the
window measured from when the signal was first received.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from workflows.contracts import Actor, SignalExecution, encode
from workflows.contracts.topics import Topics
from workflows.services.core.namespaces import DEFAULT_NAMESPACE, SEPARATOR
from workflows.services.infra.kafka import Bus
from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.settings import Settings

__all__ = [
    "buffer_signal",
    "deliver_event_to_waits",
    "register_wait",
    "signal_message",
]


def _scoped(namespace: str, event_type: str) -> str:
    """The event type as indexed for `namespace`: waits and signals never cross namespaces."""
    return event_type if namespace == DEFAULT_NAMESPACE else f"{namespace}{SEPARATOR}{event_type}"


def _index_key(settings: Settings, event_type: str, correlation: str, namespace: str) -> str:
    return Keys(settings.key_prefix).waits(_scoped(namespace, event_type), correlation)


def _buffer_key(settings: Settings, event_type: str, correlation: str, namespace: str) -> str:
    return Keys(settings.key_prefix).signal_buffer(_scoped(namespace, event_type), correlation)


def _execution_buffer_key(settings: Settings, execution_id: str) -> str:
    return Keys(settings.key_prefix).execution_signals(execution_id)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def signal_message(
    execution_id: str,
    name: str,
    payload: Any,
    *,
    correlation: str | None = None,
    step_id: str | None = None,
    signal_id: str | None = None,
    sent_at: datetime | None = None,
    actor: Actor | None = None,
) -> SignalExecution:
    return SignalExecution(
        execution_id=execution_id,
        name=name,
        payload=payload,
        correlation=correlation,
        step_id=step_id,
        signal_id=signal_id or uuid4().hex,
        sent_at=sent_at or datetime.now(UTC),
        actor=actor or Actor(kind="system"),
    )


def _remaining_s(settings: Settings, sent_at: str | None) -> int:
    """Seconds the buffer window still has for a signal first received at `sent_at`."""
    age = 0.0
    if sent_at:
        age = (datetime.now(UTC) - datetime.fromisoformat(sent_at)).total_seconds()
    return int(settings.signal_buffer_s - age + 0.999)


async def deliver_event_to_waits(
    redis: RedisClient,
    bus: Bus,
    settings: Settings,
    event_type: str,
    payload: Any,
    correlation: str,
    *,
    signal_id: str | None = None,
    actor: Actor | None = None,
    namespace: str = DEFAULT_NAMESPACE,
) -> tuple[list[str], bool]:
    """Publish the event to every execution of `namespace` waiting for (type, correlation).

    Returns (execution ids it was published to, whether it was buffered). The caller
    flushes the bus.
    """
    signal_id = signal_id or uuid4().hex
    sent_at = datetime.now(UTC)
    waiting = await redis.smembers(_index_key(settings, event_type, correlation, namespace))
    buffered = False
    if not waiting:
        record = {
            "name": event_type,
            "payload": payload,
            "correlation": correlation,
            "signalId": signal_id,
            "sentAt": sent_at.isoformat(),
            "actor": actor.model_dump(mode="json") if actor else None,
        }
        key = _buffer_key(settings, event_type, correlation, namespace)
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, signal_id, json.dumps(record))
            pipe.expire(key, max(int(settings.signal_buffer_s), 1))
            await pipe.execute()
        buffered = True
        waiting = await redis.smembers(_index_key(settings, event_type, correlation, namespace))
    targets = sorted(_text(m) for m in waiting)
    for execution_id in targets:
        message = signal_message(
            execution_id,
            event_type,
            payload,
            correlation=correlation,
            signal_id=signal_id,
            sent_at=sent_at,
            actor=actor,
        )
        await bus.publish(bus.topics.control, encode(message), execution_id)
    return targets, buffered


async def register_wait(
    redis: RedisClient,
    bus: Bus,
    settings: Settings,
    topics: Topics,
    execution_id: str,
    events: Iterable[str],
    correlation: str | None,
    namespace: str = DEFAULT_NAMESPACE,
) -> int:
    """Index the wait (in the execution's namespace) and re-publish the buffered signals it
    may want; how many."""
    events = list(events)
    sources = [_execution_buffer_key(settings, execution_id)]
    if correlation is not None:
        async with redis.pipeline(transaction=False) as pipe:
            for event_type in events:
                key = _index_key(settings, event_type, correlation, namespace)
                pipe.sadd(key, execution_id)
                pipe.expire(key, settings.state_ttl_s)
            await pipe.execute()
        sources += [_buffer_key(settings, t, correlation, namespace) for t in events]
    sent = 0
    for key in sources:
        for raw in (await redis.hgetall(key)).values():
            record = json.loads(raw)
            if record["name"] not in events or _remaining_s(settings, record.get("sentAt")) <= 0:
                continue
            actor = Actor.model_validate(record["actor"]) if record.get("actor") else None
            sent_at = record.get("sentAt")
            message = signal_message(
                execution_id,
                record["name"],
                record.get("payload"),
                correlation=record.get("correlation"),
                step_id=record.get("stepId"),
                signal_id=record["signalId"],
                sent_at=datetime.fromisoformat(sent_at) if sent_at else None,
                actor=actor,
            )
            await bus.publish(topics.control, encode(message), execution_id)
            sent += 1
    return sent


async def buffer_signal(
    redis: RedisClient, settings: Settings, execution_id: str, signal: dict[str, Any]
) -> None:
    """Keep a signal no step of the execution waits for yet, for the rest of its window."""
    remaining = _remaining_s(settings, signal.get("sentAt"))
    if remaining <= 0:
        return
    key = _execution_buffer_key(settings, execution_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, signal["signalId"], json.dumps(signal))
        pipe.expire(key, remaining)
        await pipe.execute()
