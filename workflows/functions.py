"""The Python function SDK: register functions and run one step command with them.

    @function("setupCustomerAccount")
    async def setup(input: Customer, ctx: FunctionContext) -> Account: ...

The registry and the call live in `workflows.services.functions.registry`, below the
services that run functions (the dispatcher, the worker); this module is the SDK's name for them.
"""

from __future__ import annotations

from workflows.services.functions.registry import (
    FunctionContext,
    FunctionRegistry,
    RegisteredFunction,
    default_registry,
    function,
    run_function,
    step_result,
)

__all__ = [
    "FunctionContext",
    "FunctionRegistry",
    "RegisteredFunction",
    "default_registry",
    "function",
    "run_function",
    "step_result",
]
