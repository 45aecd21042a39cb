"""The seed's customerOnboardingWorkflow written in Python (schemas as pydantic models).

Templates and conditions are character for character as in the seed. Registered after
`customer_onboarding.yaml` (or before), it is the same version: the models become the schemas the
YAML writes (tests/integration/test_python_definition.py).
"""

from typing import Literal

from pydantic import BaseModel

from workflows import (
    Backoff,
    ErrorHandling,
    MetricDefinition,
    RetryStrategy,
    Step,
    WorkflowDefinition,
)


class OnboardingInput(BaseModel):
    customerId: str
    plan: Literal["starter", "professional", "enterprise"]
    industry: str
    companySize: Literal["small", "medium", "large", "enterprise"]


class OnboardingOutput(BaseModel):
    onboardingStatus: Literal["completed", "in_progress", "needs_assistance"]
    nextSteps: list[str]
    estimatedTimeToValue: float
    accountManager: str | None = None


customerOnboardingWorkflow = WorkflowDefinition(
    name="customerOnboardingWorkflow",
    description="Automates the customer onboarding process from signup to successful first use",
    input=OnboardingInput,
    output=OnboardingOutput,
    steps=(
        Step(
            id="accountSetup",
            function="setupCustomerAccount",
            input={
                "customerId": "{{input.customerId}}",
                "plan": "{{input.plan}}",
            },
        ),
        Step(
            id="welcomeEmail",
            function="sendPersonalizedEmail",
            input={
                "to": "{{accountSetup.customerEmail}}",
                "template": "welcome",
                "variables": {
                    "companyName": "{{accountSetup.companyName}}",
                    "industry": "{{input.industry}}",
                    "accountUrl": "{{accountSetup.accountUrl}}",
                },
            },
        ),
        Step(
            id="resourceAllocation",
            function="allocateResources",
            input={
                "customerId": "{{input.customerId}}",
                "plan": "{{input.plan}}",
                "companySize": "{{input.companySize}}",
            },
        ),
        Step(
            id="assignAccountManager",
            function="assignAccountManager",
            input={
                "customerId": "{{input.customerId}}",
                "industry": "{{input.industry}}",
                "plan": "{{input.plan}}",
            },
            condition='{{input.plan === "enterprise" || input.companySize === "enterprise"}}',
        ),
        Step(
            id="scheduleKickoff",
            function="scheduleKickoffCall",
            input={
                "customerEmail": "{{accountSetup.customerEmail}}",
                "accountManagerEmail": "{{assignAccountManager.email}}",
                "suggestedTopics": ["Implementation timeline", "Success metrics", "Training needs"],
            },
            condition="{{!!assignAccountManager}}",
        ),
        Step(
            id="createSuccessPlan",
            function="generateCustomerSuccessPlan",
            input={
                "customerId": "{{input.customerId}}",
                "industry": "{{input.industry}}",
                "companySize": "{{input.companySize}}",
                "plan": "{{input.plan}}",
            },
        ),
    ),
    error_handling=ErrorHandling(
        retry_strategy=RetryStrategy(
            max_attempts=3, backoff=Backoff(initial_delay=1000, multiplier=2)
        ),
        fallback_steps={"scheduleKickoff": "sendSchedulingLink"},
    ),
    metrics=(
        # Neither value nor between: reported by setupCustomerAccount under `_kpis`.
        MetricDefinition(
            name="timeToFirstLogin", description="Time from signup to first login", unit="minutes"
        ),
        # Evaluated whenever an execution ends, so the mean over executions is the rate.
        MetricDefinition(
            name="onboardingCompletionRate",
            description="Percentage of customers completing onboarding",
            value='{{execution.status === "completed" ? 100 : 0}}',
            unit="percent",
        ),
        MetricDefinition(
            name="timeToValue",
            description="Time from signup to first value realization",
            value="{{createSuccessPlan.estimatedTimeToValue}}",
            unit="days",
        ),
    ),
)
