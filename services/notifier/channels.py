"""Notification channels: who to tell about an execution event, and signed webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
import structlog

from workflows.contracts import LifecycleEvent
from workflows.services.core.kpis import format_kpi

__all__ = [
    "NOTIFIED_EVENTS",
    "WebhookChannel",
    "kpi_values",
    "recipients",
    "sign",
    "webhook_payload",
]

log = structlog.get_logger(__name__)

# event type -> the execution's `notifications` list it goes to
NOTIFIED_EVENTS: dict[str, str] = {
    "execution.started": "onStart",
    "execution.completed": "onComplete",
    "execution.failed": "onFailure",
    "execution.cancelled": "onFailure",
    "execution.timed_out": "onFailure",
}
_RETRYABLE_STATUS = frozenset({408, 425, 429})


def webhook_payload(
    event: LifecycleEvent, dashboard_url: str, units: Mapping[str, str | None] | None = None
) -> dict[str, Any]:
    """The JSON body a webhook receives for one lifecycle event; an ended execution's carries
    its KPIs, `{name: {value, unit, text}}` (`text` as a person reads it: `50 %`), and
    `kpisMissing` `{name: why}` for those without a number."""
    payload = {
        "event": event.type,
        "executionId": event.execution_id,
        "workflow": event.workflow,
        "status": event.status,
        "durationMs": event.data.get("durationMs"),
        "error": event.data.get("error"),
        "link": f"{dashboard_url.rstrip('/')}/#/executions/{event.execution_id}",
    }
    kpis = event.data.get("kpis")
    if isinstance(kpis, dict):
        payload["kpis"] = kpi_values(kpis, units or {})
        missing = event.data.get("kpisMissing")
        if isinstance(missing, dict) and missing:
            payload["kpisMissing"] = {str(k): str(v) for k, v in missing.items()}
    return payload


def kpi_values(
    kpis: Mapping[str, Any], units: Mapping[str, str | None]
) -> dict[str, dict[str, Any]]:
    """`{name: {value, unit, text}}` for the numeric KPIs of an ended execution."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in kpis.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            unit = units.get(name)
            out[str(name)] = {"value": value, "unit": unit, "text": format_kpi(value, unit)}
    return out


def recipients(
    event_type: str, notifications: dict[str, list[str]] | None, always: Iterable[str]
) -> tuple[list[str], list[str]]:
    """(webhook URLs, e-mail addresses) for an event, without duplicates, in order."""
    urls = list(dict.fromkeys(always))
    emails: list[str] = []
    listed = (notifications or {}).get(NOTIFIED_EVENTS.get(event_type, ""), [])
    for recipient in listed:
        kind, _, target = recipient.partition(":")
        if kind == "webhook" and target and target not in urls:
            urls.append(target)
        elif kind == "email" and target:
            emails.append(target)
        elif "@" in recipient and ":" not in recipient:  # a bare e-mail address
            emails.append(recipient)
        else:
            log.warning("unknown_recipient", recipient=recipient)
    return urls, emails


def sign(secret: str, timestamp: str, body: str) -> str:
    """`sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class WebhookChannel:
    """POSTs signed JSON, retrying transient failures with exponential backoff."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        secret: str = "",
        *,
        attempts: int = 4,
        backoff_s: float = 0.5,
        timeout_s: float = 10.0,
    ) -> None:
        self.client = client
        self.secret = secret
        self.attempts = max(attempts, 1)
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s

    def headers(self, body: str) -> dict[str, str]:
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Workflows-Timestamp": timestamp}
        if self.secret:
            headers["X-Workflows-Signature"] = sign(self.secret, timestamp, body)
        return headers

    async def deliver(self, url: str, payload: dict[str, Any]) -> bool:
        """True once the receiver answered 2xx; False after the last failed attempt."""
        body = json.dumps(payload, separators=(",", ":"))
        bound = log.bind(
            url=url, execution_id=payload.get("executionId"), event_type=payload["event"]
        )
        for attempt in range(1, self.attempts + 1):
            retryable, problem = await self._post(url, body)
            if problem is None:
                bound.info("webhook_delivered", attempt=attempt)
                return True
            if not retryable or attempt == self.attempts:
                bound.warning("webhook_failed", attempt=attempt, problem=problem)
                return False
            bound.info("webhook_retrying", attempt=attempt, problem=problem)
            await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        return False

    async def _post(self, url: str, body: str) -> tuple[bool, str | None]:
        """(retryable, problem); problem is None on success. Signed afresh per attempt."""
        try:
            response = await self.client.post(
                url, content=body, headers=self.headers(body), timeout=self.timeout_s
            )
        except httpx.HTTPError as exc:
            return True, f"{type(exc).__name__}: {exc}"
        status = response.status_code
        if 200 <= status < 300:
            return False, None
        return status >= 500 or status in _RETRYABLE_STATUS, f"HTTP {status}"
