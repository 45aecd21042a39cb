"""Operations probes: `/healthz` (the process is alive) and `/readyz` (Redis answers and
accepts writes, the Kafka producer is started; 503 with Retry-After naming what is not)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from workflows.services.trigger.deps import context
from workflows.services.trigger.outage import PROBE_TTL_MS, RETRY_AFTER_S, storage_refusal

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz", summary="Redis answers and accepts writes, and the Kafka producer is started"
)
async def readyz(request: Request) -> JSONResponse:
    ctx = context(request)
    checks = {"producer": ctx.producer_started, "redis": False, "redisWrites": False}
    reason = None
    if ctx.redis is not None:
        try:
            checks["redis"] = bool(await ctx.redis.ping())
            # a write probe: OOM (maxmemory, noeviction) and MISCONF refuse it, PING does not
            await ctx.redis.set(ctx.keys.readiness_probe, "1", px=PROBE_TTL_MS)
            checks["redisWrites"] = True
            ctx.redis_health.accepted()
        except Exception as exc:  # any Redis problem means not ready; say which
            refusal = storage_refusal(exc)
            if refusal is not None:
                ctx.redis_health.refused(refusal)
                reason = refusal.detail
    ok = all(checks.values())
    body: dict[str, Any] = {"status": "ready" if ok else "not ready", "checks": checks}
    if not ok:
        failing = ", ".join(name for name, good in checks.items() if not good)
        body["error"] = f"not ready: {failing}" + (f" ({reason})" if reason else "")
    headers = None if ok else {"Retry-After": str(RETRY_AFTER_S)}
    return JSONResponse(body, status_code=200 if ok else 503, headers=headers)
