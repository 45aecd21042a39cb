"""The function SDK: registry, validation both ways, sync/async, error mapping, deadlines."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, Field

from workflows.contracts import StepCommand, StepResult, command_id
from workflows.errors import FatalError, RetryableError, WorkflowsError
from workflows.functions import (
    FunctionContext,
    FunctionRegistry,
    default_registry,
    function,
    run_function,
)


class Customer(BaseModel):
    name: str
    age: int = Field(ge=0)


class Account(BaseModel):
    account_id: str = Field(alias="accountId")
    created: datetime


def command(fn: str, input_: Any = None, **extra: Any) -> StepCommand:
    return StepCommand(
        execution_id="e1",
        command_id=command_id("e1", "s1", 1),
        workflow="wf",
        workflow_version=1,
        step_id="s1",
        function=fn,
        input=input_,
        attempt=1,
        idempotency_key="k1",
        **extra,
    )


@pytest.fixture
def registry() -> FunctionRegistry:
    return FunctionRegistry()


def test_decorator_registers_by_name_and_default_name(registry: FunctionRegistry) -> None:
    @function(registry=registry)
    async def first(input: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        return input

    @function("setupCustomerAccount", registry=registry)
    def second(input: dict[str, Any], ctx: FunctionContext) -> None:
        return None

    assert registry.names() == ["first", "setupCustomerAccount"]
    entry = registry.get("setupCustomerAccount")
    assert entry is not None and entry.fn is second and not entry.is_async
    assert registry.get("second") is None
    assert "first" in registry and len(registry) == 2
    assert first.__name__ == "first"  # the decorator returns the function itself


def test_default_registry_and_bare_decorator() -> None:
    @function
    def bare_sdk_test_fn(input: Any, ctx: FunctionContext) -> Any:
        return input

    assert default_registry.get("bare_sdk_test_fn") is not None


def test_register_rejects_bad_signatures(registry: FunctionRegistry) -> None:
    def no_params() -> None:
        return None

    with pytest.raises(TypeError):
        registry.register(no_params)


async def test_async_function_with_models_both_ways(registry: FunctionRegistry) -> None:
    seen: list[FunctionContext] = []

    @function("open", registry=registry)
    async def open_account(input: Customer, ctx: FunctionContext) -> Account:
        seen.append(ctx)
        return Account(accountId=f"acc-{input.name}", created=datetime(2024, 1, 2, tzinfo=UTC))

    deadline = datetime.now(UTC) + timedelta(seconds=30)
    result = await run_function(
        registry, command("open", {"name": "ada", "age": 36}, deadline=deadline), worker_id="w1"
    )
    assert result.ok, result.error
    assert result.output == {"accountId": "acc-ada", "created": "2024-01-02T00:00:00Z"}
    assert result.command_id == "e1:s1:1" and result.step_id == "s1" and result.attempt == 1
    assert result.worker_id == "w1"
    assert result.started_at is not None and result.finished_at is not None
    assert result.started_at <= result.finished_at
    ctx = seen[0]
    assert (ctx.execution_id, ctx.step_id, ctx.attempt) == ("e1", "s1", 1)
    assert (ctx.idempotency_key, ctx.workflow, ctx.command_id) == ("k1", "wf", "e1:s1:1")
    assert ctx.deadline == deadline


async def test_sync_function_runs_in_a_thread(registry: FunctionRegistry) -> None:
    @function("sync", registry=registry)
    def sync(input: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
        return {"thread": threading.current_thread() is not threading.main_thread(), **input}

    result = await run_function(registry, command("sync", {"x": 1}))
    assert result.ok
    assert result.output == {"thread": True, "x": 1}


async def test_output_dict_validated_by_return_model(registry: FunctionRegistry) -> None:
    @function("dict_out", registry=registry)
    def dict_out(input: Any, ctx: FunctionContext) -> Account:
        return {"accountId": "a1", "created": "2024-01-02T00:00:00Z"}  # type: ignore[return-value]

    result = await run_function(registry, command("dict_out"))
    assert result.ok
    assert result.output == {"accountId": "a1", "created": "2024-01-02T00:00:00Z"}


async def test_plain_model_output_is_dumped_and_single_param_allowed(
    registry: FunctionRegistry,
) -> None:
    @function("one_param", registry=registry)
    def one_param(input: Customer) -> Any:
        return input

    result = await run_function(registry, command("one_param", {"name": "x", "age": 1}))
    assert result.ok
    assert result.output == {"name": "x", "age": 1}


async def test_input_validation_error_is_final_with_path(registry: FunctionRegistry) -> None:
    calls: list[Customer] = []

    @function("strict", registry=registry)
    async def strict(input: Customer, ctx: FunctionContext) -> None:
        calls.append(input)

    result = await run_function(registry, command("strict", {"name": "x", "age": -1}))
    assert not result.ok and result.error is not None
    assert result.error.type == "InputValidationError"
    assert result.error.retryable is False
    assert "age" in result.error.message
    assert result.error.details is not None
    assert result.error.details["errors"][0]["path"] == "age"
    assert calls == []


async def test_output_validation_error_is_final(registry: FunctionRegistry) -> None:
    @function("bad_out", registry=registry)
    async def bad_out(input: Any, ctx: FunctionContext) -> Account:
        return {"accountId": 5}  # type: ignore[return-value]

    result = await run_function(registry, command("bad_out"))
    assert result.error is not None
    assert (result.error.type, result.error.retryable) == ("OutputValidationError", False)
    assert "created" in result.error.message


async def test_unserializable_output_is_final(registry: FunctionRegistry) -> None:
    @function("weird", registry=registry)
    async def weird(input: Any, ctx: FunctionContext) -> Any:
        return object()

    result = await run_function(registry, command("weird"))
    assert result.error is not None
    assert (result.error.type, result.error.retryable) == ("OutputValidationError", False)


@pytest.mark.parametrize(
    ("raised", "type_", "retryable"),
    [
        (RetryableError("busy"), "RetryableError", True),
        (FatalError("nope"), "FatalError", False),
        (FatalError("card", type="CardDeclined"), "CardDeclined", False),
        (ValueError("bad value"), "ValueError", True),
        (KeyError("k"), "KeyError", True),
    ],
)
async def test_error_mapping(
    registry: FunctionRegistry, raised: Exception, type_: str, retryable: bool
) -> None:
    @function("boom", registry=registry)
    async def boom(input: Any, ctx: FunctionContext) -> None:
        raise raised

    result = await run_function(registry, command("boom"))
    assert not result.ok and result.output is None and result.error is not None
    assert (result.error.type, result.error.retryable) == (type_, retryable)
    assert result.error.message
    assert isinstance(RetryableError("x"), WorkflowsError)


async def test_sync_errors_map_too(registry: FunctionRegistry) -> None:
    @function("sync_boom", registry=registry)
    def sync_boom(input: Any, ctx: FunctionContext) -> None:
        raise FatalError("no such customer", details={"id": 7})

    result = await run_function(registry, command("sync_boom"))
    assert result.error is not None
    assert result.error.retryable is False
    assert result.error.details == {"id": 7}


async def test_deadline_gives_step_timeout(registry: FunctionRegistry) -> None:
    @function("slow", registry=registry)
    async def slow(input: Any, ctx: FunctionContext) -> None:
        await asyncio.sleep(30)

    deadline = datetime.now(UTC) + timedelta(milliseconds=100)
    started = asyncio.get_running_loop().time()
    result = await run_function(registry, command("slow", deadline=deadline))
    assert asyncio.get_running_loop().time() - started < 5
    assert result.error is not None
    assert (result.error.type, result.error.retryable) == ("StepTimeout", True)


async def test_past_deadline_times_out_without_running(registry: FunctionRegistry) -> None:
    calls: list[int] = []

    @function("never", registry=registry)
    def never(input: Any, ctx: FunctionContext) -> None:
        calls.append(1)

    past = datetime.now(UTC) - timedelta(seconds=1)
    result = await run_function(registry, command("never", deadline=past))
    assert result.error is not None and result.error.type == "StepTimeout"
    assert calls == []


async def test_own_timeout_error_is_not_a_step_timeout(registry: FunctionRegistry) -> None:
    @function("own_timeout", registry=registry)
    async def own_timeout(input: Any, ctx: FunctionContext) -> None:
        raise TimeoutError("upstream")

    result = await run_function(
        registry,
        command("own_timeout", deadline=datetime.now(UTC) + timedelta(seconds=30)),
    )
    assert result.error is not None and result.error.type == "TimeoutError"


async def test_unknown_function_is_final(registry: FunctionRegistry) -> None:
    result = await run_function(registry, command("missing"))
    assert isinstance(result, StepResult)
    assert result.error is not None
    assert (result.error.type, result.error.retryable) == ("UnknownFunction", False)
