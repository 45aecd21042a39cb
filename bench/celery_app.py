"""The Celery peer: the same no-op steps as tasks (`celery -A bench.celery_app worker`).

Broker and result backend are one dedicated redis-server (URL in BENCH_CELERY_REDIS).
The last task of a chain (or the chord callback) publishes the run id on the Redis
channel `bench:done`; the driver timestamps it on receipt, so no result polling is timed.
"""

from __future__ import annotations

import os
from typing import Any

import redis
from celery import Celery

URL = os.environ.get("BENCH_CELERY_REDIS", "redis://127.0.0.1:6379/0")
DONE_CHANNEL = "bench:done"

app = Celery("bench", broker=URL, backend=URL)
app.conf.update(
    task_acks_late=True,  # ack after the task ran: at-least-once, like our commit-after-ack
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
_done = redis.Redis.from_url(URL)


@app.task(name="bench.noop")  # type: ignore[untyped-decorator]
def noop(run_id: str, size: int = 0) -> dict[str, Any]:
    return {"blob": "x" * size} if size else {}


@app.task(name="bench.last")  # type: ignore[untyped-decorator]
def last(run_id: str, size: int = 0) -> dict[str, Any]:
    _done.publish(DONE_CHANNEL, run_id)
    return {"blob": "x" * size} if size else {}
