"""Functions of the employee-onboarding and employee-offboarding templates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from workflows.functions import FunctionContext, function


@function("createAccounts")
def create_accounts(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    login = data["name"].lower().replace(" ", ".")
    return {"email": f"{login}@example.com", "groups": [data["department"], "everyone"]}


@function("orderEquipment")
def order_equipment(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {
        "orderId": f"EQ-{data['employeeId']}",
        "shipTo": "home" if data["shipHome"] else "office",
    }


@function("enrolPayroll")
def enrol_payroll(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"payrollId": f"PAY-{data['employeeId']}", "firstPayday": data["startDate"]}


@function("scheduleFirstWeek")
def schedule_first_week(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"events": ["Welcome breakfast", f"{data['department']} intro", "Laptop setup"]}


@function("revokeAccess")
def revoke_access(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"revokedAt": datetime.now(UTC).isoformat(), "systems": ["sso", "vpn", "github"]}


@function("collectEquipment")
def collect_equipment(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"returnLabel": f"RET-{data['employeeId']}"}


@function("runFinalPayroll")
def run_final_payroll(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"finalPayDate": data["lastDay"]}


@function("archiveMailbox")
def archive_mailbox(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"archive": f"mailbox-{data['employeeId']}.pst"}
