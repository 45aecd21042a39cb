"""Secrets in the audit trail: input fields the input schema marks secret never reach it.

A field of the execution input is secret when its JSON Schema says `"writeOnly": true`,
`"x-secret": true` or `"format": "password"` (a pydantic `SecretStr` gives the first and
the last). The audit trail (history in Redis, lifecycle events, the audit topic) gets:

- the input with every secret field replaced by `"***"` (`mask_input`, by schema path, at
  any depth: `properties`, `additionalProperties`, `items`, `$ref` into `$defs`, `allOf` /
  `anyOf` / `oneOf`);
- every other value with the secret *strings* masked (`redact`): a string equal to a secret
  becomes `"***"`; a secret of 4 or more characters is also masked inside longer strings
  (`"Bearer s3cret!"` -> `"Bearer ***"`), and so is every run of `MIN_FRAGMENT` (6) or more
  characters that is part of a secret, so a truncated echo (`"token sk_live_4f9a…"` cut at
  200 characters) or a secret split across two strings shows at most 5 of its characters.
  This covers step inputs rendered from secret fields, outputs that echo them and error
  messages quoting them. HTTP functions scrub their `${secret:NAME}` values the same way
  (services/dispatcher/http_functions.py).

Step commands keep the real values: functions need them. The execution's state document
keeps the real input too (later steps and retries render from it); the status API masks it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MASK",
    "MIN_FRAGMENT",
    "is_secret",
    "mask_input",
    "redact",
    "redact_text",
    "secret_values",
]

MASK = "***"
MIN_SUBSTRING = 4
MIN_FRAGMENT = 6
_MAX_DEPTH = 64


def is_secret(schema: Mapping[str, Any]) -> bool:
    """True when a property's schema marks it secret."""
    return (
        schema.get("writeOnly") is True
        or schema.get("x-secret") is True
        or schema.get("format") == "password"
    )


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: Any = root
    for part in ref[2:].split("/"):
        node = node.get(part) if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping):
        return schema
    return {**node, **{k: v for k, v in schema.items() if k != "$ref"}}


def _collect(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        if value:
            found.add(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found)


def _mask(schema: Any, value: Any, root: Mapping[str, Any], found: set[str], depth: int) -> Any:
    if depth > _MAX_DEPTH or not isinstance(schema, Mapping) or value is None:
        return value
    schema = _resolve(schema, root)
    if is_secret(schema):
        _collect(value, found)
        return MASK
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(key) or ():
            value = _mask(branch, value, root, found, depth + 1)
            if value == MASK:
                return value
    if isinstance(value, dict):
        props = schema.get("properties")
        props = props if isinstance(props, Mapping) else {}
        extra = schema.get("additionalProperties")
        out = {}
        for name, item in value.items():
            sub = props.get(name, extra)
            out[name] = _mask(sub, item, root, found, depth + 1)
        return out
    if isinstance(value, list):
        items = schema.get("items")
        return [_mask(items, item, root, found, depth + 1) for item in value]
    return value


def mask_input(schema: Mapping[str, Any] | None, value: Any) -> Any:
    """`value` with every field its schema marks secret replaced by `"***"`."""
    if not schema:
        return value
    return _mask(schema, value, schema, set(), 0)


def secret_values(schema: Mapping[str, Any] | None, value: Any) -> tuple[str, ...]:
    """The strings held by secret fields of `value`, longest first."""
    if not schema:
        return ()
    found: set[str] = set()
    _mask(schema, value, schema, found, 0)
    return tuple(sorted(found, key=lambda s: (-len(s), s)))


def _mark(text: str, part: str, covered: bytearray) -> None:
    start = text.find(part)
    while start >= 0:
        covered[start : start + len(part)] = b"\x01" * len(part)
        start = text.find(part, start + 1)


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret of 4+ characters, and every run of `MIN_FRAGMENT`+
    characters that is part of a secret, replaced by `"***"` (one mask per masked run)."""
    covered: bytearray | None = None
    for secret in secrets:
        if len(secret) < MIN_SUBSTRING:
            continue
        size = min(len(secret), MIN_FRAGMENT)
        for i in range(len(secret) - size + 1):  # every fragment: a C-level find each
            part = secret[i : i + size]
            if part in text:
                covered = covered if covered is not None else bytearray(len(text))
                _mark(text, part, covered)
    if covered is None:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        if covered[i]:
            out.append(MASK)
            while i < len(text) and covered[i]:
                i += 1
        else:
            j = covered.find(1, i)
            j = len(text) if j < 0 else j
            out.append(text[i:j])
            i = j
    return "".join(out)


def _redact_string(text: str, secrets: tuple[str, ...]) -> str:
    if text in secrets:
        return MASK
    return redact_text(text, secrets)


def redact(data: Any, secrets: tuple[str, ...]) -> Any:
    """`data` with every secret string masked (a copy; `data` itself is not changed)."""
    if not secrets:
        return data
    if isinstance(data, str):
        return _redact_string(data, secrets)
    if isinstance(data, Mapping):
        return {
            redact_text(key, secrets) if isinstance(key, str) else key: redact(item, secrets)
            for key, item in data.items()
        }
    if isinstance(data, list | tuple):
        return [redact(item, secrets) for item in data]
    return data
