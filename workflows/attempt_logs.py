"""What a Python function logs during a step attempt, captured per attempt.

The capture lives in `workflows.services.functions.attempt_logs` (the services run functions); this
module is the SDK's name for it.
"""

from __future__ import annotations

from workflows.services.functions.attempt_logs import (
    MAX_BYTES,
    MAX_LINE_CHARS,
    MAX_LINES,
    Captured,
    capture,
)

__all__ = ["MAX_BYTES", "MAX_LINES", "MAX_LINE_CHARS", "Captured", "capture"]
