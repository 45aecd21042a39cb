"""Run a forEach step's items here, in the dispatcher (see workflows.services.core.for_each).

One command carries every item's input; `maxConcurrency` workers take the items in order,
each item with the step's retry strategy (its backoff, `retryOn`, `nonRetryable`), and one
result answers the command: the outputs in item order, or `ForEachFailed` once more items
failed than `toleratedFailures` allows. Item calls go to the same in-process function or
HTTP function the step names; the item's `FunctionContext.attempt` is the item's attempt and
its idempotency key is the step's plus `:item:<index>`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from workflows.contracts import StepCommand, StepError, StepResult
from workflows.services.core.backoff import backoff_delay_ms
from workflows.services.core.definition import RetryStrategy
from workflows.services.core.engine import retries
from workflows.services.core.for_each import map_outcome

__all__ = ["run_map"]

Call = Callable[[StepCommand], Awaitable[StepResult]]


async def run_map(
    command: StepCommand, spec: dict[str, Any], call: Call, worker_id: str | None = None
) -> StepResult:
    """Every item of the map payload `spec` through `call`; one result for the command."""
    started = datetime.now(UTC)
    inputs: list[Any] = spec["inputs"]
    retry = RetryStrategy.model_validate(spec.get("retry") or {})
    concurrency = max(1, int(spec.get("maxConcurrency") or 1))
    outputs: list[Any] = [None] * len(inputs)
    failed: dict[int, dict[str, Any]] = {}
    attempts = 0
    next_index = 0

    async def item(index: int) -> None:
        nonlocal attempts
        attempt = 1
        while True:
            attempts += 1
            result = await call(
                command.model_copy(
                    update={
                        "input": inputs[index],
                        "attempt": attempt,
                        "command_id": f"{command.command_id}:item:{index}:{attempt}",
                        "idempotency_key": f"{command.idempotency_key}:item:{index}",
                        "input_ref": None,
                    }
                )
            )
            if result.ok:
                outputs[index] = result.output
                return
            assert result.error is not None
            error = result.error.model_dump(mode="json")
            if attempt >= retry.max_attempts or not retries(retry, error):
                failed[index] = error
                return
            key = f"{command.execution_id}:{command.step_id}:{index}:{attempt}"
            await asyncio.sleep(backoff_delay_ms(retry.backoff, attempt, key) / 1000)
            attempt += 1

    async def worker() -> None:
        nonlocal next_index
        while next_index < len(inputs):
            index, next_index = next_index, next_index + 1
            await item(index)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(inputs))):
            group.create_task(worker())
    ok, output, error = map_outcome(outputs, failed, spec.get("toleratedFailures"))
    return StepResult(
        execution_id=command.execution_id,
        command_id=command.command_id,
        step_id=command.step_id,
        attempt=command.attempt,
        ok=ok,
        output=output,
        error=StepError.model_validate(error) if error is not None else None,
        worker_id=worker_id,
        started_at=started,
        finished_at=datetime.now(UTC),
        call={
            "forEach": {
                "items": len(inputs),
                "failed": len(failed),
                "attempts": attempts,
                "maxConcurrency": concurrency,
            }
        },
    )
