"""The table of Redis keys in `services/infra/keys.py` has a hash tag column that is right.

Redis Cluster hashes only the part of a key inside the first `{...}`: a row's hash tag must be
that part of its key (`{p}` is the key prefix, not a tag), or `none` when the key has no tag
and Redis hashes all of it. A row added without the column, or with a stale one, fails here.
"""

from __future__ import annotations

import re

from workflows.services.infra import keys

TAG = re.compile(r"\{([^}]*)\}")


def rows() -> list[list[str]]:
    doc = keys.__doc__ or ""
    table = doc.split("|---|---|---|---|---|\n", 1)[1].split("\n\n", 1)[0]
    return [line[2:-2].split(" | ") for line in table.splitlines()]


def test_every_row_has_a_type_contents_ttl_and_hash_tag() -> None:
    found = rows()
    assert len(found) > 40
    assert [r for r in found if len(r) != 5 or not all(c.strip() for c in r)] == []


def test_the_hash_tag_is_the_part_of_the_key_redis_cluster_hashes() -> None:
    wrong = []
    for key, _type, _holds, _ttl, tag in rows():
        tags = [t for t in TAG.findall(key.strip("`")) if t != "p"]
        expected = f"`{{{tags[0]}}}`" if tags else "none"
        if tag != expected:
            wrong.append((key, tag, expected))
    assert wrong == []


def test_keys_of_one_execution_share_its_tag() -> None:
    k = keys.Keys("wf")
    tagged = {tuple(TAG.findall(key))[:1] for key in (k.state("ex-1"), k.outbox("ex-1"))}
    assert tagged == {("ex-1",)}
