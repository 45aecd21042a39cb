"""schemathesis (`st run`) against a running trigger's /openapi.json."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

ST = str(Path(sys.executable).parent / "st")


async def assert_no_server_errors(url: str, max_examples: int, *headers: str) -> None:
    """Run schemathesis' `not_a_server_error` check over every operation of `url`'s API.

    `headers` are `Name: value` strings sent with every request. The run's summary is printed
    (part of the test log) and must show generated, passing cases.
    """
    command = [
        ST,
        "run",
        f"{url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(max_examples),
        "--generation-deterministic",
    ]
    for header in headers:
        command += ["-H", header]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
    summary = done.stdout[-2500:]
    print(summary)
    assert done.returncode == 0, summary
    assert "generated" in summary and " passed" in summary
