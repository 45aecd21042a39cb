"""Workflows: declarative business workflows over Kafka, with state in Redis.

The Python SDK: `Workflows` / `AsyncWorkflows` talk to the trigger service's HTTP API;
`function` registers a Python function that a worker or the dispatcher runs;
`WorkflowDefinition`, `Step` and the rest (workflows.definition) write a definition in Python.
"""

from workflows.client import AsyncWorkflows, Workflows
from workflows.definition import (
    Backoff,
    Case,
    Catch,
    ErrorHandling,
    Loop,
    MetricDefinition,
    Notifications,
    RateLimit,
    RetryStrategy,
    Step,
    Switch,
    Trigger,
    WorkflowDefinition,
    model_schema,
)
from workflows.errors import (
    ApiError,
    ClientError,
    ExecutionFailed,
    ExecutionTimeout,
    FatalError,
    RetryableError,
    WorkflowsError,
)
from workflows.functions import FunctionContext, FunctionRegistry, function

__all__ = [
    "ApiError",
    "AsyncWorkflows",
    "Backoff",
    "Case",
    "Catch",
    "ClientError",
    "ErrorHandling",
    "ExecutionFailed",
    "ExecutionTimeout",
    "FatalError",
    "FunctionContext",
    "FunctionRegistry",
    "Loop",
    "MetricDefinition",
    "Notifications",
    "RateLimit",
    "RetryStrategy",
    "RetryableError",
    "Step",
    "Switch",
    "Trigger",
    "WorkflowDefinition",
    "Workflows",
    "WorkflowsError",
    "function",
    "model_schema",
]
