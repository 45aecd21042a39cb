"""Functions of the quarterly-business-review template."""

from __future__ import annotations

import zlib
from typing import Any

from workflows.functions import FunctionContext, function


@function("collectMetric")
def collect_metric(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    seed = zlib.crc32(f"{data['segment']}:{data['metric']}".encode()) % 1000
    return {"metric": data["metric"], "value": seed / 10}


@function("writeRecommendations")
def write_recommendations(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    items = []
    if (data.get("usage") or 0) < 50:
        items.append("Run an adoption workshop")
    if (data.get("satisfaction") or 100) < 70:
        items.append("Schedule an executive check-in")
    items.append("Review expansion opportunities")
    return {"items": items}


@function("sendReport")
def send_report(data: dict[str, Any], ctx: FunctionContext) -> dict[str, Any]:
    return {"sentTo": data["to"], "recommendations": len(data.get("recommendations") or [])}
