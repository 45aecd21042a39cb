"""Dead letters: messages a service could not process, kept verbatim (topic wf.dlq)."""

from __future__ import annotations

import base64
import json
from typing import Literal

from pydantic import AwareDatetime, Field

from workflows.contracts.base import WireModel, new_message_id, utc_now

__all__ = ["MAX_ORIGINAL_TEXT_BYTES", "DeadLetter", "dead_letter"]

MAX_ORIGINAL_TEXT_BYTES = 64 * 1024


class DeadLetter(WireModel):
    """A message that was refused or failed. The original may be garbage: few fields required."""

    schema_version: Literal[1] = 1
    message_id: str = Field(default_factory=new_message_id)
    occurred_at: AwareDatetime = Field(default_factory=utc_now)
    source_topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    reason: str
    error_type: str
    original_b64: str = Field(description="The original message bytes, base64.")
    original_text: str | None = Field(
        default=None, description="The original as UTF-8 text (first 64 KiB) when it decodes."
    )
    service: str
    execution_id: str | None = None


def dead_letter(
    *,
    source_topic: str,
    original: bytes,
    reason: str,
    error_type: str,
    service: str,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | str | None = None,
    execution_id: str | None = None,
) -> DeadLetter:
    """Build a DeadLetter from raw bytes; finds `executionId` in a JSON original if not given."""
    text: str | None
    try:
        text = original.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and execution_id is None:
        execution_id = _execution_id_of(text)
    if text is not None and len(original) > MAX_ORIGINAL_TEXT_BYTES:
        text = original[:MAX_ORIGINAL_TEXT_BYTES].decode("utf-8", errors="ignore")
    if isinstance(key, bytes):
        key = key.decode("utf-8", errors="replace")
    return DeadLetter(
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        key=key,
        reason=reason,
        error_type=error_type,
        original_b64=base64.b64encode(original).decode("ascii"),
        original_text=text,
        service=service,
        execution_id=execution_id,
    )


def _execution_id_of(text: str) -> str | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    found = value.get("executionId") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None
