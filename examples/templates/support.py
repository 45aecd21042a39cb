"""Functions of the support-escalation template.

`assignFirstResponder` finds nobody for urgent tickets at night (simulated: always for
`urgent`), so the step runs into its SLA timeout and `escalateToOnCall` takes over.
"""

from __future__ import annotations

import asyncio
from typing import Any

from workflows.functions import FunctionContext, function


@function("triageTicket")
def triage_ticket(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    queue = "urgent" if data["priority"] in ("high", "urgent") else "general"
    return {"queue": queue, "tags": [w.lower() for w in data["subject"].split()[:3]]}


@function("assignFirstResponder")
async def assign_first_responder(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    if data["queue"] == "urgent":
        await asyncio.sleep(3600)  # nobody picks it up: the SLA timeout ends this attempt
    return {"responder": "support-agent-1"}


@function("escalateToOnCall")
def escalate_to_on_call(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"responder": "on-call-lead", "escalated": True}


@function("notifyCustomer")
def notify_customer(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"ticketId": data["ticketId"], "message": f"{data['responder']} is on it"}
