"""Python client of the Workflows HTTP API: `Workflows` (sync) and `AsyncWorkflows` (asyncio).

with Workflows("http://127.0.0.1:8000") as wf:
    wf.register("examples/customer_onboarding.yaml")
    output = wf.execute("customerOnboardingWorkflow", {"customerId": "c1", ...})

`calls` builds every request and reads every response (errors map to `ApiError`), `flows`
holds the methods of several requests (execute, wait, a search over pages, wait_ready); `sync`
and `aio` only send them, with httpx.Client and httpx.AsyncClient.
"""

from __future__ import annotations

from workflows.client.aio import AsyncWorkflows
from workflows.client.calls import DEFAULT_URL as DEFAULT_URL
from workflows.client.calls import MAX_SERVER_WAIT_S as MAX_SERVER_WAIT_S
from workflows.client.calls import SEARCH_PAGE as SEARCH_PAGE
from workflows.client.calls import TERMINAL as TERMINAL
from workflows.client.calls import Call as Call
from workflows.client.calls import Definition as Definition
from workflows.client.calls import outcome, register
from workflows.client.sync import Workflows
from workflows.client_errors import ApiError, ExecutionFailed, ExecutionTimeout

# the names the CLI and tests imported from the single module this package replaced
_Call = Call
_outcome = outcome
_register_call = register

__all__ = [
    "ApiError",
    "AsyncWorkflows",
    "ExecutionFailed",
    "ExecutionTimeout",
    "Workflows",
]
