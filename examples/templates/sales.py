"""Functions of the lead-routing and contract-renewal-reminder templates."""

from __future__ import annotations

import zlib
from typing import Any

from workflows.functions import FunctionContext, function

TERRITORIES = {
    "DE": "Dana (DACH)",
    "AT": "Dana (DACH)",
    "US": "Sam (Americas)",
    "FR": "Lea (France)",
}


@function("enrichLead")
def enrich_lead(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    domain = data["email"].split("@")[-1]
    return {"domain": domain, "employees": data.get("employees") or 10, "industry": "software"}


@function("scoreLead")
def score_lead(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    employees = int(data.get("employees") or 0)
    score = min(100, 20 + employees // 50 + (20 if data.get("industry") == "software" else 0))
    return {"score": score}


@function("assignSalesRep")
def assign_sales_rep(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"rep": TERRITORIES.get(data["country"], "Alex (Rest of world)")}


@function("startNurtureSequence")
def start_nurture_sequence(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"sequence": data["sequence"], "enrolled": data["email"]}


@function("fetchContract")
def fetch_contract(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    days = zlib.crc32(data["contractId"].encode()) % 90
    return {
        "ownerEmail": "owner@example.com",
        "customerEmail": "buyer@customer.example",
        "daysToRenewal": days,
        "annualValue": 60000,
    }


@function("sendReminder")
def send_reminder(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"to": data["to"], "daysLeft": data["daysLeft"]}


@function("openRenewalOpportunity")
def open_renewal_opportunity(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"opportunityId": f"OPP-{data['contractId']}", "value": data["value"]}
