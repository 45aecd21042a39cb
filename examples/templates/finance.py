"""Functions of the invoice-approval and refund-approval templates."""

from __future__ import annotations

from typing import Any

from workflows.functions import FunctionContext, function


@function("extractInvoice")
def extract_invoice(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {**data, "dueInDays": 30}


@function("schedulePayment")
def schedule_payment(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"paymentId": f"PAY-{data['invoiceId']}", "amount": data["amount"]}


@function("notifyVendor")
def notify_vendor(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"notified": data["vendor"], "reason": data["reason"]}


@function("checkOrder")
def check_order(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"orderId": data["orderId"], "refundable": True, "paid": data["amount"]}


@function("issueRefund")
def issue_refund(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"refundId": f"REF-{data['orderId']}", "amount": data["amount"]}


@function("notifyCustomerOfRefund")
def notify_customer_of_refund(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"orderId": data["orderId"], "message": "refunded" if data["refunded"] else "declined"}
