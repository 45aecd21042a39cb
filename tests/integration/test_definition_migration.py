"""Definitions stored by builds before hash-tagged keys are moved on startup (real Redis)."""

from __future__ import annotations

import json

import pytest

from workflows.services.infra.keys import Keys
from workflows.services.infra.redis_client import RedisClient
from workflows.services.infra.settings import Settings
from workflows.services.infra.store import StateStore

pytestmark = pytest.mark.integration


async def test_old_definition_keys_move_to_hash_tagged_keys_once(
    settings: Settings, redis: RedisClient
) -> None:
    prefix = settings.key_prefix
    store = StateStore(redis, Keys(prefix))
    v1, v2 = json.dumps({"name": "old", "steps": []}), json.dumps({"name": "old", "x": 1})
    # what an earlier build wrote: no hash tag around the name
    await redis.hset(f"{prefix}:def:old", mapping={"1": v1, "2": v2})
    await redis.hset(f"{prefix}:def:old:meta", mapping={"1": json.dumps({"registeredBy": "k1"})})
    await redis.sadd(f"{prefix}:defs", "old")
    await store.register_definition("new", v1, {})
    assert await store.get_definition("old") is None

    assert await store.migrate_definition_keys() == ["old"]
    assert await store.get_definition("old") == (2, v2)
    assert await store.get_definition("old", 1) == (1, v1)
    assert (await store.definition_versions("old"))[1] == {"registeredBy": "k1"}
    assert not await redis.exists(f"{prefix}:def:old", f"{prefix}:def:old:meta")
    assert await store.get_definition("new") == (1, v1)
    # idempotent: a second process starting later moves nothing and changes nothing
    assert await store.migrate_definition_keys() == []
    assert await store.get_definition("old") == (2, v2)
