"""API keys: scoped to one namespace, stored hashed in Redis, created and revoked by the CLI.

A token is `wfk_<id>_<secret>` (the secret: 32 random bytes, URL-safe base64); it is shown
once, at creation. Redis holds only its SHA-256 (`Keys.api_key(digest)`, a hash with the
record below) and the index `Keys.api_keys` (id -> digest) for listing and revoking; a
revoked key keeps its record with `revokedAt` set.

Scopes: `read` (GET), `execute` (start, control, signal, approve, publish events), `admin`
(register workflows, functions, schedules, templates); each implies the ones before it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

from workflows.services.core.namespaces import check_namespace
from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import RedisClient

__all__ = [
    "SCOPES",
    "TOKEN_PREFIX",
    "ApiKey",
    "ApiKeyStore",
    "CreatedKey",
    "Scope",
    "digest",
    "granted",
    "new_token",
    "parse_scope",
    "token_id",
]

Scope = Literal["read", "execute", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)  # weakest first: each implies the ones before
TOKEN_PREFIX = "wfk_"


def parse_scope(value: str) -> Scope:
    if value not in SCOPES:
        raise ValueError(f"unknown scope {value!r}: use one of {', '.join(SCOPES)}")
    return value


def granted(scopes: tuple[Scope, ...] | list[Scope], needed: Scope) -> bool:
    """Whether `scopes` allow `needed` (admin implies execute implies read)."""
    return any(SCOPES.index(s) >= SCOPES.index(needed) for s in scopes)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh (key id, token)."""
    key_id = secrets.token_hex(6)
    return key_id, f"{TOKEN_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def token_id(token: str) -> str | None:
    """The key id a well-formed token names, else None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    key_id, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    return key_id if sep and key_id and secret else None


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    namespace: str
    scopes: tuple[Scope, ...]
    created_at: str
    revoked_at: str | None = None
    approver: str | None = None  # the approver this key decides approvals as (None: unbound)

    def wire(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "namespace": self.namespace,
            "scopes": list(self.scopes),
            "createdAt": self.created_at,
            "revokedAt": self.revoked_at,
            "approver": self.approver,
        }

    @classmethod
    def from_hash(cls, fields: Mapping[bytes | str, bytes | str]) -> ApiKey:
        text = {_str(k): _str(v) for k, v in fields.items()}
        return cls(
            id=text["id"],
            name=text.get("name", ""),
            namespace=text["namespace"],
            scopes=tuple(parse_scope(s) for s in json.loads(text["scopes"])),
            created_at=text["createdAt"],
            revoked_at=text.get("revokedAt") or None,
            approver=text.get("approver") or None,
        )


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    token: str  # shown once: only its digest is stored


class ApiKeyStore:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def create(
        self, namespace: str, scopes: list[Scope], name: str = "", approver: str | None = None
    ) -> CreatedKey:
        """A new key; `approver` binds it to that approver's identity for approval decisions
        (an unbound key decides as a named approver only with `admin`)."""
        if not scopes:
            raise ValueError("an API key needs at least one scope")
        if approver is not None and not 0 < len(approver) <= 200:
            raise ValueError("an approver identity is 1 to 200 characters")
        key_id, token = new_token()
        key = ApiKey(
            id=key_id,
            name=name,
            namespace=check_namespace(namespace),
            scopes=tuple(dict.fromkeys(scopes)),
            created_at=datetime.now(UTC).isoformat(),
            approver=approver,
        )
        hashed = digest(token)
        fields = {
            **key.wire(),
            "scopes": json.dumps(list(key.scopes)),
            "revokedAt": "",
            "approver": approver or "",
        }
        await self.redis.hset(self.keys.api_key(hashed), mapping=fields)  # type: ignore[arg-type]
        await self.redis.hset(self.keys.api_keys, key_id, hashed)  # listed once usable
        return CreatedKey(key, token)

    async def lookup(self, token: str) -> ApiKey | None:
        """The key a token names (revoked or not), None when unknown or malformed."""
        key_id = token_id(token)
        if key_id is None:
            return None
        fields = await self.redis.hgetall(self.keys.api_key(digest(token)))
        if not fields:
            return None
        key = ApiKey.from_hash(fields)
        return key if key.id == key_id else None

    async def list_keys(self) -> list[ApiKey]:
        index = await self.redis.hgetall(self.keys.api_keys)
        out = []
        for hashed in index.values():
            fields = await self.redis.hgetall(self.keys.api_key(_str(hashed)))
            if fields:
                out.append(ApiKey.from_hash(fields))
        return sorted(out, key=lambda k: k.created_at)

    async def revoke(self, key_id: str) -> ApiKey | None:
        """Mark the key revoked (idempotent); None when there is no key with that id."""
        hashed = await self.redis.hget(self.keys.api_keys, key_id)
        if hashed is None:
            return None
        record = self.keys.api_key(_str(hashed))
        if not await self.redis.hget(record, "revokedAt"):  # keeps an earlier revocation
            await self.redis.hset(record, "revokedAt", datetime.now(UTC).isoformat())
        return ApiKey.from_hash(await self.redis.hgetall(record))
