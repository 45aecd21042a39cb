"""Input JSON Schemas whose regexes cannot backtrack, and whose numbers are all finite.

jsonschema evaluates `pattern`, `patternProperties` (and `additionalProperties` next to
them) with Python's `re`, which backtracks: `^(a+)+$` against 29 `a`s and a `!` holds
the event loop of every tenant for seconds. `SafeValidator` is Draft 2020-12 with those
keywords on RE2 (google-re2: linear time in the input, no backreferences or lookaround).
`schema_issues` finds what a schema must not hold before it is registered: a pattern RE2
does not accept, `unevaluatedProperties` beside `patternProperties` (evaluated with `re`),
and `NaN`/`Infinity` (not JSON: the stored definition would not read back everywhere).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import Any, cast

import re2
from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.protocols import Validator

__all__ = ["SafeValidator", "compile_pattern", "schema_issues"]

Loc = tuple[str | int, ...]
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_BASE = Draft202012Validator.VALIDATORS


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Any:
    """The RE2 program of `pattern`; raises `re2.error` for what RE2 does not support."""
    return re2.compile(pattern, _OPTIONS)


def _matches(pattern: str, text: str) -> bool:
    try:
        return compile_pattern(pattern).search(text) is not None
    except re2.error:  # refused at registration; an older stored schema: no match
        return False


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not _matches(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _matches(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, extra: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if "patternProperties" not in schema:
        yield from _BASE["additionalProperties"](validator, extra, instance, schema)
        return
    if not validator.is_type(instance, "object"):
        return
    known = schema.get("properties", {})
    patterns = list(schema["patternProperties"])
    extras = [
        key
        for key in instance
        if key not in known and not any(_matches(pattern, key) for pattern in patterns)
    ]
    if validator.is_type(extra, "object"):
        for key in extras:
            yield from validator.descend(instance[key], extra, path=key)
    elif not extra and extras:
        joined = ", ".join(repr(key) for key in sorted(extras))
        yield ValidationError(f"{joined} do not match any of the regexes: {sorted(patterns)}")


_KEYWORDS = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
}
# the stubs leave `extend` untyped; it returns a Draft202012Validator-like class
SafeValidator = cast(
    type[Draft202012Validator],
    validators.extend(cast(type[Validator], Draft202012Validator), _KEYWORDS),  # type: ignore[no-untyped-call]
)


def _nodes(value: Any, loc: Loc) -> Iterator[tuple[Loc, Any]]:
    stack: list[tuple[Loc, Any]] = [(loc, value)]
    while stack:
        where, item = stack.pop()
        yield where, item
        if isinstance(item, dict):
            stack.extend(((*where, str(k)), v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend(((*where, i), v) for i, v in enumerate(item))


def _reason(exc: Exception) -> str:
    first = exc.args[0] if exc.args else exc
    return first.decode(errors="replace") if isinstance(first, bytes) else str(first)


def schema_issues(schema: Any, loc: Loc) -> list[tuple[Loc, str]]:
    """(path, message) for each thing in `schema` that must not be registered."""
    issues: list[tuple[Loc, str]] = []
    uses_pattern_properties = False
    unevaluated: Loc | None = None
    for where, item in _nodes(schema, loc):
        if isinstance(item, float) and not math.isfinite(item):
            issues.append((where, f"{item} is not a JSON number (NaN and Infinity are refused)"))
        if not isinstance(item, dict):
            continue
        found: list[tuple[Loc, Any]] = []
        if isinstance(item.get("pattern"), str):
            found.append(((*where, "pattern"), item["pattern"]))
        if isinstance(item.get("patternProperties"), dict):
            uses_pattern_properties = True
            found += [((*where, "patternProperties", k), k) for k in item["patternProperties"]]
        if "unevaluatedProperties" in item:
            unevaluated = (*where, "unevaluatedProperties")
        for at, pattern in found:
            try:
                compile_pattern(pattern)
            except re2.error as exc:
                reason = _reason(exc)
                issues.append(
                    (
                        at,
                        f"pattern {pattern!r} is not supported ({reason}): patterns run on a "
                        "linear-time engine without backreferences or lookaround",
                    )
                )
    if uses_pattern_properties and unevaluated is not None:
        issues.append(
            (unevaluated, "unevaluatedProperties cannot be combined with patternProperties")
        )
    return issues
