"""One Temporal worker process for the benchmark: `python -m bench.temporal_worker ADDRESS QUEUE`.

Hosts the workflows and activities of `bench.temporal_app` on one task queue (the SDK's
default worker settings and workflow sandbox) until SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from bench.temporal_app import BenchChain, BenchFanout, noop


async def serve(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    worker = Worker(
        client, task_queue=task_queue, workflows=[BenchChain, BenchFanout], activities=[noop]
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        print("worker running", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2]))
    sys.stdout.flush()
    # the worker has shut down cleanly; skip interpreter finalisation, where the SDK's native
    # threads can abort the process ("PyGILState_Release ... finalizing")
    os._exit(0)
