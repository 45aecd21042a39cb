"""Which attempts of the chaos workflow fail: pure and deterministic, safe to import anywhere.

`chaos_functions` (loaded by the workers) and `verify` (in the test process) both use it;
keeping it apart means importing it never replaces functions in the default registry.
"""

from __future__ import annotations

import hashlib

__all__ = [
    "FALLBACK",
    "KICKOFF",
    "KICKOFF_REFUSED_RATE",
    "TRANSIENT_RATE",
    "draw",
    "kickoff_refused",
]

TRANSIENT_RATE = 0.2
KICKOFF_REFUSED_RATE = 1 / 3
KICKOFF = "scheduleKickoffCall"
FALLBACK = "sendSchedulingLink"


def draw(key: str, salt: str) -> float:
    """A uniform number in [0, 1) derived from `key` (the same in every process and run)."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def kickoff_refused(customer_id: str) -> bool:
    return draw(customer_id, "kickoff") < KICKOFF_REFUSED_RATE
