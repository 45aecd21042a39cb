"""Claim-check blobs in Redis: store large step payloads, load and resolve references.

A blob is the JSON of one value under `{p}:exec:{<id>}:blob:<sha256>` (the execution's
hash tag, so it lives in the execution's cluster slot). It is written with `state_ttl_s`
as TTL, and the orchestrator renews the TTL of every blob its state refers to at each
transition: blobs outlive the state document they belong to, never the other way round.
The reference shape and the pure decisions are in `workflows.services.core.payload_refs`.

Producers of results (dispatcher, worker) call `claim_result`; consumers of commands call
`resolve_command` (in-process and HTTP functions) or `forwardable` (external workers on
`wf.fn.<function>`, which get every value inline, as they may have no Redis access).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic_core import from_json

from workflows.contracts import StepCommand, StepError, StepResult, encode
from workflows.services.core.payload_refs import (
    Blob,
    PayloadLimits,
    PayloadTooLarge,
    claim_value,
    find_refs,
    human_size,
    replace_refs,
    too_large_message,
)
from workflows.services.functions.registry import step_result
from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.settings import Settings

__all__ = ["DISPLAY_MAX_BYTES", "PayloadMissing", "Payloads"]

log = structlog.get_logger(__name__)
DISPLAY_MAX_BYTES = 1 << 20  # the API shows referenced values up to this size, else a note


class PayloadMissing(LookupError):
    """A reference whose blob is gone (expired, deleted, or another Redis)."""

    def __init__(self, key: str, execution_id: str) -> None:
        super().__init__(
            f"payload {key} is missing: it expired or was deleted "
            f"(blobs live state_ttl_s after the last transition of execution {execution_id})"
        )
        self.key = key
        self.execution_id = execution_id


class Payloads:
    def __init__(self, redis: RedisClient, settings: Settings) -> None:
        self.redis = redis
        self.keys = Keys(settings.key_prefix)
        self.limits = PayloadLimits(settings.payload_inline_max_bytes, settings.payload_max_bytes)
        self.ttl_s = settings.state_ttl_s
        self.max_message_bytes = settings.max_message_bytes

    def key(self, ref: dict[str, Any]) -> str:
        return self.keys.blob(str(ref["execution"]), str(ref["$claim"]))

    # -- storage ----------------------------------------------------------------------------
    async def store(self, blobs: Sequence[Blob], touch: Iterable[dict[str, Any]] = ()) -> None:
        """Write `blobs` and renew the TTL of the blobs of `touch` references (one round trip)."""
        keys = {self.key(ref) for ref in touch}
        if not blobs and not keys:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for blob in blobs:
                pipe.set(self.keys.blob(blob.execution, blob.sha), blob.data, ex=self.ttl_s)
            for key in sorted(keys):
                pipe.expire(key, self.ttl_s)
            await pipe.execute()

    async def load(
        self, refs: Iterable[dict[str, Any]], missing_ok: bool = False
    ) -> dict[str, Any]:
        """The values of `refs`, by blob key; raise PayloadMissing for one gone (or skip it)."""
        wanted = {self.key(ref): ref for ref in refs}
        if not wanted:
            return {}
        keys = sorted(wanted)
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(key)
            raws = await pipe.execute()
        values: dict[str, Any] = {}
        for key, raw in zip(keys, raws, strict=True):
            if raw is None and missing_ok:
                log.warning("payload_missing", key=key)
                continue
            if raw is None:
                raise PayloadMissing(key, str(wanted[key]["execution"]))
            values[key] = from_json(raw)
        return values

    async def resolve(self, value: Any) -> Any:
        """`value` with every reference inside replaced by the stored value."""
        refs = list(find_refs(value))
        if not refs:
            return value
        loaded = await self.load(refs)
        return replace_refs(value, lambda ref: loaded[self.key(ref)])

    # -- producers and consumers of step messages -------------------------------------------
    async def claim_result(self, result: StepResult) -> StepResult:
        """The result to publish: a large output stored and referenced, a too large one failed."""
        if not result.ok:
            return result
        try:
            output, blob = claim_value(result.execution_id, result.output, self.limits)
        except PayloadTooLarge as exc:
            size = exc.size
            message = too_large_message("output", result.step_id, size, self.limits.hard_max)
            log.warning("step_output_too_large", execution_id=result.execution_id, size=size)
            error = StepError(
                type="PayloadTooLarge",
                message=message,
                retryable=False,
                details={"size": size, "limit": self.limits.hard_max},
            )
            return result.model_copy(update={"ok": False, "output": None, "error": error})
        if blob is None:
            return result
        await self.store([blob])
        return result.model_copy(update={"output": output})

    async def resolve_command(
        self, command: StepCommand, worker_id: str | None = None
    ) -> StepCommand | StepResult:
        """The command with its input inline, or a failed result when a blob is gone."""
        if not any(True for _ in find_refs(command.input)):
            return command
        try:
            value = await self.resolve(command.input)
        except PayloadMissing as exc:
            why = f"input of step '{command.step_id}': {exc}"
            return failed(command, "PayloadMissing", why, worker_id)
        return command.model_copy(update={"input": value})

    async def forwardable(
        self, command: StepCommand, raw: bytes, worker_id: str | None = None
    ) -> bytes | StepResult:
        """The bytes to forward to `wf.fn.<function>` (every value inline), or a failed result.

        Inline values must fit in one message: `min(WORKFLOWS_MAX_MESSAGE_BYTES,
        WORKFLOWS_PAYLOAD_MAX_BYTES)`.
        """
        resolved = await self.resolve_command(command, worker_id)
        if isinstance(resolved, StepResult):
            return resolved
        if resolved is command:
            return raw
        data = encode(resolved)
        limit = min(self.max_message_bytes, self.limits.hard_max)
        if len(data) <= limit:
            return data
        message = (
            f"input of step '{command.step_id}' is {human_size(len(data))} inline, above the "
            f"{human_size(limit)} that a command to an external worker may carry "
            "(WORKFLOWS_MAX_MESSAGE_BYTES, WORKFLOWS_PAYLOAD_MAX_BYTES)"
        )
        return failed(command, "PayloadTooLarge", message, worker_id)

    # -- display ----------------------------------------------------------------------------
    async def for_display(self, value: Any, max_bytes: int = DISPLAY_MAX_BYTES) -> Any:
        """`value` with references up to `max_bytes` resolved; larger ones get a `note`."""
        refs = list(find_refs(value))
        if not refs:
            return value
        small = [ref for ref in refs if int(ref["size"]) <= max_bytes]
        loaded = await self.load(small, missing_ok=True)

        def show(ref: dict[str, Any]) -> Any:
            key = self.key(ref)
            if key in loaded:
                return loaded[key]
            size = int(ref["size"])
            why = "too large to show here" if size > max_bytes else "no longer stored"
            return {**ref, "note": f"{human_size(size)} value, {why}"}

        return replace_refs(value, show)


def failed(
    command: StepCommand, type_: str, message: str, worker_id: str | None = None
) -> StepResult:
    """A non-retryable failed result for `command` (the same cause would fail it again)."""
    error = StepError(type=type_, message=message, retryable=False)
    return step_result(command, datetime.now(UTC), worker_id, error=error)
