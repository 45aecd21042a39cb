"""The e-mail channel: a plain-text message per recipient over SMTP (aiosmtplib).

Configured by `smtp_host`, `smtp_port`, `smtp_tls` (`none`, `starttls` or `tls`),
`smtp_username`/`smtp_password` (both or neither) and `smtp_from`. The message names the
workflow, the execution, its status and duration and links to the dashboard
(`{dashboard_url}/#/executions/{id}`). A failed send is retried with exponential backoff;
after the last attempt it is logged and recorded in Redis (`{p}:notify:failed`, the newest
1000, and the counters in `{p}:notify:counts`). Nothing here can fail or block a workflow:
the notifier only reads lifecycle events.

Recipients merge three sources (`merge_notifications`): the workflow definition's
`notifications`, and the execution's own (a schedule's, or the start request's).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import structlog

from workflows.contracts import LifecycleEvent
from workflows.contracts.base import utc_now
from workflows.services.core.kpis import kpi_lines
from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.settings import Settings

__all__ = ["EmailChannel", "email_message", "merge_notifications"]

log = structlog.get_logger(__name__)
FAILED_KEEP = 1000
_KINDS = ("onStart", "onComplete", "onFailure")


def merge_notifications(*sources: Any) -> dict[str, list[str]] | None:
    """`{onStart, onComplete, onFailure}` lists merged in order, without duplicates."""
    merged: dict[str, list[str]] = {}
    for source in sources:
        if not isinstance(source, dict):
            continue
        for kind in _KINDS:
            listed = source.get(kind)
            if isinstance(listed, list):
                bucket = merged.setdefault(kind, [])
                bucket.extend(r for r in listed if isinstance(r, str) and r not in bucket)
    return merged or None


def _duration(ms: Any) -> str:
    if not isinstance(ms, int | float):
        return "-"
    seconds = ms / 1000
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def email_message(
    event: LifecycleEvent,
    sender: str,
    to: str,
    dashboard_url: str,
    units: Mapping[str, str | None] | None = None,
) -> EmailMessage:
    """The message about one lifecycle event (an ended execution's with its KPIs and units)."""
    happened = event.type.split(".")[-1]  # started, completed, failed, cancelled, timed_out
    status = event.status or happened
    link = f"{dashboard_url.rstrip('/')}/#/executions/{event.execution_id}"
    lines = [
        f"Workflow:   {event.workflow} (version {event.workflow_version})",
        f"Execution:  {event.execution_id}",
        f"Status:     {status}",
        f"Duration:   {_duration(event.data.get('durationMs'))}",
        f"At:         {event.occurred_at.isoformat()}",
    ]
    error = event.data.get("error")
    if isinstance(error, dict):
        lines.append(f"Error:      {error.get('type', 'Error')}: {error.get('message', '')}")
    kpis, missing = event.data.get("kpis"), event.data.get("kpisMissing")
    if isinstance(kpis, dict) and (kpis or missing):
        values = {k: float(v) for k, v in kpis.items() if isinstance(v, int | float)}
        gaps = {str(k): str(v) for k, v in missing.items()} if isinstance(missing, dict) else {}
        lines += ["KPIs:", *kpi_lines(values, gaps, units or {}, indent="  ")]
    lines += ["", f"Details: {link}", ""]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = f"[workflows] {event.workflow} {happened}: {event.execution_id}"
    message["X-Workflows-Execution-Id"] = event.execution_id
    message["X-Workflows-Event"] = event.type
    message.set_content("\n".join(lines))
    return message


class EmailChannel:
    """Sends over SMTP, retrying with exponential backoff, recording what never got through."""

    def __init__(
        self,
        settings: Settings,
        redis: RedisClient,
        *,
        attempts: int = 4,
        backoff_s: float = 0.5,
        timeout_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.attempts = max(attempts, 1)
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s

    @property
    def failed_key(self) -> str:
        return Keys(self.settings.key_prefix).email_failed

    @property
    def counts_key(self) -> str:
        return Keys(self.settings.key_prefix).notify_counts

    async def deliver(
        self, event: LifecycleEvent, to: str, units: Mapping[str, str | None] | None = None
    ) -> bool:
        """True once the server accepted the message; False (recorded) after the last attempt."""
        s = self.settings
        message = email_message(event, s.smtp_from, to, s.dashboard_url, units)
        bound = log.bind(to=to, execution_id=event.execution_id, event_type=event.type)
        problem = ""
        for attempt in range(1, self.attempts + 1):
            try:
                await aiosmtplib.send(
                    message,
                    hostname=s.smtp_host,
                    port=s.smtp_port,
                    use_tls=s.smtp_tls == "tls",
                    start_tls=s.smtp_tls == "starttls",
                    username=s.smtp_username or None,
                    password=s.smtp_password or None,
                    timeout=self.timeout_s,
                )
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
                if attempt < self.attempts:
                    bound.info("email_retrying", attempt=attempt, problem=problem)
                    await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
                continue
            bound.info("email_delivered", attempt=attempt)
            await self._count("email.delivered")
            return True
        bound.warning("email_failed", attempts=self.attempts, problem=problem)
        await self._record(event, to, problem)
        return False

    async def _count(self, name: str) -> None:
        try:
            await self.redis.hincrby(self.counts_key, name, 1)
        except Exception:  # a counter is not worth failing over
            log.warning("notify_count_failed", counter=name)

    async def _record(self, event: LifecycleEvent, to: str, problem: str) -> None:
        entry = {
            "channel": "email",
            "recipient": to,
            "executionId": event.execution_id,
            "workflow": event.workflow,
            "event": event.type,
            "error": problem,
            "attempts": self.attempts,
            "at": utc_now().isoformat(),
        }
        try:
            # two keys in two slots on a cluster: pipelined, not MULTI (nothing reads both)
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.lpush(self.failed_key, json.dumps(entry))
                pipe.ltrim(self.failed_key, 0, FAILED_KEEP - 1)
                pipe.hincrby(self.counts_key, "email.failed", 1)
                await pipe.execute()
        except Exception:
            log.exception("notify_failure_unrecorded", **entry)
