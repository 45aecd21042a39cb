"""Example implementations of the seed workflow's functions (and its fallback).

Run them in a worker: `workflows run worker --functions examples.onboarding_functions`.
Each is a plain Python function with pydantic input/output; the context carries the
execution id, step id, attempt and idempotency key.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field

from workflows.functions import FunctionContext, function

PLAN_DAYS = {"starter": 14.0, "professional": 10.0, "enterprise": 21.0}
FIRST_LOGIN_MINUTES = {"starter": 90.0, "professional": 45.0, "enterprise": 30.0}


class AccountInput(BaseModel):
    customerId: str
    plan: str


class Account(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    customerEmail: str
    companyName: str
    accountUrl: str
    # Reported KPIs: the engine takes `_kpis` out of the step output and records them.
    kpis: dict[str, float] = Field(default_factory=dict, alias="_kpis")


@function("setupCustomerAccount")
def setup_customer_account(data: AccountInput, ctx: FunctionContext) -> Account:
    slug = data.customerId.lower().replace("_", "-")
    return Account(
        customerEmail=f"{slug}@customers.example.com",
        companyName=f"Company {data.customerId}",
        accountUrl=f"https://app.example.com/{slug}",
        kpis={"timeToFirstLogin": FIRST_LOGIN_MINUTES.get(data.plan, 60.0)},
    )


class EmailInput(BaseModel):
    to: str
    template: str
    variables: dict[str, str] = {}


class EmailSent(BaseModel):
    messageId: str
    to: str
    template: str


@function("sendPersonalizedEmail")
def send_personalized_email(data: EmailInput, ctx: FunctionContext) -> EmailSent:
    # The idempotency key makes a redelivered command send the same message id.
    message_id = hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:16]
    return EmailSent(messageId=message_id, to=data.to, template=data.template)


class ResourceInput(BaseModel):
    customerId: str
    plan: str
    companySize: str


class Resources(BaseModel):
    seats: int
    storageGb: int


@function("allocateResources")
def allocate_resources(data: ResourceInput, ctx: FunctionContext) -> Resources:
    seats = {"small": 10, "medium": 50, "large": 250, "enterprise": 1000}.get(data.companySize, 5)
    return Resources(seats=seats, storageGb=seats * (4 if data.plan == "enterprise" else 1))


class ManagerInput(BaseModel):
    customerId: str
    industry: str
    plan: str


class AccountManager(BaseModel):
    name: str
    email: str


@function("assignAccountManager")
def assign_account_manager(data: ManagerInput, ctx: FunctionContext) -> AccountManager:
    return AccountManager(
        name=f"{data.industry.title()} Lead", email=f"am-{data.industry}@example.com"
    )


class KickoffInput(BaseModel):
    customerEmail: str
    accountManagerEmail: str
    suggestedTopics: list[str]


class Meeting(BaseModel):
    meetingUrl: str
    topics: list[str]


@function("scheduleKickoffCall")
def schedule_kickoff_call(data: KickoffInput, ctx: FunctionContext) -> Meeting:
    return Meeting(
        meetingUrl=f"https://meet.example.com/{ctx.execution_id}", topics=data.suggestedTopics
    )


@function("sendSchedulingLink")
def send_scheduling_link(data: KickoffInput, ctx: FunctionContext) -> Meeting:
    """Fallback for scheduleKickoff: let the customer pick a slot themselves."""
    return Meeting(
        meetingUrl=f"https://cal.example.com/book/{ctx.execution_id}", topics=data.suggestedTopics
    )


class PlanInput(BaseModel):
    customerId: str
    industry: str
    companySize: str
    plan: str


class SuccessPlan(BaseModel):
    onboardingStatus: str
    nextSteps: list[str]
    estimatedTimeToValue: float


@function("generateCustomerSuccessPlan")
def generate_customer_success_plan(data: PlanInput, ctx: FunctionContext) -> SuccessPlan:
    steps = ["Complete product tour", f"Import {data.industry} data", "Invite your team"]
    if data.plan == "enterprise":
        steps.append("Kickoff call with your account manager")
    return SuccessPlan(
        onboardingStatus="in_progress",
        nextSteps=steps,
        estimatedTimeToValue=PLAN_DAYS.get(data.plan, 14.0),
    )
