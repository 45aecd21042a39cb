"""The seed's functions as examples.workers.seed_functions serves them (sendPersonalizedEmail
left to another runtime's worker), except that `allocateResources` fails its first attempt
with a retryable error: the trace test's retried step (two attempt spans, a retry wait)."""

from examples.onboarding_functions import ResourceInput, Resources, allocate_resources
from examples.workers import seed_functions
from workflows.errors import RetryableError
from workflows.functions import FunctionContext, default_registry, function

assert seed_functions is not None
default_registry.unregister("allocateResources")


@function("allocateResources")
def allocate_resources_once_failing(data: ResourceInput, ctx: FunctionContext) -> Resources:
    if ctx.attempt == 1:
        raise RetryableError("the resource pool is busy (first attempt, by design)")
    return allocate_resources(data, ctx)
