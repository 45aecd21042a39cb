"""HTTP functions: steps run by POSTing their input to a declared URL.

A declaration (`StateStore.declare_function(name, spec)`) is JSON like
`{"url": "https://...", "method": "POST", "timeoutMs": 5000, "headers": {...}}`
(the input is sent as the JSON body; GET and DELETE send none).
2xx -> ok with the JSON body as output; 5xx, 408, 425, 429, timeouts and connection
errors -> retryable; any other status -> final. An error body `{"type", "message"}` (or
`{"error": {"type", "message"}}`) names the error.

Header values may reference secrets as `${secret:NAME}`: resolved at call time from the
environment (`WORKFLOWS_SECRET_<NAME>`) or the JSON object in `Settings.secrets_file`; a
missing one is a final `MissingSecret` error naming it. The result's `call`
(`{method, url, status, durationMs}`) reaches the audit trail; header values never do, and
resolved secret values, and any 6 or more characters of them, are scrubbed from error messages
and from the output (services/core/redaction.py).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog

from workflows.contracts import StepCommand, StepError, StepResult
from workflows.services.core.redaction import redact, redact_text
from workflows.services.functions.registry import step_result
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import StateStore

__all__ = ["HttpFunctions", "call_http_function"]

log = structlog.get_logger(__name__)
RETRYABLE_4XX = frozenset({408, 425, 429})
_MAX_ERROR_TEXT = 500
_BODYLESS = frozenset({"GET", "DELETE"})
_SECRET_REF = re.compile(r"\$\{secret:([A-Za-z0-9_.-]+)\}")
SECRET_ENV_PREFIX = "WORKFLOWS_SECRET_"


class HttpFunctions:
    """The declared HTTP functions, read from Redis and refreshed every `refresh_s` seconds.

    An unknown name refreshes sooner (at most every `miss_refresh_s`), so a function
    declared just before its first use is not forwarded to a topic nobody reads. One read
    runs at a time, shared by every caller; a known name answers at once (a stale table is
    read again in the background), so a lookup costs no Redis round trip per command.
    """

    def __init__(
        self, store: StateStore, refresh_s: float = 5.0, miss_refresh_s: float = 0.5
    ) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self.miss_refresh_s = miss_refresh_s
        self._specs: dict[str, dict[str, Any]] = {}
        self._loaded_at: float | None = None
        self._reading: asyncio.Task[None] | None = None

    async def specs(self, max_age_s: float | None = None) -> dict[str, dict[str, Any]]:
        max_age = self.refresh_s if max_age_s is None else max_age_s
        if self._age() >= max_age:
            await asyncio.shield(self._read())
        return self._specs

    async def get(self, name: str) -> dict[str, Any] | None:
        spec = self._specs.get(name) if self._loaded_at is not None else None
        if spec is not None:
            if self._age() >= self.refresh_s:
                self._read()  # in the background; the known spec answers now
            return spec
        return (await self.specs(self.miss_refresh_s)).get(name)

    def _age(self) -> float:
        return math.inf if self._loaded_at is None else time.monotonic() - self._loaded_at

    def _read(self) -> asyncio.Task[None]:
        if self._reading is None or self._reading.done():
            self._reading = asyncio.create_task(self._load())
        return self._reading

    async def _load(self) -> None:
        began = time.monotonic()
        try:
            self._specs = await self.store.http_functions()
        except Exception:  # keep the last known declarations if Redis hiccups
            log.exception("http_functions_refresh_failed")
            if self._loaded_at is None:
                raise
        self._loaded_at = began


async def call_http_function(
    client: httpx.AsyncClient,
    spec: dict[str, Any],
    command: StepCommand,
    settings: Settings,
    *,
    worker_id: str | None = None,
) -> StepResult:
    """Send the step input to the function's URL and turn the response into a StepResult."""
    started = datetime.now(UTC)
    bound = log.bind(execution_id=command.execution_id, step_id=command.step_id)
    method = str(spec.get("method") or "POST").upper()
    call: dict[str, Any] = {"method": method, "url": spec.get("url"), "status": None}
    secrets: list[str] = []
    clock = time.monotonic()
    try:
        output = await _post(client, spec, command, settings, call, secrets)
    except _Failed as failed:
        call["durationMs"] = round((time.monotonic() - clock) * 1000)
        scrub = tuple(sorted(set(secrets), key=len, reverse=True))  # echoed, whole or in part
        error = failed.error.model_copy(
            update={
                "message": redact_text(failed.error.message, scrub),
                "details": redact(failed.error.details, scrub),
            }
        )
        bound.info("http_function_failed", type=error.type, error=error.message, **call)
        result = step_result(command, started, worker_id, error=error)
        return result.model_copy(update={"call": call})
    call["durationMs"] = round((time.monotonic() - clock) * 1000)
    bound.info("http_function_called", **call)
    # a server echoing a secret (whole or any 6+ characters of it) must not store it
    output = redact(output, tuple(sorted(set(secrets), key=len, reverse=True)))
    result = step_result(command, started, worker_id, output=output)
    return result.model_copy(update={"call": call})


def _secret(name: str, settings: Settings) -> str:
    value = os.environ.get(SECRET_ENV_PREFIX + name)
    if value is not None:
        return value
    if settings.secrets_file:
        try:
            with open(settings.secrets_file, encoding="utf-8") as fh:
                stored = json.load(fh)
        except (OSError, ValueError) as exc:
            raise _Failed(
                "SecretsFileError",
                f"cannot read the secrets file {settings.secrets_file}: {type(exc).__name__}",
                False,
            ) from None
        if not isinstance(stored, dict):
            raise _Failed("SecretsFileError", "the secrets file must hold a JSON object", False)
        if isinstance(stored.get(name), str):
            return str(stored[name])
    raise _Failed(
        "MissingSecret",
        f"secret {name!r} is not set ({SECRET_ENV_PREFIX}{name} or the secrets file)",
        False,
        secret=name,
    )


def _resolve_headers(raw: dict[str, Any], settings: Settings, secrets: list[str]) -> dict[str, str]:
    """Header values with `${secret:NAME}` replaced; the resolved values go to `secrets`."""

    def resolve(match: re.Match[str]) -> str:
        value = _secret(match.group(1), settings)
        secrets.append(value)
        return value

    return {str(k): _SECRET_REF.sub(resolve, str(v)) for k, v in raw.items()}


class _Failed(Exception):
    def __init__(self, type_: str, message: str, retryable: bool, **details: Any) -> None:
        super().__init__(message)
        self.error = StepError(
            type=type_, message=message, retryable=retryable, details=details or None
        )


async def _post(
    client: httpx.AsyncClient,
    spec: dict[str, Any],
    command: StepCommand,
    settings: Settings,
    call: dict[str, Any],
    secrets: list[str],
) -> Any:
    url = spec.get("url")
    if not isinstance(url, str) or not url:
        raise _Failed("InvalidFunctionSpec", f"function {command.function!r} has no url", False)
    timeout = _timeout_s(spec, command, settings)
    if timeout <= 0:
        raise _Failed("StepTimeout", "the step deadline passed before it started", True)
    headers = _resolve_headers(spec.get("headers") or {}, settings, secrets)
    headers.update(
        {
            "Content-Type": "application/json",
            "Idempotency-Key": command.idempotency_key,
            "X-Workflows-Execution-Id": command.execution_id,
            "X-Workflows-Step-Id": command.step_id,
            "X-Workflows-Attempt": str(command.attempt),
        }
    )
    method = call["method"]
    body = json.dumps(command.input, separators=(",", ":"))
    try:
        response = await client.request(
            method,
            url,
            content=None if method in _BODYLESS else body,
            headers=headers,
            timeout=timeout,
        )
    except httpx.TimeoutException as exc:
        raise _Failed("HttpTimeout", f"no response within {timeout:.3f}s: {exc!r}", True) from exc
    except httpx.HTTPError as exc:
        raise _Failed("HttpConnectionError", f"{type(exc).__name__}: {exc}", True) from exc
    call["status"] = response.status_code
    return _output(response)


def _timeout_s(spec: dict[str, Any], command: StepCommand, settings: Settings) -> float:
    timeout_ms = spec.get("timeoutMs") or settings.http_function_timeout_ms
    timeout = float(timeout_ms) / 1000
    if command.deadline is not None:
        timeout = min(timeout, (command.deadline - datetime.now(UTC)).total_seconds())
    return timeout


def _output(response: httpx.Response) -> Any:
    status = response.status_code
    if 200 <= status < 300:
        if status == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise _Failed("InvalidResponse", "2xx response body is not JSON", False) from exc
    retryable = status >= 500 or status in RETRYABLE_4XX
    type_, message = _error_from_body(response)
    raise _Failed(type_ or f"Http{status}", message, retryable, status=status)


def _error_from_body(response: httpx.Response) -> tuple[str | None, str]:
    text = response.text[:_MAX_ERROR_TEXT]
    try:
        body = response.json()
    except ValueError:
        return None, f"HTTP {response.status_code}: {text}".rstrip(": ")
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        type_ = body.get("type")
        return (type_ if isinstance(type_, str) and type_ else None), body["message"]
    return None, f"HTTP {response.status_code}: {text}"
