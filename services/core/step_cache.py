"""The step cache (`steps[].cache: {key, ttl}`): the pure parts.

When the step's function starts (not its fallback), the orchestrator renders `key` and wraps
the command's input as

    {"$cache": {"key": "<rendered key>", "ttlMs": <ttl>}, "input": <the step input>}

The dispatcher unwraps it: a successful output stored for the same function and key within
`ttl` is the result (no call; the result's `call` says `{"cache": "hit", ...}`, so the audit
trail shows it, and `workflows_step_cache_total{outcome="hit"}` counts it); otherwise the
function runs with the plain input and a successful output is stored for `ttl`. A key that
renders to `undefined`, `null` or `""` means no caching for that run.
"""

from __future__ import annotations

from typing import Any, Final

from workflows.services.core.definition import Step
from workflows.services.core.expressions import UNDEFINED, to_js_string, to_json_string

__all__ = ["CACHE", "cache_envelope", "cache_issues", "cache_key_text", "cache_spec"]

CACHE: Final = "$cache"
NOT_CACHEABLE: Final = frozenset({"sleep", "waitForEvent", "approval", "notify", "switch"})


def cache_key_text(value: Any) -> str | None:
    """The rendered key as text, or None for no caching."""
    if value is UNDEFINED or value is None or value == "":
        return None
    if isinstance(value, dict | list):
        return to_json_string(value)
    return to_js_string(value)


def cache_envelope(key: str, ttl_ms: int, value: Any) -> dict[str, Any]:
    return {CACHE: {"key": key, "ttlMs": ttl_ms}, "input": value}


def cache_spec(value: Any) -> tuple[str, int, Any] | None:
    """(key, ttl ms, the plain input) of a cache envelope, or None."""
    if not (isinstance(value, dict) and set(value) == {CACHE, "input"}):
        return None
    spec = value[CACHE]
    if not isinstance(spec, dict) or not isinstance(spec.get("key"), str):
        return None
    ttl = spec.get("ttlMs")
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
        return None
    return spec["key"], ttl, value["input"]


def cache_issues(steps: tuple[Step, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    issues: list[tuple[tuple[str | int, ...], str]] = []
    for index, step in enumerate(steps):
        if step.cache is None:
            continue
        if step.function in NOT_CACHEABLE or step.function.startswith("workflow:"):
            issues.append(
                (
                    ("steps", index, "cache"),
                    f"cache reuses a function's output; '{step.function}' is not a function call",
                )
            )
        elif step.for_each is not None:
            issues.append((("steps", index, "cache"), "a forEach step cannot be cached"))
    return issues
