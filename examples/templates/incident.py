"""Functions of the incident-response template."""

from __future__ import annotations

from typing import Any

from workflows.functions import FunctionContext, function


@function("openIncident")
def open_incident(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"id": f"INC-{ctx.execution_id[:8]}", "severity": data["severity"]}


@function("pageOnCall")
def page_on_call(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"responder": f"oncall-{data['service']}", "acknowledged": True}


@function("updateStatusPage")
def update_status_page(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"url": f"https://status.example.com/{data['incidentId']}"}


@function("openWarRoom")
def open_war_room(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"channel": f"#{data['incidentId'].lower()}", "invited": [data["responder"]]}


@function("filePostMortem")
def file_post_mortem(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"task": f"PM-{data['incidentId']}"}
