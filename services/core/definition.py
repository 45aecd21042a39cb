"""The workflow definition model: the seed's format, field for field, plus documented extensions.

Field names are camelCase on the wire (YAML/JSON) and snake_case in Python. The
`input` and `output` schemas are JSON Schema; in Python they may be given as pydantic
model classes and are converted to JSON Schema on construction.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from workflows.services.core.durations import DurationMs
from workflows.services.core.limits import RateLimit
from workflows.services.core.model_schema import model_schema
from workflows.services.core.search_attributes import SearchAttributes
from workflows.services.core.state_machine import state_machine_steps

__all__ = [
    "Backoff",
    "Case",
    "Catch",
    "ErrorHandling",
    "Loop",
    "MetricDefinition",
    "Notifications",
    "RetryStrategy",
    "Step",
    "Switch",
    "Trigger",
    "WorkflowDefinition",
]

STEP_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"
# `<namespace>~` qualifies names stored by the API for a namespace
# (workflows.services.core.namespaces)
_QUALIFIER = r"(?:[a-z0-9][a-z0-9-]{0,62}~)?"
FUNCTION_PATTERN = rf"^(workflow:{_QUALIFIER})?[A-Za-z][A-Za-z0-9_.-]{{0,200}}$"  # child
WORKFLOW_NAME_PATTERN = rf"^{_QUALIFIER}[A-Za-z][A-Za-z0-9_.-]{{0,200}}$"
EVENT_PATTERN_PATTERN = r"^(\*|[A-Za-z0-9_-]+)(\.(\*|[A-Za-z0-9_-]+))*$"
MigrationPolicy = Literal["finish-current", "cancel-and-restart", "resume-at-same-step"]
MIGRATION_POLICIES: tuple[str, ...] = get_args(MigrationPolicy)


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


ERROR_TYPE_PATTERN = r"^(\*|[A-Za-z_][A-Za-z0-9_.:-]{0,199})$"  # `*` matches any type
ErrorType = Annotated[str, Field(pattern=ERROR_TYPE_PATTERN)]


class Backoff(_Model):
    """Delay before attempt n+1: `fixed` initialDelay, `linear` initialDelay * n, `exponential`
    initialDelay * multiplier**(n-1) (the default); capped by maxDelay, spread by jitter."""

    kind: Literal["fixed", "linear", "exponential"] = "exponential"
    initial_delay: DurationMs = Field(default=1000, ge=0, le=86_400_000, description="ms or text")
    multiplier: float = Field(default=2.0, ge=1.0, le=100.0)
    max_delay: DurationMs | None = Field(default=None, ge=0, le=86_400_000, description="cap")
    jitter: float = Field(default=0.0, ge=0.0, le=1.0, description="fraction of the delay")


class RetryStrategy(_Model):
    """Attempts per step. An error is retried unless it says `retryable: false`, its `type` is
    in `nonRetryable`, or `retryOn` is given and does not list it."""

    max_attempts: int = Field(default=1, ge=1, le=100)
    backoff: Backoff = Field(default_factory=Backoff)
    retry_on: tuple[ErrorType, ...] = Field(default=(), max_length=100)
    non_retryable: tuple[ErrorType, ...] = Field(default=(), max_length=100)


class Catch(_Model):
    """Route a step's final error by type: `errors` (default `["*"]`, any) -> step `next`."""

    errors: tuple[ErrorType, ...] = Field(default=("*",), min_length=1, max_length=100)
    next: str = Field(pattern=STEP_ID_PATTERN)


class ErrorHandling(_Model):
    retry_strategy: RetryStrategy | None = None
    fallback_steps: dict[str, str] = Field(default_factory=dict)


class MetricDefinition(_Model):
    """A business KPI. `value` is a template over the execution's data; `between` two step ids."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    value: str | None = None
    between: tuple[str, str] | None = None
    unit: str | None = None


class Notifications(_Model):
    """Recipients per outcome: e-mail addresses or `webhook:https://...` URLs."""

    on_start: tuple[str, ...] = ()
    on_complete: tuple[str, ...] = ()
    on_failure: tuple[str, ...] = ()


class Trigger(_Model):
    """Start the workflow on events of type `event` (`noun.verb`, `*` matches one segment)."""

    event: str = Field(pattern=EVENT_PATTERN_PATTERN, max_length=200)
    filter: str | None = None
    input: Any = None


SWITCH = "switch"


class Case(_Model):
    when: str = Field(min_length=1, max_length=4096, description="a condition")
    next: str = Field(pattern=STEP_ID_PATTERN)


class Switch(_Model):
    """The first case whose `when` holds picks the next step, else `default`."""

    cases: tuple[Case, ...] = Field(min_length=1, max_length=100)
    default: str | None = Field(default=None, pattern=STEP_ID_PATTERN)


class Loop(_Model):
    """Run the group `from` .. this step again while `while` holds, at most maxIterations."""

    start: str = Field(alias="from", pattern=STEP_ID_PATTERN)
    while_: str = Field(alias="while", min_length=1, max_length=4096)
    max_iterations: int = Field(ge=1, le=10_000)


class StepCache(_Model):
    """Reuse a successful output of the same function and rendered `key` for `ttl`."""

    key: str = Field(min_length=1, max_length=4096, description="a template, e.g. '{{input.id}}'")
    ttl: DurationMs = Field(ge=1, le=30 * 86_400_000, description="ms or text, e.g. '1h'")


class Step(_Model):
    id: str = Field(pattern=STEP_ID_PATTERN)
    function: str = Field(pattern=FUNCTION_PATTERN)
    input: Any = Field(default_factory=dict)
    condition: str | None = None
    depends_on: tuple[str, ...] | None = None
    retry: RetryStrategy | None = None
    timeout: DurationMs | None = Field(default=None, ge=1, le=86_400_000, description="ms or text")
    description: str = ""
    compensate: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,200}$")
    on_timeout: str | None = Field(default=None, description="waits: step id, fail or continue")
    catch: tuple[Catch, ...] = Field(default=(), max_length=50)
    switch: Switch | None = None
    next: str | dict[str, str] | None = Field(
        default=None, description="the step after this one, or {outcome: stepId}"
    )
    on_success: str | None = Field(default=None, pattern=STEP_ID_PATTERN)
    on_failure: str | None = Field(default=None, pattern=STEP_ID_PATTERN)
    is_final: bool = False
    loop: Loop | None = None
    cache: StepCache | None = Field(
        default=None, description="reuse a successful output of this function for the same key"
    )
    for_each: str | None = Field(
        default=None,
        max_length=4096,
        description="'{{expr}}' yielding a list: the function runs once per item, with "
        "{{item}} and {{index}} in its input; the output is the list of item outputs",
    )
    max_concurrency: int | None = Field(
        default=None, ge=1, le=1000, description="forEach: items running at once (default 10)"
    )
    tolerated_failures: int | str | None = Field(
        default=None,
        description="forEach: how many items may fail (after their retries), a count or '10%'",
    )

    @model_validator(mode="before")
    @classmethod
    def _switch_function(cls, value: Any) -> Any:
        if isinstance(value, dict) and "switch" in value and "function" not in value:
            return {**value, "function": SWITCH}  # a switch step calls nothing
        return value


def _schema_of(value: Any) -> Any:
    if isinstance(value, type) and issubclass(value, BaseModel):
        return model_schema(value)  # as a YAML file would write it: no titles, optional plain
    return value


class WorkflowDefinition(_Model):
    name: str = Field(pattern=WORKFLOW_NAME_PATTERN)
    description: str = ""
    version: int | None = Field(default=None, ge=1)
    input: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    output: dict[str, Any] | None = None
    steps: tuple[Step, ...] = Field(max_length=500)
    initial_step: str | None = Field(
        default=None, description="the state-machine map format: steps given as {id: step}"
    )
    error_handling: ErrorHandling = Field(default_factory=ErrorHandling)
    metrics: tuple[MetricDefinition, ...] = ()
    parallelism: Literal["sequential", "auto"] = "sequential"
    output_mapping: Any = None
    timeout: DurationMs | None = Field(default=None, ge=1, description="whole execution, ms")
    triggers: tuple[Trigger, ...] = Field(default=(), max_length=100)
    notifications: Notifications | None = None
    rate_limit: RateLimit | None = Field(
        default=None, description="executions admitted per period (workflows.services.core.limits)"
    )
    priority: int = Field(
        default=0, ge=-1000, le=1000, description="backlogged functions run higher first"
    )
    search_attributes: SearchAttributes = Field(
        default_factory=dict, description="fields to search executions by (core.search_attributes)"
    )
    migration: MigrationPolicy = Field(
        default="finish-current",
        description="what registering this version does to executions in flight: keep their "
        "version, cancel and restart them, or resume them here at the first shared step not "
        "run yet (workflows.services.core.migration)",
    )

    @model_validator(mode="before")
    @classmethod
    def _state_machine(cls, value: Any) -> Any:
        """`initialStep` + `steps: {id: step}` -> the same steps as a list (core.state_machine)."""
        if isinstance(value, dict) and isinstance(value.get("steps"), dict):
            initial = value.get("initialStep", value.get("initial_step"))
            return {**value, "steps": state_machine_steps(initial, value["steps"])}
        return value

    @field_validator("input", "output", mode="before")
    @classmethod
    def _model_to_schema(cls, value: Any) -> Any:
        return _schema_of(value)

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def to_wire(self) -> dict[str, Any]:
        """The definition as JSON-ready camelCase data (what the API and YAML files use)."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)
