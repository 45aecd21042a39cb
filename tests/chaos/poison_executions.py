"""Poison executions started through valid API calls during the chaos (`--poison`).

Each used to make the orchestrator's batch fail on every redelivery, so the executions of
every namespace on the same partitions stopped (issue 20, item 1). Now each fails or
finishes by itself, with its reason, and the chaos' healthy executions are verified as usual:

- `poisonNap`: a `sleep` whose duration renders (from the input) to 300 digits: the
  execution ends `failed`, its error naming the step's input;
- `poisonKpi`: a step answering a 400-digit number that a KPI reads: the execution
  completes, and its KPI says why it is not a number (out of range).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

__all__ = ["POISON_WORKFLOWS", "check_poison", "start_poison"]

POISON_WORKFLOWS: list[dict[str, Any]] = [
    {
        "name": "poisonNap",
        "steps": [{"id": "nap", "function": "sleep", "input": {"duration": "{{input.nap}}"}}],
    },
    {
        "name": "poisonKpi",
        "steps": [{"id": "amount", "function": "chaosHugeAmount", "input": {}}],
        "metrics": [{"name": "amount", "value": "{{amount.value}}"}],
    },
]
INPUTS = {"poisonNap": {"nap": "9" * 300 + "s"}, "poisonKpi": {}}


async def register_poison(client: httpx.AsyncClient, base_url: str) -> None:
    for definition in POISON_WORKFLOWS:
        response = await client.post(f"{base_url}/workflows", json=definition, timeout=10)
        response.raise_for_status()


async def start_poison(base_url: str, tag: str, each: int, log: Any) -> dict[str, str]:
    """Start `each` executions of every poison workflow (retrying with the same
    Idempotency-Key while the chaos takes the API down); execution id -> workflow."""
    started: dict[str, str] = {}
    async with httpx.AsyncClient() as client:
        deadline = time.monotonic() + 120
        while True:
            try:
                await register_poison(client, base_url)
                break
            except httpx.HTTPError as exc:
                if time.monotonic() > deadline:
                    raise
                log(f"poison workflows not registered yet ({exc}); again")
                await asyncio.sleep(1)
        for name, body in INPUTS.items():
            for i in range(each):
                key = f"{tag}-{name}-{i}"
                while True:
                    try:
                        response = await client.post(
                            f"{base_url}/workflows/{name}/execute",
                            json=body,
                            headers={"Idempotency-Key": key},
                            timeout=10,
                        )
                        if response.status_code == 202:
                            started[response.json()["executionId"]] = name
                            break
                        problem = f"HTTP {response.status_code} {response.text[:200]}"
                    except httpx.HTTPError as exc:
                        problem = f"{type(exc).__name__}: {exc}"
                    if time.monotonic() > deadline:
                        log(f"giving up on poison start {key}: {problem}")
                        break
                    await asyncio.sleep(0.5)
    log(f"poison executions started: {len(started)} ({', '.join(INPUTS)})")
    return started


def check_poison(started: dict[str, str], docs: dict[str, dict[str, Any] | None]) -> list[str]:
    """What is wrong with each poison execution's end (empty: each ended as it must)."""
    problems = []
    for eid, name in sorted(started.items()):
        doc = docs.get(eid)
        status = doc.get("status") if doc else None
        error = str((doc or {}).get("error") or "")
        missing = str((doc or {}).get("kpisMissing") or (doc or {}).get("kpis_missing") or "")
        if name == "poisonNap" and not (status == "failed" and "steps[0].input" in error):
            problems.append(f"{eid} ({name}): {status}, error {error[:200]!r}")
        if name == "poisonKpi" and not (status == "completed" and "out of range" in missing):
            problems.append(f"{eid} ({name}): {status}, no KPI reason in {missing[:200]!r}")
    return problems
