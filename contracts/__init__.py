"""Message contracts of the Workflows engine: pydantic models are the source of truth.

JSON Schema files (schemas/) and the AsyncAPI document (asyncapi.yaml) are generated
from them by `python -m workflows.contracts.generate`.
"""

from workflows.contracts.base import SCHEMA_VERSION, SUPPORTED_SCHEMA_VERSIONS, Actor, Message
from workflows.contracts.codec import MAX_MESSAGE_BYTES, decode, decode_control, encode
from workflows.contracts.dlq import DeadLetter, dead_letter
from workflows.contracts.errors import ContractError
from workflows.contracts.events import LIFECYCLE_EVENT_TYPES, LifecycleEvent, LifecycleEventType
from workflows.contracts.executions import (
    CONTROL_COMMAND_ADAPTER,
    CancelExecution,
    ControlCommand,
    MigratedFrom,
    MigrateExecution,
    ParentRef,
    PauseExecution,
    ResumeExecution,
    RetryExecution,
    SignalExecution,
    StartExecution,
    StartTrigger,
    TimerFired,
    TriggerEvent,
    TriggerSchedule,
)
from workflows.contracts.steps import StepCommand, StepError, StepResult, command_id
from workflows.contracts.topics import FUNCTION_NAME_PATTERN, Topics

__all__ = [
    "CONTROL_COMMAND_ADAPTER",
    "FUNCTION_NAME_PATTERN",
    "LIFECYCLE_EVENT_TYPES",
    "MAX_MESSAGE_BYTES",
    "SCHEMA_VERSION",
    "SUPPORTED_SCHEMA_VERSIONS",
    "Actor",
    "CancelExecution",
    "ContractError",
    "ControlCommand",
    "DeadLetter",
    "LifecycleEvent",
    "LifecycleEventType",
    "Message",
    "MigrateExecution",
    "MigratedFrom",
    "ParentRef",
    "PauseExecution",
    "ResumeExecution",
    "RetryExecution",
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

if __name__ != "workflows.contracts":  # installed once, as workflows.contracts (README: Layout)
    raise ImportError(f"import workflows.contracts, not {__name__}")
