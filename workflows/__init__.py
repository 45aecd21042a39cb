"""Workflows: declarative business workflows over Kafka, with state in Redis.

The Python SDK: `Workflows` / `AsyncWorkflows` talk to the trigger service's HTTP API;
`function` registers a Python function that a worker or the dispatcher runs.
"""

from workflows.client import AsyncWorkflows, Workflows
from workflows.client_errors import ApiError, ClientError, ExecutionFailed, ExecutionTimeout
from workflows.errors import FatalError, RetryableError, WorkflowsError
from workflows.functions import FunctionContext, FunctionRegistry, function

__all__ = [
    "ApiError",
    "AsyncWorkflows",
    "ClientError",
    "ExecutionFailed",
    "ExecutionTimeout",
    "FatalError",
    "FunctionContext",
    "FunctionRegistry",
    "RetryableError",
    "Workflows",
    "WorkflowsError",
    "function",
]
