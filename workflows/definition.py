"""The workflow definition model, for writing a definition in Python.

The same classes the engine validates with (`workflows.services.core.definition`): fields
are snake_case in Python and camelCase on the wire. `input` and `output` take a pydantic model
class, turned into the JSON Schema a YAML file would hold (no titles; `x: str | None = None` is an
optional string), so a Python definition and its YAML twin register as the same version.
"""

from workflows.services.core.definition import (
    Backoff,
    Case,
    Catch,
    ErrorHandling,
    Loop,
    MetricDefinition,
    Notifications,
    RetryStrategy,
    Step,
    Switch,
    Trigger,
    WorkflowDefinition,
)
from workflows.services.core.limits import RateLimit
from workflows.services.core.model_schema import model_schema

__all__ = [
    "Backoff",
    "Case",
    "Catch",
    "ErrorHandling",
    "Loop",
    "MetricDefinition",
    "Notifications",
    "RateLimit",
    "RetryStrategy",
    "Step",
    "Switch",
    "Trigger",
    "WorkflowDefinition",
    "model_schema",
]
