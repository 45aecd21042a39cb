"""What the CLI prints instead of a traceback: one line naming what failed and what to do.

    CliFailure                 raised by a command with the whole line
    explain(exc) -> str|None   the line for a known failure from below:
        BrokerUnavailable      workflows.services.infra.kafka (the start-up retry gave up)
        RedisUnavailable       workflows.services.infra.redis_client (the start-up retry gave up)
        KafkaConnectionError   aiokafka, a broker gone while a command ran
        redis ConnectionError  redis-py, Redis gone while a command ran
        httpx.TransportError   the trigger service's HTTP API cannot be reached
        OSError EADDRINUSE     a port is taken

`main` prints `error: <line>` on stderr and exits 1; anything else (a bug) keeps its traceback.
A failure inside a TaskGroup arrives as an ExceptionGroup: its first explained leaf is used.
"""

from __future__ import annotations

import errno
import os

__all__ = ["BROKER_HINT", "REDIS_HINT", "CliFailure", "explain", "trigger_hint"]

BROKER_HINT = (
    "start a broker (`make kafka`, or `workflows dev` and its export lines) "
    "or set WORKFLOWS_KAFKA_BOOTSTRAP"
)
REDIS_HINT = (
    "start redis-server (or `workflows dev` and its export lines) or set WORKFLOWS_REDIS_URL"
)


class CliFailure(Exception):
    """A command cannot go on; `str(exc)` is the whole line to print (after `error: `)."""


def trigger_hint(url: str) -> str:
    return (
        f"cannot reach the trigger service at {url}: start it (`workflows dev`, or "
        "`workflows run trigger`) or pass --url / set WORKFLOWS_API_URL"
    )


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _explain_one(exc: BaseException) -> str | None:
    import httpx
    import redis.exceptions
    from aiokafka.errors import KafkaConnectionError

    from workflows.services.infra.kafka import BrokerUnavailable
    from workflows.services.infra.redis_client import RedisUnavailable

    if isinstance(exc, CliFailure):
        return str(exc)
    if isinstance(exc, BrokerUnavailable):
        return f"{exc}; {BROKER_HINT}"
    if isinstance(exc, RedisUnavailable):
        return f"{exc}; {REDIS_HINT}"
    if isinstance(exc, KafkaConnectionError):
        bootstrap = os.environ.get("WORKFLOWS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
        return f"lost the Kafka broker at {bootstrap} ({exc}); {BROKER_HINT}"
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return f"cannot reach Redis ({exc}); {REDIS_HINT}"
    if isinstance(exc, httpx.TransportError):
        try:
            url = exc.request.url
            where = f"{url.scheme}://{url.netloc.decode()}"
        except RuntimeError:  # no request attached
            where = os.environ.get("WORKFLOWS_API_URL", "the API")
        return f"{trigger_hint(where)} ({exc or type(exc).__name__})"
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return f"a port is already in use ({exc.strerror}): stop what holds it or choose another"
    return None


def explain(exc: BaseException) -> str | None:
    """The one line for `exc` (or the first explained exception of a group); None: a bug."""
    for leaf in _leaves(exc):
        line = _explain_one(leaf)
        if line is not None:
            return line
    return None
