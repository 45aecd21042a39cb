"""`make demo`: the seed workflow end to end on an embedded broker and Redis, then a clean exit.

Starts Tansu and a throwaway redis-server, runs the four services and the example
functions in this process, registers `customerOnboardingWorkflow`, executes it for a
professional/medium and an enterprise customer, prints outputs and the audit trail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Any

from workflows.client import AsyncWorkflows
from workflows.runner import SERVICES, run_services
from workflows.services.core.kpis import format_kpi, kpi_lines
from workflows.services.infra.settings import Settings
from workflows.testing.embedded import (
    TANSU_FETCH_MAX_WAIT_MS,
    free_port,
    redis_server,
    repo_root,
    tansu,
)

WORKFLOW = "customerOnboardingWorkflow"
CUSTOMERS = [
    {
        "customerId": "cust_12345",
        "plan": "professional",
        "industry": "healthcare",
        "companySize": "medium",
    },
    {
        "customerId": "cust_67890",
        "plan": "enterprise",
        "industry": "finance",
        "companySize": "large",
    },
]


def _trail(status: dict[str, Any]) -> list[str]:
    lines = []
    for entry in status.get("auditTrail", []):
        step = entry.get("stepId") or ""
        attempt = f" #{entry['attempt']}" if entry.get("attempt") else ""
        lines.append(f"    {entry['at'][11:23]}  {entry['type']:<20} {step}{attempt}")
    return lines


async def _scenario(base_url: str) -> bool:
    async with AsyncWorkflows(base_url, timeout=60) as wf:
        await wf.wait_ready()
        registered = await wf.register(str(repo_root() / "examples" / "customer_onboarding.yaml"))
        print(f"registered {registered['name']} version {registered['version']}")
        definition = (await wf.get_workflow(WORKFLOW))["definition"]
        units = {m["name"]: m.get("unit") for m in definition.get("metrics") or []}
        ok = True
        for customer in CUSTOMERS:
            execution_id = await wf.start(WORKFLOW, customer)
            await wf.wait(execution_id, timeout=60)
            status = await wf.get_status(
                execution_id, include_metrics=True, include_audit_trail=True
            )
            print(f"\n== {customer['plan']}/{customer['companySize']} -> execution {execution_id}")
            print(f"status: {status['status']}  progress: {status['progress']}")
            print("steps:")
            for step_id, step in status["steps"].items():
                print(f"    {step_id:<22} {step['status']}")
            print("output:", json.dumps(status.get("output"), indent=2))
            metrics = status.get("metrics") or {}
            print("kpis:")
            missing = metrics.get("kpisMissing") or {}
            print("\n".join(kpi_lines(metrics.get("kpis") or {}, missing, units)))
            print("audit trail:")
            print("\n".join(_trail(status)))
            ok = ok and status["status"] == "completed"
        _summary(await wf.workflow_metrics(WORKFLOW), units)
        return ok


def _summary(totals: dict[str, Any], units: dict[str, str | None]) -> None:
    """The workflow's KPIs over both executions, as GET /workflows/{name}/metrics gives them."""
    rate = totals.get("completionRate")
    shown = "-" if rate is None else format_kpi(rate * 100, "percent")
    print(f"\n== {WORKFLOW} over {totals['executions']} executions: completion rate {shown}")
    for name, stats in (totals.get("kpis") or {}).items():
        if not stats.get("count"):
            print(f"    {name:<26} - (no execution has a number for it)")
            continue
        unit = units.get(name) or stats.get("unit")
        print(
            f"    {name:<26} mean {format_kpi(stats['mean'], unit)}, "
            f"p50 {format_kpi(stats['p50'], unit)}, p95 {format_kpi(stats['p95'], unit)}"
        )


async def _main(settings: Settings) -> bool:
    started = asyncio.Event()
    services = asyncio.create_task(run_services(SERVICES, settings, started=started))
    try:
        await asyncio.wait_for(started.wait(), 30)
        return await _scenario(f"http://{settings.http_host}:{settings.http_port}")
    finally:
        import os
        import signal

        os.kill(os.getpid(), signal.SIGTERM)  # the same graceful path as Ctrl-C
        with contextlib.suppress(Exception):
            await asyncio.wait_for(services, 30)


def main() -> None:
    with tansu() as bootstrap, redis_server() as redis_url:
        settings = Settings(
            kafka_bootstrap=bootstrap,
            redis_url=redis_url,
            http_port=free_port(),
            functions_module=["examples.onboarding_functions"],
            partitions=2,
            fetch_max_wait_ms=TANSU_FETCH_MAX_WAIT_MS,
            auth="off",  # a local demo, like `workflows dev`
        )
        ok = asyncio.run(_main(settings))
    print("\ndemo finished:", "both executions completed" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
