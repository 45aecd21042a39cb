"""The public surface of the two packages a user imports (issue 18, item 6).

`workflows.__all__` (the SDK) and `contracts.__all__` (the wire contracts other runtimes and
services build on) are pinned here: adding, renaming or removing a public name fails this
test, so the change is made on purpose (and said in the README / contracts/README.md).
Every name listed must also import.
"""

from __future__ import annotations

import importlib

import pytest

WORKFLOWS = [
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

CONTRACTS = [
    "Actor",
    "CONTROL_COMMAND_ADAPTER",
    "CancelExecution",
    "ContractError",
    "ControlCommand",
    "DeadLetter",
    "FUNCTION_NAME_PATTERN",
    "LIFECYCLE_EVENT_TYPES",
    "LifecycleEvent",
    "LifecycleEventType",
    "MAX_MESSAGE_BYTES",
    "Message",
    "MigrateExecution",
    "MigratedFrom",
    "ParentRef",
    "PauseExecution",
    "ResumeExecution",
    "RetryExecution",
    "SCHEMA_VERSION",
    "SUPPORTED_SCHEMA_VERSIONS",
    "SignalExecution",
    "StartExecution",
    "StartTrigger",
    "StepCommand",
    "StepError",
    "StepResult",
    "TimerFired",
    "Topics",
    "TriggerEvent",
    "TriggerSchedule",
    "command_id",
    "dead_letter",
    "decode",
    "decode_control",
    "encode",
]


@pytest.mark.parametrize(
    ("package", "names"), [("workflows", WORKFLOWS), ("workflows.contracts", CONTRACTS)]
)
def test_the_public_names_are_pinned(package: str, names: list[str]) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == names
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, missing
