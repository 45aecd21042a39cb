"""The Python function SDK: register functions and run one step command with them.

    @function("setupCustomerAccount")
    async def setup(input: Customer, ctx: FunctionContext) -> Account: ...

A function is `async def` or plain `def` (run in a thread). When its first parameter is
annotated with a pydantic model the step input is validated with it; when its return
annotation is a pydantic model the output is validated and dumped to JSON with it.
"""

from __future__ import annotations

import asyncio
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, overload

import structlog
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from workflows.contracts import StepCommand, StepError, StepResult
from workflows.contracts.steps import LogLine
from workflows.services.functions import attempt_logs
from workflows.services.functions.errors import WorkflowsError

__all__ = [
    "FunctionContext",
    "FunctionRegistry",
    "RegisteredFunction",
    "default_registry",
    "function",
    "run_function",
    "step_result",
]

log = structlog.get_logger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class FunctionContext:
    """What a function knows about the step attempt it runs."""

    execution_id: str
    step_id: str
    attempt: int
    idempotency_key: str
    workflow: str
    deadline: datetime | None
    command_id: str


@dataclass(frozen=True, slots=True)
class RegisteredFunction:
    """A function plus what its annotations say about input and output."""

    name: str
    fn: Callable[..., Any]
    input_model: type[BaseModel] | None
    output_model: type[BaseModel] | None
    is_async: bool
    takes_context: bool


class FunctionRegistry:
    """Functions by name."""

    def __init__(self) -> None:
        self._functions: dict[str, RegisteredFunction] = {}

    def register(self, fn: F, name: str | None = None) -> F:
        """Add `fn` under `name` (default: its `__name__`); returns `fn` unchanged."""
        key = name or getattr(fn, "__name__", "")
        if not key:
            raise ValueError("a function needs a name")
        self._functions[key] = _inspect(key, fn)
        return fn

    def unregister(self, name: str) -> None:
        """Stop serving `name` here (e.g. a worker in another language serves it)."""
        self._functions.pop(name, None)

    def get(self, name: str) -> RegisteredFunction | None:
        return self._functions.get(name)

    def names(self) -> list[str]:
        return sorted(self._functions)

    def __contains__(self, name: object) -> bool:
        return name in self._functions

    def __len__(self) -> int:
        return len(self._functions)


default_registry = FunctionRegistry()


@overload
def function(name: F, *, registry: FunctionRegistry = ...) -> F: ...
@overload
def function(name: str | None = None, *, registry: FunctionRegistry = ...) -> Callable[[F], F]: ...
def function(
    name: str | Callable[..., Any] | None = None, *, registry: FunctionRegistry = default_registry
) -> Any:
    """Decorator: `@function()`, `@function("name")` (and bare `@function`) register a function."""
    if callable(name):
        return registry.register(name)

    def decorate(fn: F) -> F:
        return registry.register(fn, name)

    return decorate


# -- introspection --------------------------------------------------------------------------
def _inspect(name: str, fn: Callable[..., Any]) -> RegisteredFunction:
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    if not params or len(params) > 2:
        raise TypeError(f"function {name!r} must take (input) or (input, ctx)")
    return RegisteredFunction(
        name=name,
        fn=fn,
        input_model=_model_of(_resolve(fn, params[0].annotation)),
        output_model=_model_of(_resolve(fn, signature.return_annotation)),
        is_async=inspect.iscoroutinefunction(fn),
        takes_context=len(params) == 2,
    )


def _resolve(fn: Callable[..., Any], annotation: Any) -> Any:
    """An annotation as an object (string annotations are evaluated in the function's module)."""
    if not isinstance(annotation, str):
        return annotation
    namespace = getattr(inspect.unwrap(fn), "__globals__", {})
    try:
        return eval(annotation, dict(namespace))
    except Exception:  # e.g. a name imported only under TYPE_CHECKING: no validation
        return None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation names, also inside `Model | dict` / `Optional[Model]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [a for a in typing.get_args(annotation) if _model_of(a) is not None]
        if len(models) == 1:
            return _model_of(models[0])
    return None


# -- running one command --------------------------------------------------------------------
class _StepFailure(Exception):
    def __init__(self, error: StepError) -> None:
        super().__init__(error.message)
        self.error = error


async def run_function(
    registry: FunctionRegistry, command: StepCommand, *, worker_id: str | None = None
) -> StepResult:
    """Run one step command; every failure becomes an error result (cancellation propagates)."""
    started = datetime.now(UTC)
    error: StepError | None = None
    output: Any = None
    with attempt_logs.capture() as captured:  # its logging records and prints
        try:
            output = await _execute(registry, command)
        except _StepFailure as failure:
            error = failure.error
    logs = captured.result() or None
    # the attempt's fields go to the one call that renders (or, filtered, does nothing):
    # no bound logger is built per step
    where: dict[str, Any] = {
        "execution_id": command.execution_id,
        "step_id": command.step_id,
        "attempt": command.attempt,
    }
    if error is not None:
        log.info(
            "step_failed", **where, type=error.type, retryable=error.retryable, error=error.message
        )
        return step_result(command, started, worker_id, error=error, logs=logs)
    log.debug("step_succeeded", **where, function=command.function)
    return step_result(command, started, worker_id, output=output, logs=logs)


async def _execute(registry: FunctionRegistry, command: StepCommand) -> Any:
    entry = registry.get(command.function)
    if entry is None:
        raise _fail("UnknownFunction", f"no function named {command.function!r}", retryable=False)
    if command.input_ref is not None:
        raise _fail("UnsupportedInputRef", "claim-check inputs are not supported", retryable=False)
    value = _validate_input(entry, command.input)
    ctx = FunctionContext(
        execution_id=command.execution_id,
        step_id=command.step_id,
        attempt=command.attempt,
        idempotency_key=command.idempotency_key,
        workflow=command.workflow,
        deadline=command.deadline,
        command_id=command.command_id,
    )
    raw = await _call_with_deadline(entry, value, ctx)
    return _dump_output(entry, raw)


async def _call_with_deadline(entry: RegisteredFunction, value: Any, ctx: FunctionContext) -> Any:
    delay = None
    if ctx.deadline is not None:
        delay = (ctx.deadline - datetime.now(UTC)).total_seconds()
        if delay <= 0:
            raise _fail("StepTimeout", "the step deadline passed before it started")
    try:
        async with asyncio.timeout(delay) as scope:
            return await _call(entry, value, ctx)
    except WorkflowsError as exc:
        raise _fail(
            exc.type,
            exc.message,
            retryable=exc.retryable,
            details=exc.details,
        ) from exc
    except TimeoutError as exc:
        if scope.expired():
            raise _fail("StepTimeout", f"the step did not finish within {delay:.3f}s") from exc
        raise _fail("TimeoutError", str(exc) or "timed out") from exc
    except Exception as exc:
        raise _fail(type(exc).__name__, str(exc) or repr(exc)) from exc


async def _call(entry: RegisteredFunction, value: Any, ctx: FunctionContext) -> Any:
    args = (value, ctx) if entry.takes_context else (value,)
    if entry.is_async:
        return await entry.fn(*args)
    result = await asyncio.to_thread(entry.fn, *args)
    if inspect.isawaitable(result):  # a plain def returning a coroutine
        return await result
    return result


def _validate_input(entry: RegisteredFunction, value: Any) -> Any:
    if entry.input_model is None:
        return value
    try:
        return entry.input_model.model_validate(value)
    except ValidationError as exc:
        raise _validation_failure("InputValidationError", "input", exc) from None


def _dump_output(entry: RegisteredFunction, raw: Any) -> Any:
    try:
        if entry.output_model is not None:
            model = entry.output_model
            value = raw if isinstance(raw, model) else model.model_validate(raw)
            return value.model_dump(mode="json", by_alias=True)
        if isinstance(raw, BaseModel):
            return raw.model_dump(mode="json", by_alias=True)
        return to_jsonable_python(raw)
    except ValidationError as exc:
        raise _validation_failure("OutputValidationError", "output", exc) from None
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise _fail(
            "OutputValidationError", f"output is not JSON serializable: {exc}", retryable=False
        ) from None


def _validation_failure(kind: str, what: str, exc: ValidationError) -> _StepFailure:
    problems = [
        {"path": ".".join(str(p) for p in e["loc"]) or "<root>", "message": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    text = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5])
    return _fail(kind, f"invalid {what}: {text}", retryable=False, details={"errors": problems})


def _fail(
    type_: str, message: str, *, retryable: bool = True, details: dict[str, Any] | None = None
) -> _StepFailure:
    return _StepFailure(
        StepError(type=type_, message=message, retryable=retryable, details=details)
    )


def step_result(
    command: StepCommand,
    started: datetime,
    worker_id: str | None,
    *,
    output: Any = None,
    error: StepError | None = None,
    logs: list[dict[str, str]] | None = None,
) -> StepResult:
    """The StepResult answering `command`: ok with `output`, or failed with `error`; `logs`:
    what the function logged (`workflows.attempt_logs`)."""
    return StepResult(
        execution_id=command.execution_id,
        command_id=command.command_id,
        step_id=command.step_id,
        attempt=command.attempt,
        ok=error is None,
        output=output if error is None else None,
        error=error,
        worker_id=worker_id,
        started_at=started,
        finished_at=datetime.now(UTC),
        logs=[LogLine.model_validate(line) for line in logs] if logs else None,
    )
