"""Dynamic fan-out (`forEach`): the pure parts.

A step with `forEach: '{{expr}}'` runs its function once per item of the list the template
yields, with `{{item}}` and `{{index}}` in its input. The orchestrator renders every item's
input when the step starts and sends ONE step command whose input is the map payload

    {"$forEach": {"inputs": [...], "maxConcurrency": n, "toleratedFailures": 5 | "10%",
                  "retry": {...RetryStrategy on the wire...}}}

The dispatcher runs the items (at most `maxConcurrency` at a time, each with the step's
retry strategy) and answers with ONE result whose output is the list of item outputs in
item order (`null` for a tolerated failure). The payload and the output travel by claim
check when large (`workflows.services.core.payload_refs`), so neither the execution's state document
nor any Kafka message grows with the item count. Once more items fail than tolerated, the
step fails with `ForEachFailed` (not retryable as a whole: the items had their retries).
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from workflows.services.core.definition import RetryStrategy, Step

__all__ = [
    "FOR_EACH",
    "FOR_EACH_FAILED",
    "ITEM_ROOTS",
    "MAX_ITEMS",
    "NOT_MAPPABLE",
    "allowed_failures",
    "for_each_issues",
    "for_each_payload",
    "for_each_spec",
    "tolerance_problem",
]

FOR_EACH: Final = "$forEach"
FOR_EACH_FAILED: Final = "ForEachFailed"
MAX_ITEMS: Final = 100_000
DEFAULT_CONCURRENCY: Final = 10
NOT_MAPPABLE: Final = frozenset({"sleep", "waitForEvent", "approval", "notify", "switch"})
ITEM_ROOTS: Final = frozenset({"item", "index"})
_PERCENT: Final = re.compile(r"^(\d{1,3}(?:\.\d+)?)%$")


def for_each_issues(steps: tuple[Step, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, message) for each misuse of forEach, maxConcurrency and toleratedFailures."""
    issues: list[tuple[tuple[str | int, ...], str]] = []
    for index, step in enumerate(steps):
        where: tuple[str | int, ...] = ("steps", index)
        if step.for_each is None:
            for name, value in (
                ("maxConcurrency", step.max_concurrency),
                ("toleratedFailures", step.tolerated_failures),
            ):
                if value is not None:
                    issues.append(((*where, name), f"{name} only applies to a forEach step"))
            continue
        if step.switch is not None or step.loop is not None:
            kind = "switch" if step.switch is not None else "loop"
            issues.append(((*where, "forEach"), f"a forEach step cannot also be a {kind}"))
        elif step.function in NOT_MAPPABLE or step.function.startswith("workflow:"):
            issues.append(
                (
                    (*where, "forEach"),
                    f"forEach runs a function per item; '{step.function}' is not one "
                    "(built-in waits and child workflows cannot be mapped)",
                )
            )
        problem = tolerance_problem(step.tolerated_failures)
        if problem is not None:
            issues.append(((*where, "toleratedFailures"), problem))
    return issues


def tolerance_problem(value: int | str | None) -> str | None:
    """Why `toleratedFailures` is not a count or a percentage, or None."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return None
    if isinstance(value, str):
        match = _PERCENT.match(value.strip())
        if match and float(match.group(1)) <= 100:
            return None
    return f"{value!r} is not a count (0, 1, ...) or a percentage ('10%')"


def allowed_failures(total: int, tolerated: int | str | None) -> int:
    """How many of `total` items may fail: a count, or `floor(total * percent / 100)`."""
    if tolerated is None:
        return 0
    if isinstance(tolerated, int):
        return tolerated
    match = _PERCENT.match(tolerated.strip())
    assert match is not None  # validated
    return math.floor(total * float(match.group(1)) / 100 + 1e-9)


def for_each_payload(inputs: list[Any], step: Step, retry: RetryStrategy) -> dict[str, Any]:
    """The input of the one command that runs every item."""
    return {
        FOR_EACH: {
            "inputs": inputs,
            "maxConcurrency": step.max_concurrency or DEFAULT_CONCURRENCY,
            "toleratedFailures": step.tolerated_failures,
            "retry": retry.model_dump(mode="json", by_alias=True),
        }
    }


def for_each_spec(value: Any) -> dict[str, Any] | None:
    """The map payload inside a command's input, or None for an ordinary input."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get(FOR_EACH), dict):
        spec: dict[str, Any] = value[FOR_EACH]
        return spec
    return None


def map_outcome(
    outputs: list[Any], failed: dict[int, dict[str, Any]], tolerated: int | str | None
) -> tuple[bool, Any, dict[str, Any] | None]:
    """(ok, output, error) of a map step: `outputs` in item order (None where it failed),
    `failed` item index -> its last error."""
    allowed = allowed_failures(len(outputs), tolerated)
    if len(failed) <= allowed:
        return True, outputs, None
    first = min(failed)
    error = failed[first]
    message = (
        f"{len(failed)} of {len(outputs)} items failed (at most {allowed} tolerated); "
        f"item {first}: {error.get('type', 'Error')}: {error.get('message', '')}"
    )
    return (
        False,
        None,
        {
            "type": FOR_EACH_FAILED,
            "message": message[:2000],
            "retryable": False,
            "details": {
                "items": len(outputs),
                "failed": len(failed),
                "tolerated": allowed,
                "failedItems": sorted(failed)[:20],
            },
        },
    )
