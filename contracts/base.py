"""Shared base models: camelCase on the wire, immutable, unknown fields refused."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.fields import ComputedFieldInfo, FieldInfo

__all__ = [
    "SCHEMA_VERSION",
    "SUPPORTED_SCHEMA_VERSIONS",
    "Actor",
    "Message",
    "WireModel",
    "new_message_id",
    "utc_now",
]

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS: tuple[int, ...] = (SCHEMA_VERSION,)


def new_message_id() -> str:
    """A fresh random message id: 128 bits from the OS's generator, as 32 hex digits (the
    shape of a uuid4's hex, at a fifth of `uuid4().hex`'s cost: ~0.4 against ~2.6 us)."""
    return os.urandom(16).hex()


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def _field_title(name: str, _info: FieldInfo | ComputedFieldInfo) -> str:
    return name.replace("_", " ").capitalize()


class WireModel(BaseModel):
    """Base of every wire model: frozen, extra fields forbidden, camelCase aliases."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        field_title_generator=_field_title,
    )


class Actor(WireModel):
    """Who or what caused something: an API client, a schedule, an event, the system, a user."""

    kind: Literal["api", "schedule", "event", "system", "user"]
    id: str | None = None


class Message(WireModel):
    """Envelope fields shared by every message about an execution (the Kafka key)."""

    schema_version: Literal[1] = 1
    message_id: str = Field(default_factory=new_message_id)
    execution_id: str = Field(min_length=1)
    occurred_at: AwareDatetime = Field(default_factory=utc_now)
